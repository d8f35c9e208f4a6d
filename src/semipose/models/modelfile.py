"""Self-describing model files: the weights of every network plus a model card.

A semipose model file is a ``torch.save`` of plain containers and tensors, readable with
``torch.load(weights_only=True)``::

    {"format": "semipose-model", "format_version": 1,
     "card": {...},                  # ModelCard.to_dict(): how to build, feed and decode it
     "nets": [state_dict, ...],      # one per network (two for PoseDual)
     "train_state": {...}}           # only in a run's last.pt: optimizer, scheduler, RNG ...

:func:`read_model_file` turns any checkpoint semipose can run into the same
:class:`ModelFile` — a semipose model file, a training state of an earlier semipose release,
or a reference checkpoint (``pose_resnet``, ``pose_hrnet``, ``pose_cons``, ``pose_dual``) for
which the architecture, head and keypoint set are inferred from the tensors (and can be
given as flags: ``arch``, ``keypoints``, ``color``, ``input_size``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import CheckpointError, InputError
from ..geometry import DEFAULT_INPUT_SIZE
from ..params import DECODERS, ENSEMBLE, net_key
from ..skeletons import BUILTIN_SKELETONS, Skeleton, get_skeleton
from .card import COLORS, LEGACY_FORMAT, MODEL_FORMAT, MODEL_FORMAT_VERSION, ModelCard
from .hrnet import HRNET_WIDTHS
from .posenet import POSE_MODELS
from .reader import ModelFile, WeightsFile, read_weights
from .resnet import RESNET_SPECS, Bottleneck

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "LEGACY_FORMAT",
    "DECODERS",
    "ModelCard",
    "ModelFile",
    "model_file_payload",
    "read_model",
    "read_model_file",
    "model_file",
    "POSE_KINDS",
    "WeightsFile",
    "infer_architecture",
    "keypoints_hint",
    "save_model_file",
]

def model_file_payload(
    card: ModelCard, nets: Sequence[nn.Module | Mapping[str, Tensor]], train_state: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The dict :func:`torch.save` writes for a model file (``train_state`` for a ``last.pt``)."""
    states = [n.state_dict() if isinstance(n, nn.Module) else dict(n) for n in nets]
    if len(states) != card.num_nets:
        raise InputError(f"the card describes {card.num_nets} network(s), {len(states)} given")
    out: dict[str, Any] = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "card": card.to_dict(), "nets": states}
    if train_state is not None:
        out["train_state"] = dict(train_state)
    return out


# --------------------------------------------------------------------------------------------
# Reference files: architecture and keypoint set from the tensors
# --------------------------------------------------------------------------------------------

#: the built-in set a reference checkpoint of so many channels is read with: the first of that
#: size (coco17 before posetrack17, aic14 before crowdpose14: the reference trains on those)
_BY_CHANNELS: dict[int, str] = {}
for _name, _sk in BUILTIN_SKELETONS.items():
    _BY_CHANNELS.setdefault(_sk.num_keypoints, _name)


def keypoints_hint(channels: int) -> str:
    """What to pass as ``--keypoints`` for a head with ``channels`` outputs."""
    if channels in _BY_CHANNELS:
        return f"try --keypoints {_BY_CHANNELS[channels]}"
    return "give --keypoints a skeleton.json or a COCO-format annotation file of that keypoint set"


def infer_architecture(state: Mapping[str, Tensor], where: str = "checkpoint") -> tuple[str, dict[str, Any], int]:
    """``(arch, arch_args, output_channels)`` of a bare pose-network state_dict.

    ResNet depth from the block type and count of ``layer1..4``; the SimpleBaseline head from
    the ``deconv_layers.*`` shapes; HRNet width from ``stage2``'s first branch; the output
    channels from ``final_layer.weight``.

    Raises:
        CheckpointError: the tensors fit no known architecture.
    """
    fl = state.get("final_layer.weight")
    if fl is None or fl.ndim != 4:
        raise CheckpointError(f"{where}: no pose head (final_layer.weight); is it an ImageNet backbone file?")
    channels, final_kernel = int(fl.shape[0]), int(fl.shape[-1])
    if any(k.startswith("stage2.") for k in state):
        w = state.get("stage2.0.branches.0.0.conv1.weight")
        width = int(w.shape[0]) if w is not None else -1
        if width not in HRNET_WIDTHS:
            raise CheckpointError(f"{where}: HRNet with branch width {width}; known widths {sorted(HRNET_WIDTHS)}")
        return f"hrnet_w{width}", {"final_kernel": final_kernel}, channels
    counts = []
    for layer in range(1, 5):
        idx = {int(m.group(1)) for k in state if (m := re.match(rf"layer{layer}\.(\d+)\.", k))}
        counts.append(max(idx) + 1 if idx else 0)
    bottleneck = "layer1.0.conv3.weight" in state
    depth = next((d for d, (blk, n) in RESNET_SPECS.items() if tuple(n) == tuple(counts) and (blk is Bottleneck) == bottleneck), None)
    if depth is None:
        raise CheckpointError(f"{where}: ResNet with blocks {counts} ({'bottleneck' if bottleneck else 'basic'}) fits no known depth")
    deconv = sorted({int(m.group(1)) for k in state if (m := re.match(r"deconv_layers\.(\d+)\.weight$", k)) and state[k].ndim == 4})
    filters = [int(state[f"deconv_layers.{i}.weight"].shape[1]) for i in deconv]
    kernels = [int(state[f"deconv_layers.{i}.weight"].shape[-1]) for i in deconv]
    args = {"num_deconv_layers": len(deconv), "deconv_filters": filters, "deconv_kernels": kernels, "final_kernel": final_kernel}
    if any(f"deconv_layers.{i}.bias" in state for i in deconv):
        args["deconv_bias"] = True
    return f"resnet{depth}", args, channels


def _keypoint_skeleton(spec: str | Skeleton | Mapping[str, Any] | None, channels: int, where: str) -> Skeleton:
    """The keypoint set for a head with ``channels`` outputs (``spec``: a built-in name, a
    mapping or a Skeleton; None = the built-in set of that size)."""
    if spec is None:
        if channels not in _BY_CHANNELS:
            raise CheckpointError(
                f"{where}: the file has {channels} output channels and no built-in keypoint set has as many; {keypoints_hint(channels)}"
            )
        return BUILTIN_SKELETONS[_BY_CHANNELS[channels]]
    try:
        sk = get_skeleton(spec)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"--keypoints: {e}") from None
    if sk.num_keypoints != channels:
        raise CheckpointError(
            f"{where}: the file has {channels} output channels but --keypoints {sk.name} has {sk.num_keypoints}: {keypoints_hint(channels)}"
        )
    return sk


def _check_flags(card: ModelCard, where: str, arch: str | None, keypoints: Any, color: str | None, input_size: Sequence[int] | None) -> None:
    """A semipose model file describes itself: flags may repeat it, not contradict it."""
    clash = []
    if arch is not None and arch != card.arch:
        clash.append(f"--arch {arch} (the file is {card.arch})")
    if color is not None and color != card.color:
        clash.append(f"--color {color} (the file is {card.color})")
    if input_size is not None and tuple(input_size) != tuple(card.input_size):
        clash.append(f"--input-size {input_size[0]}x{input_size[1]} (the file is {card.input_size[0]}x{card.input_size[1]})")
    if keypoints is not None:
        try:
            want = get_skeleton(keypoints).keypoints
        except (ValueError, TypeError):
            want = None
        if want is not None and tuple(want) != tuple(card.skeleton["keypoints"]):
            clash.append(f"--keypoints {keypoints} (the file has {card.num_keypoints} keypoints, set {card.skeleton.get('name')})")
    if clash:
        raise CheckpointError(f"{where}: a semipose model file carries its own description; these flags contradict it: {'; '.join(clash)}")


#: the kinds of file that hold a runnable pose model with weights (what eval, export and model.init_weights take)
POSE_KINDS: tuple[str, ...] = ("model", "legacy", "reference")


def read_model(
    source: str | os.PathLike[str] | ModelFile,
    *,
    trust: bool = False,
    arch: str | None = None,
    keypoints: str | Skeleton | Mapping[str, Any] | None = None,
    color: str | None = None,
    input_size: Sequence[int] | None = None,
    kinds: Sequence[str] = POSE_KINDS,
) -> ModelFile:
    """Read a model: the one call behind ``predict``, ``eval``, ``export``, ``model.init_weights``
    and :meth:`PoseEstimator.from_file <semipose.predict.PoseEstimator.from_file>`.

    The source is resolved, read, normalised and its layout detected once
    (:func:`~semipose.models.reader.read_weights`); a stored card is checked against the flags,
    a reference file's card is built from its tensors and the flags.

    Args:
        source: a semipose model file (``best.pt``, ``last.pt``, an exported ``model.pt``), a
            semipose 0.1 training checkpoint (needs ``trust``), a reference checkpoint
            (``pose_resnet``, ``pose_hrnet``, ``pose_cons``, ``pose_dual``, SSPCM; ``state_dict``
            wrappers and ``module.`` prefixes allowed), an ``.onnx`` export or an ImageNet
            backbone (where ``kinds`` takes them); as a local path, an ``http(s)://`` URL, an
            ``hf://OWNER/REPO/PATH[@REV]`` hub path or a known name
            (:func:`semipose.hub.resolve_source`: downloaded once, then cached), or a
            :class:`ModelFile` already read (no second read).
        trust: allow files that need arbitrary unpickling.
        arch: reference files: the architecture (default: inferred from the tensors; a
            contradicting value is an error).
        keypoints: reference files: the keypoint set (a built-in name, a :class:`Skeleton` or
            its plain-data form; default: the built-in set with as many keypoints as the head).
        color: reference files: input channel order (default ``rgb``; the Semi_Human_Pose /
            MultiAugs experiments fed ``bgr``).
        input_size: reference files: ``(W, H)`` (default 192x256).
        kinds: the kinds of file the caller takes (:data:`POSE_KINDS`; ``onnx`` for prediction,
            ``imagenet`` for a backbone); another kind is one line saying what it is and where it goes.

    Raises:
        FileNotFoundError, UnsafeCheckpointError, CheckpointError: naming the file and the
            problem (for a head that does not fit ``keypoints``: which ``--keypoints`` would).
    """
    mf = source if isinstance(source, ModelFile) else read_weights(source, trust=trust)
    if mf.kind not in kinds:
        if mf.kind == "onnx":
            raise CheckpointError(
                f"{mf.path}: an ONNX export: it runs through `semipose predict` and PoseEstimator.from_file (onnxruntime); "
                "evaluating, exporting or training from it needs the .pt model file it was exported from"
            )
        if mf.kind == "imagenet":
            raise CheckpointError(f"{mf.path}: an ImageNet backbone file ({mf.layout}), not the weights of a trained pose network: "
                                  "give it as model.pretrained (the backbone the training starts from)")
        raise CheckpointError(f"{mf.path}: a {mf.kind} file ({mf.layout}); expected {' or '.join(kinds)}")
    if mf.kind in ("model", "legacy", "onnx"):
        assert mf.card is not None  # read_weights gives these kinds their card
        _check_flags(mf.card, str(mf.path), arch, keypoints, color, input_size)
        return mf
    if mf.kind == "reference" and mf.card is None:
        mf.card = _reference_card(mf, arch=arch, keypoints=keypoints, color=color, input_size=input_size)
    return mf


def read_model_file(path: str | os.PathLike[str] | ModelFile, **kwargs: Any) -> ModelFile:
    """:func:`read_model` (its name in semipose 0.4)."""
    return read_model(path, **kwargs)


def model_file(wf: ModelFile, **kwargs: Any) -> ModelFile:
    """:func:`read_model` of a file already read (its name in semipose 0.4)."""
    return read_model(wf, **kwargs)


def _reference_card(mf: ModelFile, *, arch: str | None, keypoints: Any, color: str | None, input_size: Sequence[int] | None) -> ModelCard:
    """A reference file's card: the architecture and head from its tensors, the rest from the flags."""
    where, layout, states = str(mf.path), mf.layout, mf.states
    if layout == "plain":
        raise CheckpointError(mf.problem or f"{where}: the keys fit no known checkpoint layout")
    found_arch, args, channels = infer_architecture(states[0], where)
    if arch is not None and arch != found_arch:
        if arch not in POSE_MODELS:
            raise CheckpointError(f"--arch {arch}: unknown; known: {', '.join(sorted(POSE_MODELS))}")
        raise CheckpointError(f"{where}: the tensors are a {found_arch} ({layout}), not --arch {arch}: try --arch {found_arch}")
    sk = _keypoint_skeleton(keypoints, channels, where)
    if color is not None and color not in COLORS:
        raise CheckpointError(f"--color {color}: expected rgb or bgr")
    return ModelCard(
        arch=found_arch, skeleton=sk.to_dict(), arch_args=args, num_nets=len(states),
        use=ENSEMBLE if len(states) > 1 else net_key(0), input_size=tuple(input_size or DEFAULT_INPUT_SIZE),  # type: ignore[arg-type]
        color=color or "rgb", method="reference", source={"file": where, "layout": layout},
    )


def save_model_file(mf: ModelFile, out: str | os.PathLike[str], *, net: str | None = None) -> tuple[Path, ModelCard]:
    """Write ``mf`` as a self-describing semipose model file (``semipose export --format pt``):
    its card (predicting with ``net`` when given) and every network's weights, no training state.

    Raises:
        InputError: ``out`` is the file ``mf`` was read from.
    """
    path = Path(out)
    if path.resolve() == Path(mf.path).resolve():
        raise InputError(f"{path}: the export would overwrite its source; give -o")
    card = mf.model_card if net is None else mf.model_card.with_use(net, str(mf.path))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model_file_payload(card, mf.states), path)
    return path, card
