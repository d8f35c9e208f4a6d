"""Checkpoint reading and strict, key-mapped weight loading with a readable report.

Typical use::

    model = build_pose_model("resnet50", num_joints=17)
    report = load_imagenet_backbone(model, "resnet50-0676ba61.pth")  # drops fc.*; head may miss
    report = load_weights(model, "pose_resnet_50_256x192.pth")  # strict: everything must match
    print(report)

Checkpoint keys are translated to model keys by a :class:`KeyMap` (ordered regex rules plus
``drop`` patterns). Adding a map for a new checkpoint layout is one line, e.g.::

    POSE_CONS = KeyMap(rules=[(r"^resnet\\.", "")], name="pose_cons")
    KEY_MAPS["pose_cons"] = POSE_CONS
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence, Union

import torch
from torch import Tensor, nn

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "KeyMap",
    "IDENTITY",
    "TORCHVISION_RESNET",
    "KEY_MAPS",
    "get_key_map",
    "LoadReport",
    "read_checkpoint",
    "load_weights",
    "load_imagenet_backbone",
]

PathLike = Union[str, "os.PathLike[str]"]
#: A checkpoint source: a file path or an in-memory ``{key: tensor}`` mapping (possibly wrapped).
Source = Union[PathLike, Mapping[str, object]]

#: Model keys that may always be absent from a checkpoint: BatchNorm step counters (absent from
#: older torchvision/PyTorch files; PyTorch itself tolerates them missing).
ALWAYS_ALLOWED_MISSING: tuple[str, ...] = (r"(^|\.)num_batches_tracked$",)

#: How many keys of each kind an error message lists before summarising the rest.
MAX_LISTED = 20

_WRAPPER_KEYS = ("state_dict", "model")
_MODULE_PREFIX = "module."


class CheckpointError(RuntimeError):
    """A checkpoint file could not be read or is not a state_dict."""


class CheckpointMismatchError(CheckpointError):
    """Strict loading found missing / unexpected / wrong-shape keys.

    Attributes:
        report: the :class:`LoadReport` describing every problem (nothing was loaded).
    """

    def __init__(self, message: str, report: "LoadReport") -> None:
        super().__init__(message)
        self.report = report


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _normalize_state(obj: object, where: str) -> "OrderedDict[str, Tensor]":
    """Unwrap ``{"state_dict": ...}`` / ``{"model": ...}``, check tensors, strip ``module.``."""
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
    state: OrderedDict[str, Tensor] = OrderedDict(obj.items())  # type: ignore[arg-type]
    if state and all(k.startswith(_MODULE_PREFIX) for k in state):
        state = OrderedDict((k[len(_MODULE_PREFIX):], v) for k, v in state.items())
    return state


def read_checkpoint(path: PathLike) -> "OrderedDict[str, Tensor]":
    """Read a checkpoint file into a flat ``{key: tensor}`` state_dict on the CPU.

    Loads with ``weights_only=True``; only if that is refused by the safe unpickler does it
    retry with ``weights_only=False`` (with a warning: that can run code from the file). A
    top-level wrapper ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped, and a leading
    ``module.`` (DataParallel) is stripped when every key has it.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file cannot be read or does not hold a state_dict.
    """
    where = os.fspath(path)
    if not os.path.isfile(where):
        raise FileNotFoundError(f"checkpoint file not found: {where}")
    try:
        obj = torch.load(where, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        warnings.warn(
            f"{where}: weights_only=True load refused ({str(exc).splitlines()[0]}); retrying with "
            "weights_only=False, which can execute code from the file - use trusted files only",
            stacklevel=2,
        )
        try:
            obj = torch.load(where, map_location="cpu", weights_only=False)
        except Exception as exc2:  # noqa: BLE001 - report any failure with the path
            raise CheckpointError(f"cannot read checkpoint {where}: {exc2!r}") from exc2
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"cannot read checkpoint {where}: {exc!r}") from exc
    return _normalize_state(obj, where)


# --------------------------------------------------------------------------------------------
# Key maps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyMap:
    """Translate checkpoint keys to model keys.

    A checkpoint key matching any ``drop`` pattern (``re.search``) is discarded. Otherwise the
    first rule whose pattern matches is applied with ``re.sub(pattern, replacement, key,
    count=1)``; keys matching no rule pass through unchanged.

    Args:
        rules: ordered ``(regex, replacement)`` pairs (``replacement`` may use ``\\1`` groups).
        drop: regexes of checkpoint keys to discard.
        name: label used in reports and error messages.
    """

    rules: Sequence[tuple[str, str]] = ()
    drop: Sequence[str] = ()
    name: str = "custom"
    _compiled: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rules = tuple((str(p), str(r)) for p, r in self.rules)
        drop = tuple(str(p) for p in self.drop)
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "drop", drop)
        object.__setattr__(
            self,
            "_compiled",
            (tuple(re.compile(p) for p in drop), tuple((re.compile(p), r) for p, r in rules)),
        )

    def map_key(self, key: str) -> str | None:
        """The model key for checkpoint ``key``, or ``None`` if it is dropped."""
        drop, rules = self._compiled
        if any(d.search(key) for d in drop):
            return None
        for pattern, repl in rules:
            if pattern.search(key):
                return pattern.sub(repl, key, count=1)
        return key

    def apply(
        self, state: Mapping[str, Tensor]
    ) -> tuple["OrderedDict[str, Tensor]", list[str], dict[str, str]]:
        """Map a checkpoint state_dict.

        Returns:
            ``(mapped, dropped, origin)``: the model-keyed state_dict, the dropped checkpoint
            keys, and ``{model key: checkpoint key}``.

        Raises:
            CheckpointError: two checkpoint keys map to the same model key.
        """
        mapped: OrderedDict[str, Tensor] = OrderedDict()
        origin: dict[str, str] = {}
        dropped: list[str] = []
        for key, value in state.items():
            new = self.map_key(key)
            if new is None:
                dropped.append(key)
                continue
            if new in mapped:
                raise CheckpointError(
                    f"key map {self.name!r} maps both {origin[new]!r} and {key!r} to {new!r}"
                )
            mapped[new] = value
            origin[new] = key
        return mapped, dropped, origin


#: Keys used as they are.
IDENTITY = KeyMap(name="identity")
#: torchvision ImageNet ResNet checkpoints: same keys, minus the classifier.
TORCHVISION_RESNET = KeyMap(drop=[r"^fc\."], name="torchvision_resnet")

#: Named key maps (for configs). Add new layouts here with one line.
KEY_MAPS: dict[str, KeyMap] = {
    "identity": IDENTITY,
    "torchvision_resnet": TORCHVISION_RESNET,
}


def get_key_map(name: str) -> KeyMap:
    """Look up a :data:`KEY_MAPS` entry by name (``ValueError`` listing names if unknown)."""
    try:
        return KEY_MAPS[name]
    except KeyError:
        known = ", ".join(sorted(KEY_MAPS))
        raise ValueError(f"unknown key map {name!r}; known: {known}") from None


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


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
    if isinstance(source, Mapping):
        where = name or "<state_dict>"
        state = _normalize_state(source, where)
    else:
        where = os.fspath(source)
        state = read_checkpoint(where)

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
            + "\nPass strict=False to load the matching keys anyway, or adjust key_map / "
            "allow_missing.",
            report,
        )
    with torch.no_grad():
        model.load_state_dict(OrderedDict((k, mapped[k]) for k in report.loaded), strict=False)
    return report


#: Model keys of the SimpleBaseline head (not in ImageNet checkpoints).
POSE_HEAD_PATTERNS: tuple[str, ...] = (r"^deconv_layers\.", r"^final_layer\.")


def load_imagenet_backbone(
    model: nn.Module,
    path_or_state: Source,
    *,
    key_map: KeyMap = TORCHVISION_RESNET,
    head_patterns: Sequence[str] = POSE_HEAD_PATTERNS,
) -> LoadReport:
    """Initialise the backbone of a ``PoseResNet`` (or bare ``ResNet``) from ImageNet weights.

    The file is in torchvision layout; ``fc.*`` is dropped, every backbone key must match
    exactly (strict), and the head keys (``deconv_layers.*``, ``final_layer.*``) may be missing.

    Raises:
        CheckpointMismatchError: a backbone key is missing/unexpected/wrong-shaped.
    """
    return load_weights(
        model, path_or_state, key_map=key_map, strict=True, allow_missing=head_patterns
    )
