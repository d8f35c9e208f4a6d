"""Checkpoint reading and strict, key-mapped weight loading with a readable report.

Typical use::

    model = build_pose_model("resnet50", num_joints=17)
    report = load_imagenet_backbone(model, "resnet50-0676ba61.pth")  # drops fc.*; head may miss
    report = load_weights(model, "pose_resnet_50_256x192.pth")  # strict: everything must match
    print(report)

Checkpoint keys are translated to model keys by a :class:`KeyMap` (ordered regex rules plus
``drop`` patterns). Adding a map for a new checkpoint layout is one line, e.g.::

    MY_LAYOUT = KeyMap(rules=[(r"^backbone\\.", "")], name="my_layout")
    KEY_MAPS["my_layout"] = MY_LAYOUT

Reference checkpoint layouts are read by :mod:`semipose.models.reference`.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .._typing import PathLike
from ..errors import CheckpointError, CheckpointMismatchError, InputError
from .io import load_checkpoint_file
from .keymaps import IDENTITY, KeyMap

__all__ = ["PathLike", "Source", "LoadReport", "normalize_state", "read_checkpoint", "read_source", "load_weights", "load_imagenet_backbone"]

#: A checkpoint source: a file path or an in-memory ``{key: tensor}`` mapping (possibly wrapped).
Source = PathLike | Mapping[str, object]

#: Model keys that may always be absent from a checkpoint: BatchNorm step counters (absent from
#: older torchvision/PyTorch files; PyTorch itself tolerates them missing).
ALWAYS_ALLOWED_MISSING: tuple[str, ...] = (r"(^|\.)num_batches_tracked$",)

#: How many keys of each kind an error message lists before summarising the rest.
MAX_LISTED = 20

_WRAPPER_KEYS = ("state_dict", "model")
_MODULE_PREFIX = "module."


class NormalState(OrderedDict):
    """A state_dict :func:`normalize_state` made (unwrapped, checked, ``module.`` stripped): read
    as it is by every loader, never normalised twice."""


def normalize_state(obj: object, where: str) -> OrderedDict[str, Tensor]:
    """Unwrap ``{"state_dict": ...}`` / ``{"model": ...}``, check tensors, strip ``module.``
    (a :class:`NormalState` is returned as it is)."""
    if isinstance(obj, NormalState):
        return obj
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping):
        for wrapper in _WRAPPER_KEYS:
            inner = obj.get(wrapper)
            if isinstance(inner, nn.Module):
                inner = inner.state_dict()
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{where}: expected a state_dict mapping, got {type(obj).__name__}")
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        shown = ", ".join(repr(k) for k in bad[:10])
        raise CheckpointError(
            f"{where}: not a state_dict ({len(bad)} entries are not str -> Tensor, e.g. {shown}); "
            f"recognised wrapper keys are {list(_WRAPPER_KEYS)}"
        )
    if obj and all(k.startswith(_MODULE_PREFIX) for k in obj):
        return NormalState((k[len(_MODULE_PREFIX):], v) for k, v in obj.items())
    return NormalState(obj.items())


def read_checkpoint(path: PathLike, *, trust: bool = False) -> OrderedDict[str, Tensor]:
    """Read a checkpoint file into a flat ``{key: tensor}`` state_dict on the CPU.

    Reads through :func:`~semipose.models.io.load_checkpoint_file` (``weights_only=True``; a
    file that needs arbitrary unpickling is refused unless ``trust``). A top-level wrapper
    ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped, and a leading ``module.``
    (DataParallel) is stripped when every key has it.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: the file needs arbitrary unpickling and ``trust`` is false.
        CheckpointError: the file cannot be read or does not hold a state_dict.
    """
    where = os.fspath(path)
    return normalize_state(load_checkpoint_file(where, trust=trust), where)


@dataclass
class LoadReport:
    """What :func:`load_weights` did (or would do, when it raised).

    Attributes:
        source: the checkpoint path, or ``"<state_dict>"`` for an in-memory mapping.
        key_map: name of the :class:`KeyMap` used.
        loaded: model keys copied from the checkpoint.
        missing: model keys absent from the checkpoint and not covered by ``allow_missing``.
        allowed_missing: model keys absent from the checkpoint but allowed to be.
        unexpected: mapped checkpoint keys that the model does not have.
        mismatched: ``(model key, checkpoint shape, model shape)`` for shape disagreements.
        dropped: checkpoint keys discarded by the key map.
        origin: ``{model key: checkpoint key}`` for every mapped key.
    """

    source: str
    key_map: str = "identity"
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    allowed_missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """No missing, unexpected or mismatched keys."""
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        total = len(self.loaded) + len(self.missing) + len(self.allowed_missing) + len(
            self.mismatched
        )
        parts = [
            f"loaded {len(self.loaded)}/{total} model tensors from {self.source} "
            f"(key map {self.key_map!r})",
            f"missing {len(self.missing)}",
            f"unexpected {len(self.unexpected)}",
            f"shape-mismatched {len(self.mismatched)}",
            f"dropped {len(self.dropped)}",
            f"allowed-missing {len(self.allowed_missing)}",
        ]
        return ", ".join(parts)

    def describe(self, limit: int = MAX_LISTED, summary: bool = True) -> str:
        """Multi-line listing of every problem (first ``limit`` keys of each kind), preceded by
        the one-line ``str(self)`` when ``summary``."""
        lines = [str(self)] if summary else []

        def section(title: str, items: list[str]) -> None:
            if not items:
                return
            lines.append(f"  {len(items)} {title}:")
            lines.extend(f"    {it}" for it in items[:limit])
            if len(items) > limit:
                lines.append(f"    ... and {len(items) - limit} more")

        section("missing keys (in the model, not in the checkpoint)", self.missing)
        section(
            "unexpected keys (in the checkpoint, not in the model)",
            [self._with_origin(k) for k in self.unexpected],
        )
        section(
            "shape mismatches (checkpoint vs model)",
            [
                f"{self._with_origin(k)}: checkpoint {tuple(cs)} vs model {tuple(ms)}"
                for k, cs, ms in self.mismatched
            ],
        )
        return "\n".join(lines)

    def _with_origin(self, key: str) -> str:
        src = self.origin.get(key, key)
        return key if src == key else f"{key} (checkpoint key {src})"


def _compile_all(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    return [re.compile(p) for p in patterns]


def load_weights(
    model: nn.Module,
    source: Source,
    *,
    key_map: KeyMap = IDENTITY,
    strict: bool = True,
    allow_missing: Sequence[str] = (),
    name: str | None = None,
    trust: bool = False,
) -> LoadReport:
    """Load a checkpoint into ``model`` through ``key_map``, strictly by default.

    Args:
        model: the module to fill (its tensors are copied into in place).
        source: a checkpoint path (read with :func:`read_checkpoint`) or a state_dict mapping
            (wrappers and ``module.`` prefixes are handled the same way).
        key_map: translation from checkpoint keys to model keys.
        strict: raise on any missing, unexpected or shape-mismatched key (nothing is loaded).
            With ``strict=False`` the matching tensors are loaded and the rest reported.
        allow_missing: regexes (``re.search``) of model keys that may be absent from the
            checkpoint; ``num_batches_tracked`` buffers are always allowed.
        name: how an in-memory ``source`` is named in the report and errors (e.g. the file it
            was read from); default ``"<state_dict>"``.

    Returns:
        The :class:`LoadReport`.

    Raises:
        FileNotFoundError, CheckpointError: the file cannot be read.
        CheckpointMismatchError: ``strict`` and the keys/shapes do not match; the message names
            the source and lists the offending keys.
    """
    state, where = read_source(source, name, trust)

    mapped, dropped, origin = key_map.apply(state)
    allowed = _compile_all([*ALWAYS_ALLOWED_MISSING, *allow_missing])
    model_state = model.state_dict()

    report = LoadReport(source=where, key_map=key_map.name, dropped=dropped, origin=origin)
    for key, target in model_state.items():
        if key not in mapped:
            if any(p.search(key) for p in allowed):
                report.allowed_missing.append(key)
            else:
                report.missing.append(key)
            continue
        got = tuple(mapped[key].shape)
        want = tuple(target.shape)
        if got != want:
            report.mismatched.append((key, got, want))
        else:
            report.loaded.append(key)
    report.unexpected = [k for k in mapped if k not in model_state]

    if strict and not report.ok:
        total = len(model_state) - len(report.allowed_missing)
        raise CheckpointMismatchError(
            f"checkpoint {where} does not match {type(model).__name__} "
            f"(key map {key_map.name!r}; {len(report.loaded)}/{total} required model tensors "
            "match; nothing was loaded):\n"
            + report.describe(summary=False)
            + "\nThe file holds another network (architecture, width or keypoint count) than the one configured: "
            "check model.arch and the keypoint set (or --arch / --keypoints for a reference checkpoint; "
            "from Python, strict=False loads the matching tensors).",
            report,
        )
    with torch.no_grad():
        model.load_state_dict(OrderedDict((k, mapped[k]) for k in report.loaded), strict=False)
    return report


def read_source(source: Source, name: str | None, trust: bool = False) -> tuple[OrderedDict[str, Tensor], str]:
    """``(state_dict, where)`` for a path (read safely unless ``trust``) or an in-memory
    (possibly wrapped) mapping."""
    if isinstance(source, Mapping):
        where = name or "<state_dict>"
        return normalize_state(source, where), where
    where = os.fspath(source)
    return read_checkpoint(where, trust=trust), name or where


def _imagenet_key_map(model: nn.Module) -> KeyMap:
    """The architecture's own ImageNet key map (``model.imagenet_key_map()``)."""
    fn = getattr(model, "imagenet_key_map", None)
    if fn is None:
        raise InputError(f"{type(model).__name__} names no ImageNet key map (imagenet_key_map()); pass key_map=")
    return fn()


def load_imagenet_backbone(
    model: nn.Module,
    path_or_state: Source,
    *,
    key_map: KeyMap | None = None,
    head_patterns: Sequence[str] | None = None,
    name: str | None = None,
    trust: bool = False,
) -> LoadReport:
    """Initialise the backbone of a pose network (or bare trunk) from ImageNet weights.

    * ``PoseResNet`` / ``ResNet``: torchvision layout; ``fc.*`` is dropped, the head
      (``deconv_layers.*``, ``final_layer.*``) may be missing.
    * ``PoseHighResolutionNet``: ImageNet HRNet layout (``hrnet_w32-36af842e.pth``); the
      classification head and the classifier-only ``stage4`` fuse layers are dropped
      (:func:`hrnet_imagenet_key_map`), the pose ``final_layer`` keeps its random init.

    Every backbone key must match exactly (strict).

    Args:
        model: the network to initialise.
        path_or_state: checkpoint path or state_dict mapping.
        key_map: override the key map (default: the architecture's own, ``model.imagenet_key_map()``).
        head_patterns: override the model keys allowed to be missing (default: the
            architecture's ``model.head_patterns``).
        name: label of an in-memory source in the report and errors.
        trust: allow a file that needs arbitrary unpickling (see :func:`read_checkpoint`).

    Raises:
        CheckpointError: (default key map) the file is a two-network ``resnet.`` / ``resnet2.``
            file; use :func:`load_dual_imagenet_backbones` or :func:`load_pose_checkpoint`.
        CheckpointMismatchError: a backbone key is missing/unexpected/wrong-shaped.
    """
    state, where = read_source(path_or_state, name, trust)
    if key_map is None and any(k.startswith("resnet2.") for k in state):
        raise CheckpointError(
            f"{where} holds two networks (resnet.* and resnet2.* keys); initialise a dual model "
            "with load_dual_imagenet_backbones, or load a trained one with load_pose_checkpoint"
        )
    return load_weights(
        model,
        state,
        name=where,
        key_map=_imagenet_key_map(model) if key_map is None else key_map,
        strict=True,
        allow_missing=tuple(getattr(model, "head_patterns", ())) if head_patterns is None else head_patterns,
    )
