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

Reference (Semi_Human_Pose / MultiAugs / HRNet) checkpoint layouts, named by
:func:`detect_checkpoint_layout` and loaded by :func:`load_pose_checkpoint`:

==================== ======================================================================
layout               keys
==================== ======================================================================
torchvision_resnet   ImageNet ResNet: bare trunk keys + ``fc.*`` (dropped)
hrnet_imagenet       ImageNet HRNet (``hrnet_w32-36af842e.pth``): trunk + ``incre_modules``,
                     ``downsamp_modules``, ``final_layer.{0,1}`` (classifier), ``classifier``
                     and the extra ``stage4.<last>.fuse_layers.{1,2,3}`` (all dropped)
pose_resnet          bare ``PoseResNet`` keys (``deconv_layers``, ``final_layer``)
pose_hrnet           bare ``PoseHighResolutionNet`` keys (``stage2``..., ``final_layer``)
pose_cons            ``resnet.`` + a pose_resnet / pose_hrnet state (``PoseCons``)
pose_dual            ``resnet.`` (net 1) and ``resnet2.`` (net 2) + a pose state; the
                     ResNet head conv is ``final_layer_1`` in this file (mapped to
                     ``final_layer``), the HRNet one ``final_layer``
pose_dual_imagenet   PoseDual initialisation file: ``resnet.`` / ``resnet2.`` + ImageNet
                     backbone keys (e.g. ``resnet2.conv1.weight``), no pose head
==================== ======================================================================

Any of them may be wrapped in ``{"state_dict": ...}`` and/or carry a DataParallel ``module.``
prefix on every key.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence, Union

import torch
from torch import Tensor, nn

from .hrnet import PoseHighResolutionNet
from .io import load_checkpoint_file
from ..errors import CheckpointError, CheckpointMismatchError, InputError

__all__ = [
    "KeyMap",
    "IDENTITY",
    "TORCHVISION_RESNET",
    "KEY_MAPS",
    "get_key_map",
    "LoadReport",
    "read_checkpoint",
    "load_weights",
    "load_imagenet_backbone",
    "POSE_RESNET",
    "POSE_HRNET",
    "POSE_CONS",
    "POSE_DUAL_NET1",
    "POSE_DUAL_NET2",
    "HRNET_IMAGENET",
    "HRNET_HEAD_PATTERNS",
    "POSE_HEAD_PATTERNS",
    "LAYOUTS",
    "POSE_LAYOUT_KEY_MAPS",
    "hrnet_imagenet_key_map",
    "prefixed_key_map",
    "imagenet_key_map_for",
    "head_patterns_for",
    "detect_checkpoint_layout",
    "load_pose_checkpoint",
    "load_dual_imagenet_backbones",
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


def read_checkpoint(path: PathLike, *, trust: bool = False) -> "OrderedDict[str, Tensor]":
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
    return _normalize_state(load_checkpoint_file(where, trust=trust), where)


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


def hrnet_imagenet_key_map(last_stage4_module: int = 2) -> KeyMap:
    """Key map for an ImageNet classification HRNet checkpoint (``hrnet_w32-36af842e.pth``).

    Drops the classification head (``incre_modules``, ``downsamp_modules``,
    ``final_layer.{0,1}.*``, ``classifier``) and the fuse layers that only the classifier's
    multi-scale last module has (``stage4.<last_stage4_module>.fuse_layers.{1,2,3}``; the pose
    network's last module keeps only ``fuse_layers.0``). The reference keeps the same keys
    (``PRETRAINED_LAYERS`` plus ``strict=False``).

    Args:
        last_stage4_module: index of the last ``stage4`` module (2 for the standard 3 modules).
    """
    return KeyMap(
        drop=[
            r"^incre_modules\.",
            r"^downsamp_modules\.",
            r"^final_layer\.",
            r"^classifier\.",
            rf"^stage4\.{int(last_stage4_module)}\.fuse_layers\.[1-9]\d*\.",
        ],
        name="hrnet_imagenet",
    )


#: ImageNet HRNet-W32/W48 checkpoints, standard 3-module stage 4.
HRNET_IMAGENET = hrnet_imagenet_key_map(2)
#: Reference ``pose_resnet`` checkpoints: bare keys, used as they are.
POSE_RESNET = KeyMap(name="pose_resnet")
#: Reference ``pose_hrnet`` checkpoints: bare keys, used as they are.
POSE_HRNET = KeyMap(name="pose_hrnet")
#: Reference ``pose_cons`` checkpoints (``PoseCons``): the one network sits under ``resnet.``.
POSE_CONS = KeyMap(rules=[(r"^resnet\.", "")], name="pose_cons")
#: Network 1 of a reference ``pose_dual`` checkpoint (``PoseCotrain``): ``resnet.*``; the
#: PoseResNet head conv there is ``final_layer_1`` (HRNet keeps ``final_layer``).
POSE_DUAL_NET1 = KeyMap(
    rules=[(r"^resnet\.final_layer_1\.", "final_layer."), (r"^resnet\.", "")],
    drop=[r"^resnet2\."],
    name="pose_dual_net1",
)
#: Network 2 of a reference ``pose_dual`` checkpoint: ``resnet2.*`` (``final_layer_1`` too).
POSE_DUAL_NET2 = KeyMap(
    rules=[(r"^resnet2\.final_layer_1\.", "final_layer."), (r"^resnet2\.", "")],
    drop=[r"^resnet\."],
    name="pose_dual_net2",
)

#: Named key maps (for configs). Add new layouts here with one line.
KEY_MAPS: dict[str, KeyMap] = {
    "identity": IDENTITY,
    "torchvision_resnet": TORCHVISION_RESNET,
    "hrnet_imagenet": HRNET_IMAGENET,
    "pose_resnet": POSE_RESNET,
    "pose_hrnet": POSE_HRNET,
    "pose_cons": POSE_CONS,
    "pose_dual_net1": POSE_DUAL_NET1,
    "pose_dual_net2": POSE_DUAL_NET2,
}


def prefixed_key_map(
    inner: KeyMap, prefix: str, *, extra_drop: Sequence[str] = (), name: str | None = None
) -> KeyMap:
    """``inner`` applied to the keys under ``prefix`` (which is stripped); other keys dropped.

    For example ``prefixed_key_map(TORCHVISION_RESNET, "resnet2.")`` maps
    ``resnet2.layer1.0.conv1.weight`` to ``layer1.0.conv1.weight``, drops ``resnet2.fc.*`` and
    every key outside ``resnet2.``.

    Args:
        inner: key map for the un-prefixed keys. Its rule patterns must be anchored with ``^``.
        prefix: e.g. ``"resnet."``.
        extra_drop: more drop regexes, matched against the key *without* the prefix (anchor
            them with ``^``, or they match anywhere after it).
        name: label of the result (default ``"<inner.name>@<prefix>"``).

    Raises:
        ValueError: an ``inner`` rule pattern is not anchored.
    """
    esc = "^" + re.escape(prefix)

    def under(pattern: str) -> str:
        return esc + pattern[1:] if pattern.startswith("^") else esc + "(?:.*?)" + pattern

    for pattern, _ in inner.rules:
        if not pattern.startswith("^"):
            raise InputError(f"prefixed_key_map needs rules anchored with '^', got {pattern!r}")
    return KeyMap(
        rules=[*((under(p), r) for p, r in inner.rules), (esc, "")],
        drop=[f"^(?!{re.escape(prefix)})", *(under(d) for d in (*inner.drop, *extra_drop))],
        name=name or f"{inner.name}@{prefix}",
    )


def get_key_map(name: str) -> KeyMap:
    """Look up a :data:`KEY_MAPS` entry by name (``ValueError`` listing names if unknown)."""
    try:
        return KEY_MAPS[name]
    except KeyError:
        known = ", ".join(sorted(KEY_MAPS))
        raise InputError(f"unknown key map {name!r}; known: {known}") from None


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
    if isinstance(source, Mapping):
        where = name or "<state_dict>"
        state = _normalize_state(source, where)
    else:
        where = os.fspath(source)
        state = read_checkpoint(where, trust=trust)

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
#: Model keys of the HRNet pose head (the 1x1 ``final_layer``).
HRNET_HEAD_PATTERNS: tuple[str, ...] = (r"^final_layer\.",)


def imagenet_key_map_for(model: nn.Module) -> KeyMap:
    """The ImageNet key map for ``model``'s backbone: :func:`hrnet_imagenet_key_map` for a
    :class:`~semipose.models.hrnet.PoseHighResolutionNet`, :data:`TORCHVISION_RESNET` otherwise."""
    if isinstance(model, PoseHighResolutionNet):
        return hrnet_imagenet_key_map(len(model.stage4) - 1)
    return TORCHVISION_RESNET


def head_patterns_for(model: nn.Module) -> tuple[str, ...]:
    """Regexes of ``model``'s pose-head keys (absent from ImageNet checkpoints)."""
    if isinstance(model, PoseHighResolutionNet):
        return HRNET_HEAD_PATTERNS
    return POSE_HEAD_PATTERNS


def _read_source(source: Source, name: str | None, trust: bool = False) -> tuple["OrderedDict[str, Tensor]", str]:
    """``(state_dict, where)`` for a path (read safely unless ``trust``) or an in-memory
    (possibly wrapped) mapping."""
    if isinstance(source, Mapping):
        where = name or "<state_dict>"
        return _normalize_state(source, where), where
    where = os.fspath(source)
    return read_checkpoint(where, trust=trust), name or where


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
        key_map: override the key map (default :func:`imagenet_key_map_for` ``(model)``).
        head_patterns: override the model keys allowed to be missing (default
            :func:`head_patterns_for` ``(model)``).
        name: label of an in-memory source in the report and errors.
        trust: allow a file that needs arbitrary unpickling (see :func:`read_checkpoint`).

    Raises:
        CheckpointError: (default key map) the file is a two-network ``resnet.`` / ``resnet2.``
            file; use :func:`load_dual_imagenet_backbones` or :func:`load_pose_checkpoint`.
        CheckpointMismatchError: a backbone key is missing/unexpected/wrong-shaped.
    """
    state, where = _read_source(path_or_state, name, trust)
    if key_map is None and any(k.startswith("resnet2.") for k in state):
        raise CheckpointError(
            f"{where} holds two networks (resnet.* and resnet2.* keys); initialise a dual model "
            "with load_dual_imagenet_backbones, or load a trained one with load_pose_checkpoint"
        )
    return load_weights(
        model,
        state,
        name=where,
        key_map=imagenet_key_map_for(model) if key_map is None else key_map,
        strict=True,
        allow_missing=head_patterns_for(model) if head_patterns is None else head_patterns,
    )


# --------------------------------------------------------------------------------------------
# Reference checkpoint layouts
# --------------------------------------------------------------------------------------------

#: Layout name (as returned by :func:`detect_checkpoint_layout`) -> description.
LAYOUTS: dict[str, str] = {
    "torchvision_resnet": "ImageNet ResNet (torchvision): bare trunk keys + fc.*",
    "hrnet_imagenet": "ImageNet HRNet classifier: trunk + incre_modules/downsamp_modules/"
    "final_layer.{0,1}/classifier",
    "pose_resnet": "reference pose_resnet: bare PoseResNet keys",
    "pose_hrnet": "reference pose_hrnet: bare PoseHighResolutionNet keys",
    "pose_cons": "reference pose_cons (PoseCons): one network under resnet.",
    "pose_dual": "reference pose_dual (PoseCotrain): networks under resnet. and resnet2.",
    "pose_dual_imagenet": "PoseDual initialisation file: ImageNet backbones under resnet. and "
    "resnet2.",
}

#: Pose-checkpoint layout -> key map of network 1 (and network 2 for ``pose_dual``).
POSE_LAYOUT_KEY_MAPS: dict[str, tuple[KeyMap, ...]] = {
    "pose_resnet": (POSE_RESNET,),
    "pose_hrnet": (POSE_HRNET,),
    "pose_cons": (POSE_CONS,),
    "pose_dual": (POSE_DUAL_NET1, POSE_DUAL_NET2),
}

_IMAGENET_LAYOUTS = ("torchvision_resnet", "hrnet_imagenet", "pose_dual_imagenet")
_DUAL_PREFIXES = ("resnet.", "resnet2.")


def detect_checkpoint_layout(state: Source, *, trust: bool = False) -> str:
    """Name the layout of a checkpoint from its keys (a key of :data:`LAYOUTS`).

    Args:
        state: a state_dict mapping (wrappers / ``module.`` are handled) or a checkpoint path.

    Returns:
        ``"pose_dual"`` if there are ``resnet2.*`` keys and a net-2 pose head
        (``resnet2.final_layer.weight`` or ``resnet2.final_layer_1.weight``);
        ``"pose_dual_imagenet"`` for ``resnet2.*`` keys without one; ``"pose_cons"`` for
        ``resnet.*`` keys only; for bare keys ``"pose_hrnet"`` / ``"pose_resnet"`` when
        ``final_layer.weight`` is present (HRNet if there are ``stage2.*`` keys), else
        ``"hrnet_imagenet"`` (``stage2.*`` keys) or ``"torchvision_resnet"`` (``layer1.*``).

    Raises:
        CheckpointError: the keys fit none of these (the message shows the first keys).
    """
    sd, where = _read_source(state, None, trust)
    keys = list(sd)

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if has("resnet2."):
        if "resnet2.final_layer.weight" in sd or "resnet2.final_layer_1.weight" in sd:
            return "pose_dual"
        return "pose_dual_imagenet"
    if has("resnet."):
        return "pose_cons"
    if "final_layer.weight" in sd:
        return "pose_hrnet" if has("stage2.") else "pose_resnet"
    if has("stage2."):
        return "hrnet_imagenet"
    if has("layer1."):
        return "torchvision_resnet"
    shown = ", ".join(keys[:8]) or "(no keys)"
    raise CheckpointError(
        f"{where}: cannot tell the checkpoint layout from its keys ({len(keys)} keys: {shown}"
        f"{', ...' if len(keys) > 8 else ''}); known layouts: {', '.join(LAYOUTS)}"
    )


def load_pose_checkpoint(
    models: nn.Module | Sequence[nn.Module],
    source: Source,
    *,
    nets: int | Sequence[int] | None = None,
    layout: str | None = None,
    strict: bool = True,
    allow_missing: Sequence[str] = (),
    name: str | None = None,
    trust: bool = False,
) -> list[LoadReport]:
    """Load trained pose network(s) from a reference (or semipose) pose checkpoint.

    The file is read once; its layout is detected (:func:`detect_checkpoint_layout`) unless
    given, and network ``n`` of it is loaded into each model through
    :data:`POSE_LAYOUT_KEY_MAPS` (``pose_resnet`` / ``pose_hrnet`` bare keys, ``pose_cons``
    ``resnet.*``, ``pose_dual`` ``resnet.*`` = net 1 and ``resnet2.*`` = net 2 with
    ``final_layer_1`` renamed to ``final_layer``). Like the reference ``valid.py``, a single
    model given a ``pose_cons`` / ``pose_dual`` file gets network 1 — but loading is strict.

    Args:
        models: one network, or a list (e.g. ``[net1, net2]`` for a dual model).
        source: checkpoint path or state_dict mapping (``state_dict`` wrapper and ``module.``
            prefix allowed).
        nets: which network of the file each model receives (1 or 2), one per model; default
            ``1, 2, ...`` in order. ``nets=2`` loads net 2 into a single model.
        layout: a :data:`POSE_LAYOUT_KEY_MAPS` name, to skip detection.
        strict: see :func:`load_weights`.
        allow_missing: see :func:`load_weights`.
        name: label of an in-memory source in reports and errors.

    Returns:
        One :class:`LoadReport` per model.

    Raises:
        CheckpointError: an ImageNet file (use :func:`load_imagenet_backbone` /
            :func:`load_dual_imagenet_backbones`), an unknown layout, or network 2 asked of a
            single-network file (checked before anything is loaded).
        CheckpointMismatchError: ``strict`` and a network does not match; networks earlier in
            ``models`` have already been loaded by then.
    """
    model_list = [models] if isinstance(models, nn.Module) else list(models)
    if not model_list:
        raise InputError("load_pose_checkpoint needs at least one model")
    if nets is None:
        net_ids = tuple(range(1, len(model_list) + 1))
    elif isinstance(nets, int):
        net_ids = (nets,)
    else:
        net_ids = tuple(int(n) for n in nets)
    if len(net_ids) != len(model_list):
        raise InputError(
            f"nets={net_ids} gives {len(net_ids)} indices for {len(model_list)} models"
        )

    state, where = _read_source(source, name, trust)
    found = layout or detect_checkpoint_layout(state)
    if found in _IMAGENET_LAYOUTS:
        raise CheckpointError(
            f"{where} is an ImageNet initialisation file ({found!r}: {LAYOUTS[found]}), not a "
            "trained pose checkpoint; use load_imagenet_backbone or load_dual_imagenet_backbones"
        )
    if found not in POSE_LAYOUT_KEY_MAPS:
        raise CheckpointError(
            f"unknown pose checkpoint layout {found!r}; known: {', '.join(POSE_LAYOUT_KEY_MAPS)}"
        )
    maps = POSE_LAYOUT_KEY_MAPS[found]
    for n in net_ids:
        if not 1 <= n <= len(maps):
            have = "network 1 only" if len(maps) == 1 else f"networks 1..{len(maps)}"
            raise CheckpointError(
                f"{where}: asked for network {n}, but this {found!r} checkpoint holds "
                f"{have} ({LAYOUTS[found]})"
            )
    return [
        load_weights(
            model, state, key_map=maps[n - 1], strict=strict, allow_missing=allow_missing,
            name=where,
        )
        for model, n in zip(model_list, net_ids)
    ]


def load_dual_imagenet_backbones(
    models: Sequence[nn.Module], source: Source, *, name: str | None = None, trust: bool = False
) -> list[LoadReport]:
    """Initialise the backbones of the two networks of a dual model (PoseDual) for training.

    * A PoseDual initialisation file (``resnet.*`` and ``resnet2.*`` ImageNet-style backbone
      keys, e.g. ``resnet18_5c_gluon_posedual.pth``, spec §3.3): net 1 gets ``resnet.*`` and
      net 2 ``resnet2.*``, so the two backbones start different.
    * A plain ImageNet file (torchvision ResNet or HRNet): both nets get the same backbone,
      as in the reference.

    Each backbone must match strictly (through :func:`imagenet_key_map_for` of that model);
    the pose heads keep their initialisation: stray head keys under ``resnet.`` / ``resnet2.``
    (``deconv_layers``, ``final_layer``, ``final_layer_1``) are dropped and listed in
    :attr:`LoadReport.dropped`. (A file with complete pose heads is a ``pose_dual``
    checkpoint; load it with :func:`load_pose_checkpoint`.)

    Args:
        models: ``[net1, net2]``.
        source: checkpoint path or state_dict mapping.
        name: label of an in-memory source in reports and errors.

    Returns:
        ``[report_net1, report_net2]``.

    Raises:
        ValueError: not exactly two models.
        CheckpointError: a pose (not ImageNet) checkpoint, or an unreadable file.
        CheckpointMismatchError: a backbone does not match (net 1 may already be loaded when
            net 2 fails).
    """
    model_list = list(models)
    if len(model_list) != 2:
        raise InputError(f"load_dual_imagenet_backbones needs two models, got {len(model_list)}")
    state, where = _read_source(source, name, trust)
    found = detect_checkpoint_layout(state)
    if found not in _IMAGENET_LAYOUTS:
        raise CheckpointError(
            f"{where} is a trained pose checkpoint ({found!r}: {LAYOUTS[found]}), not an "
            "ImageNet initialisation file; use load_pose_checkpoint"
        )
    reports: list[LoadReport] = []
    for model, prefix in zip(model_list, _DUAL_PREFIXES):
        inner = imagenet_key_map_for(model)
        if found == "pose_dual_imagenet":
            key_map = prefixed_key_map(
                inner, prefix,
                extra_drop=(r"^deconv_layers\.", r"^final_layer\.", r"^final_layer_1\."),
            )
        else:
            key_map = inner
        reports.append(
            load_weights(
                model, state, key_map=key_map, strict=True,
                allow_missing=head_patterns_for(model), name=where,
            )
        )
    return reports
