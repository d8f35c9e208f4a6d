"""Reference checkpoints (Semi_Human_Pose / MultiAugs / HRNet): their layouts, detected from
the keys by :func:`detect_checkpoint_layout`, and loaded by :func:`load_pose_checkpoint`:

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
pose_triple          SSPCM (``MyPoseTriple``): ``resnet.``, ``resnet2.`` (the interactive
                     networks) and ``final_resnet.`` (the auxiliary one), each ResNet head
                     conv ``final_layer_1`` as in ``pose_dual``
==================== ======================================================================

Any of them may be wrapped in ``{"state_dict": ...}`` and/or carry a DataParallel ``module.``
prefix on every key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from ..errors import CheckpointError, InputError
from .hrnet import HRNET_IMAGENET
from .keymaps import IDENTITY, KeyMap, prefixed_key_map
from .loading import LoadReport, Source, load_weights, read_source
from .resnet import TORCHVISION_RESNET

__all__ = [
    "POSE_RESNET",
    "POSE_HRNET",
    "POSE_CONS",
    "POSE_DUAL_NET1",
    "POSE_DUAL_NET2",
    "POSE_TRIPLE_NETS",
    "WRAPPED_LAYOUTS",
    "KEY_MAPS",
    "get_key_map",
    "LAYOUTS",
    "POSE_LAYOUT_KEY_MAPS",
    "detect_checkpoint_layout",
    "reference_states",
    "load_pose_checkpoint",
    "load_dual_imagenet_backbones",
]


#: Reference ``pose_resnet`` checkpoints: bare keys, used as they are.
POSE_RESNET = KeyMap(name="pose_resnet")
#: Reference ``pose_hrnet`` checkpoints: bare keys, used as they are.
POSE_HRNET = KeyMap(name="pose_hrnet")
#: Reference ``pose_cons`` checkpoints (``PoseCons``): the one network sits under ``resnet.``.
POSE_CONS = KeyMap(rules=[(r"^resnet\.", "")], name="pose_cons")


def _wrapped_net(prefix: str, prefixes: Sequence[str], name: str) -> KeyMap:
    """One network of a multi-network reference checkpoint: the keys under ``prefix`` (the
    PoseResNet head conv ``final_layer_1`` → ``final_layer``; HRNet keeps ``final_layer``),
    the other networks' keys (the other ``prefixes``) dropped."""
    p = re.escape(prefix)
    others = [f"^{re.escape(q)}" for q in prefixes if q != prefix]
    return KeyMap(rules=[(rf"^{p}final_layer_1\.", "final_layer."), (rf"^{p}", "")], drop=others, name=name)


_DUAL_PREFIXES = ("resnet.", "resnet2.")
_TRIPLE_PREFIXES = ("resnet.", "resnet2.", "final_resnet.")
#: Network 1 of a reference ``pose_dual`` checkpoint (``PoseCotrain``): ``resnet.*``.
POSE_DUAL_NET1 = _wrapped_net("resnet.", _DUAL_PREFIXES, "pose_dual_net1")
#: Network 2 of a reference ``pose_dual`` checkpoint: ``resnet2.*``.
POSE_DUAL_NET2 = _wrapped_net("resnet2.", _DUAL_PREFIXES, "pose_dual_net2")
#: The three networks of a reference SSPCM checkpoint, in its order (net 1, net 2, auxiliary).
POSE_TRIPLE_NETS: tuple[KeyMap, ...] = tuple(_wrapped_net(p, _TRIPLE_PREFIXES, f"pose_triple_{p.rstrip('.')}") for p in _TRIPLE_PREFIXES)

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
    **{m.name: m for m in POSE_TRIPLE_NETS},
}


def get_key_map(name: str) -> KeyMap:
    """Look up a :data:`KEY_MAPS` entry by name (``ValueError`` listing names if unknown)."""
    try:
        return KEY_MAPS[name]
    except KeyError:
        known = ", ".join(sorted(KEY_MAPS))
        raise InputError(f"unknown key map {name!r}; known: {known}") from None


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
    "pose_triple": "reference SSPCM (MyPoseTriple): networks under resnet., resnet2. and final_resnet.",
}

#: Pose-checkpoint layout -> key map of network 1 (and network 2 for ``pose_dual``).
POSE_LAYOUT_KEY_MAPS: dict[str, tuple[KeyMap, ...]] = {
    "pose_resnet": (POSE_RESNET,),
    "pose_hrnet": (POSE_HRNET,),
    "pose_cons": (POSE_CONS,),
    "pose_dual": (POSE_DUAL_NET1, POSE_DUAL_NET2),
    "pose_triple": POSE_TRIPLE_NETS,
}

#: The layouts of ImageNet backbone files (initialisations for ``model.pretrained``, not pose networks).
IMAGENET_LAYOUTS: tuple[str, ...] = ("torchvision_resnet", "hrnet_imagenet", "pose_dual_imagenet")
#: The layouts whose networks sit under ``resnet.`` / ``resnet2.`` / ``final_resnet.`` prefixes.
WRAPPED_LAYOUTS: tuple[str, ...] = ("pose_cons", "pose_dual", "pose_triple")


def detect_checkpoint_layout(state: Source, *, trust: bool = False, name: str | None = None) -> str:
    """Name the layout of a checkpoint from its keys (a key of :data:`LAYOUTS`).

    Args:
        state: a state_dict mapping (wrappers / ``module.`` are handled) or a checkpoint path.
        name: the file an in-memory state came from, for messages.

    Returns:
        ``"pose_triple"`` if there are ``final_resnet.*`` and ``resnet2.*`` keys (SSPCM);
        ``"pose_dual"`` if there are ``resnet2.*`` keys and a net-2 pose head
        (``resnet2.final_layer.weight`` or ``resnet2.final_layer_1.weight``);
        ``"pose_dual_imagenet"`` for ``resnet2.*`` keys without one; ``"pose_cons"`` for
        ``resnet.*`` keys only; for bare keys ``"pose_hrnet"`` / ``"pose_resnet"`` when
        ``final_layer.weight`` is present (HRNet if there are ``stage2.*`` keys), else
        ``"hrnet_imagenet"`` (``stage2.*`` keys) or ``"torchvision_resnet"`` (``layer1.*``).

    Raises:
        CheckpointError: the keys fit none of these (the message shows the first keys).
    """
    sd, where = read_source(state, name, trust)
    return layout_of_keys(sd, where)


def layout_of_keys(sd: Mapping[str, Any], where: str) -> str:
    """:func:`detect_checkpoint_layout` of a state_dict already read and normalised (no second pass over it).

    Raises:
        CheckpointError: the keys fit no known layout (the message shows the first keys).
    """
    keys = list(sd)

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if has("final_resnet.") and has("resnet2."):
        return "pose_triple"
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


def reference_states(state: Mapping[str, Any], where: str) -> tuple[str | None, list[dict[str, Any]], str]:
    """A reference checkpoint's networks in semipose keys — the one route from a reference file
    to per-network weights (model files, ``model.init_weights``, ``semipose eval`` / ``predict``).

    Args:
        state: the file's state_dict (wrappers and ``module.`` already removed).
        where: the file, for messages.

    Returns:
        ``(layout, states, problem)``: the layout detected once, and network 1, 2 … of the file
        through the layout's key maps; ``(layout, [], "")`` for an ImageNet initialisation file
        (the caller says what to do with it); ``(None, [state], why)`` for keys of no known
        layout, returned as they are so that strict loading lists the mismatches, with the
        detection's message.
    """
    try:
        layout = layout_of_keys(state, where)
    except CheckpointError as e:
        return None, [dict(state)], str(e)
    if layout not in POSE_LAYOUT_KEY_MAPS:
        return layout, [], ""
    return layout, [dict(km.apply(state)[0]) for km in POSE_LAYOUT_KEY_MAPS[layout]], ""


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

    state, where = read_source(source, name, trust)
    found = layout or layout_of_keys(state, where)
    if found in IMAGENET_LAYOUTS:
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
    models: Sequence[nn.Module], source: Source, *, name: str | None = None, trust: bool = False, layout: str | None = None
) -> list[LoadReport]:
    """Initialise the backbones of the two networks of a dual model (PoseDual) for training.

    * A PoseDual initialisation file (``resnet.*`` and ``resnet2.*`` ImageNet-style backbone
      keys, e.g. ``resnet18_5c_gluon_posedual.pth``): net 1 gets ``resnet.*`` and
      net 2 ``resnet2.*``, so the two backbones start different.
    * A plain ImageNet file (torchvision ResNet or HRNet): both nets get the same backbone,
      as in the reference.

    Each backbone must match strictly (through that model's own ``imagenet_key_map()``);
    the pose heads keep their initialisation: stray head keys under ``resnet.`` / ``resnet2.``
    (``deconv_layers``, ``final_layer``, ``final_layer_1``) are dropped and listed in
    :attr:`LoadReport.dropped`. (A file with complete pose heads is a ``pose_dual``
    checkpoint; load it with :func:`load_pose_checkpoint`.)

    Args:
        models: ``[net1, net2]``.
        source: checkpoint path or state_dict mapping.
        name: label of an in-memory source in reports and errors.
        layout: the file's layout when already detected (:func:`~semipose.models.reader.read_weights`).

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
    state, where = read_source(source, name, trust)
    found = layout or layout_of_keys(state, where)
    if found not in IMAGENET_LAYOUTS:
        raise CheckpointError(
            f"{where} is a trained pose checkpoint ({found!r}: {LAYOUTS[found]}), not an "
            "ImageNet initialisation file; use load_pose_checkpoint"
        )
    reports: list[LoadReport] = []
    for model, prefix in zip(model_list, _DUAL_PREFIXES):
        inner = model.imagenet_key_map()  # type: ignore[operator]
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
                allow_missing=tuple(getattr(model, "head_patterns", ())), name=where,
            )
        )
    return reports
