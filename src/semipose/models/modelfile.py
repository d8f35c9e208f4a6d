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

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._version import __version__
from ..codec import HeatmapCodec
from ..errors import CheckpointError, InputError
from ..image import IMAGENET_MEAN, IMAGENET_STD
from ..params import DECODERS, ENSEMBLE, METHODS, card_choices, net_key, num_nets_of, output_stride
from ..skeletons import BUILTIN_SKELETONS, Skeleton, get_skeleton
from .ensemble import EnsembleNet
from .hrnet import HRNET_WIDTHS
from .posenet import POSE_MODELS, build_pose_model
from .reader import WeightsFile, read_weights
from .resnet import RESNET_SPECS, Bottleneck

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "LEGACY_FORMAT",
    "DECODERS",
    "ModelCard",
    "ModelFile",
    "model_file_payload",
    "read_model_file",
    "model_file",
    "infer_architecture",
    "keypoints_hint",
]

MODEL_FORMAT = "semipose-model"
MODEL_FORMAT_VERSION = 1
#: ``format`` tag of the training checkpoints of semipose 0.1 (numpy RNG state inside: they
#: need ``trust``).
LEGACY_FORMAT = "semipose"
_COLORS = ("rgb", "bgr")


@dataclass
class ModelCard:
    """Everything needed to run a pose model, besides its weights.

    Attributes:
        arch: a :data:`~semipose.models.POSE_MODELS` name.
        skeleton: the keypoint set (:meth:`Skeleton.to_dict`: names, flip pairs, sigmas,
            edges).
        arch_args: the head arguments of :func:`~semipose.models.build_pose_model`.
        num_nets: networks in the file (2 for PoseDual).
        use: which network predicts: ``net1``, ``net2`` … or ``ensemble`` (mean heatmaps).
        input_size: ``(W, H)`` network input.
        heatmap_size: ``(w, h)`` network output.
        color: channel order the network was trained on, ``rgb`` or ``bgr``.
        mean, std: normalisation ``(pixel / 255 - mean) / std`` in the RGB convention (applied
            as given to BGR input, as the reference code did).
        padding: person box enlargement before cropping.
        decoder: ``shift``, ``dark`` or ``argmax``.
        flip_test: average with the mirrored input by default.
        shift_heatmap: shift the un-flipped heatmaps one pixel (reference flip test).
        method: the training method (``supervised``, ``posecons``, ``posedual``, ``reference``).
        semipose_version: the release that wrote the card.
        source: where the weights came from (file, layout, epoch, metrics).
        config: the resolved training config, when semipose trained the model.
    """

    arch: str
    skeleton: dict[str, Any]
    arch_args: dict[str, Any] = field(default_factory=dict)
    num_nets: int = 1
    use: str = "net1"
    input_size: tuple[int, int] = (192, 256)
    heatmap_size: tuple[int, int] | None = None
    color: str = "rgb"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    padding: float = 1.25
    decoder: str = "shift"
    flip_test: bool = False
    shift_heatmap: bool = True
    method: str = "supervised"
    semipose_version: str = __version__
    source: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        if self.heatmap_size is None:
            self.heatmap_size = (self.input_size[0] // self.output_stride, self.input_size[1] // self.output_stride)
        self.heatmap_size = (int(self.heatmap_size[0]), int(self.heatmap_size[1]))
        self.mean = tuple(float(v) for v in self.mean)  # type: ignore[assignment]
        self.std = tuple(float(v) for v in self.std)  # type: ignore[assignment]
        self.validate()

    # -- derived facts -----------------------------------------------------------------------
    def codec(self, decoder: str | None = None) -> HeatmapCodec:
        """The heatmap codec of this model (its input and heatmap sizes), decoding with
        ``decoder`` (default: the card's)."""
        assert self.heatmap_size is not None
        return HeatmapCodec(self.input_size, self.heatmap_size, decoder=decoder or self.decoder)

    @property
    def output_stride(self) -> int:
        """Input pixels per heatmap pixel of the architecture (32 / 2^deconv layers; HRNet 4)."""
        return output_stride(int(self.arch_args.get("num_deconv_layers", 3)))

    @property
    def stride(self) -> float:
        """Input pixels per heatmap pixel of this card (``W / w``)."""
        assert self.heatmap_size is not None
        return self.input_size[0] / self.heatmap_size[0]

    @property
    def keypoint_set(self) -> Skeleton:
        return Skeleton.from_dict(self.skeleton)

    @property
    def num_keypoints(self) -> int:
        return len(self.skeleton["keypoints"])

    @property
    def choices(self) -> list[str]:
        """Accepted values of :attr:`use`."""
        return card_choices(self.num_nets)

    def validate(self, where: str = "model card") -> None:
        """Raise :class:`CheckpointError` naming ``where`` and the field when a value is wrong."""
        problems = []
        if self.arch not in POSE_MODELS:
            problems.append(f"arch {self.arch!r} is not one of {', '.join(sorted(POSE_MODELS))}")
        if self.color not in _COLORS:
            problems.append(f"color {self.color!r} is not rgb or bgr")
        if self.decoder not in DECODERS:
            problems.append(f"decoder {self.decoder!r} is not one of {', '.join(DECODERS)}")
        if self.num_nets < 1:
            problems.append(f"num_nets {self.num_nets} < 1")
        elif self.use not in self.choices:
            problems.append(f"use {self.use!r} is not one of {', '.join(self.choices)}")
        if min(self.input_size) <= 0 or min(self.heatmap_size or (0,)) <= 0:
            problems.append(f"sizes must be positive (input {self.input_size}, heatmap {self.heatmap_size})")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            problems.append("mean and std need 3 values each, std positive")
        try:
            Skeleton.from_dict(self.skeleton)
        except (ValueError, TypeError, KeyError) as e:
            problems.append(f"skeleton: {e}")
        if problems:
            raise CheckpointError(f"{where}: " + "; ".join(problems))

    # -- plain data --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable), with the derived ``stride`` and ``num_keypoints``
        for readers of the file."""
        d = dataclasses.asdict(self)
        d["input_size"], d["heatmap_size"] = list(self.input_size), list(self.heatmap_size or ())
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["stride"] = self.stride
        d["num_keypoints"] = self.num_keypoints
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "model card") -> ModelCard:
        """Inverse of :meth:`to_dict`; errors name ``where`` and the field."""
        if not isinstance(data, Mapping):
            raise CheckpointError(f"{where}: the model card is a {type(data).__name__}, not a mapping")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        missing = [k for k in ("arch", "skeleton") if k not in kwargs]
        if missing:
            raise CheckpointError(f"{where}: the model card has no {', '.join(missing)}")
        try:
            return cls(**kwargs)
        except CheckpointError as e:  # from validate(): name the file
            raise CheckpointError(str(e).replace("model card", where, 1)) from None
        except (TypeError, ValueError, IndexError) as e:
            raise CheckpointError(f"{where}: invalid model card ({e})") from None

    @classmethod
    def from_config_dict(cls, d: Mapping[str, Any], skeleton: Skeleton, *, source: Mapping[str, Any] | None = None) -> ModelCard:
        """The card of a model trained with the config ``d`` — plain data, as
        :func:`semipose.config.config_to_dict` gives it (the engine turns its Config into it;
        models read no Config); :meth:`config_dict` is the way back. Sections or keys absent
        from ``d`` take the card's defaults.

        Raises:
            KeyError, TypeError, ValueError: ``d`` lacks ``model.arch`` / ``data.input_size``
                or holds values of the wrong kind.
        """
        m, data, e, q = (dict(d.get(k) or {}) for k in ("model", "data", "eval", "ssl"))
        default = {f.name: f.default for f in dataclasses.fields(cls)}
        arch = str(m["arch"])
        args: dict[str, Any] = {"final_kernel": int(m.get("final_kernel", 1))}
        if not arch.startswith("hrnet"):
            args = {"num_deconv_layers": len(m["deconv_filters"]), "deconv_filters": list(m["deconv_filters"]),
                    "deconv_kernels": list(m["deconv_kernels"]), **args}
        method = str(q.get("method", default["method"]))
        num_nets = num_nets_of(method)
        hm = data.get("heatmap_size")
        return cls(
            arch=arch, skeleton=skeleton.to_dict(), arch_args=args, num_nets=num_nets,
            use=net_key(0) if num_nets == 1 or q.get("select") == net_key(0) else ENSEMBLE,
            input_size=tuple(data["input_size"]), heatmap_size=tuple(hm) if hm else None,
            color=data.get("color", default["color"]), padding=float(data.get("padding", default["padding"])),
            decoder=e.get("decoder", default["decoder"]), flip_test=bool(e.get("flip_test", default["flip_test"])),
            shift_heatmap=bool(e.get("shift_heatmap", default["shift_heatmap"])), method=method,
            source=dict(source or {}), config=dict(d),
        )

    def config_dict(self) -> dict[str, Any]:
        """Plain config data that rebuilds this model (the stored training config, or one made
        from the card for reference files: model, input size, keypoint set, colour, decoder)."""
        if self.config:
            return dict(self.config)
        model: dict[str, Any] = {"arch": self.arch, "final_kernel": self.arch_args.get("final_kernel", 1)}
        if not self.arch.startswith("hrnet"):
            model.update(deconv_filters=list(self.arch_args["deconv_filters"]), deconv_kernels=list(self.arch_args["deconv_kernels"]))
        return {
            "model": model,
            "data": {"input_size": list(self.input_size), "skeleton": self.skeleton, "color": self.color, "padding": self.padding},
            "eval": {"decoder": self.decoder, "flip_test": self.flip_test},
            "ssl": {"method": next((m for m in METHODS if num_nets_of(m) == self.num_nets), "supervised")},
        }

    def with_use(self, use: str, where: str = "model card") -> ModelCard:
        """This card predicting with ``use`` (``net1``, ``net2`` … or ``ensemble``)."""
        if use not in self.choices:
            raise CheckpointError(f"{where}: network {use!r}: this model has {', '.join(self.choices)}")
        return dataclasses.replace(self, use=use)

    # -- networks ----------------------------------------------------------------------------
    def build_net(self) -> nn.Module:
        """One randomly initialised network of this card's architecture."""
        return build_pose_model(self.arch, self.num_keypoints, **self.arch_args)

    def predictor(self, nets: Sequence[nn.Module], use: str | None = None) -> nn.Module:
        """The module that predicts heatmaps: one of ``nets`` or their :class:`EnsembleNet`."""
        choice = use or self.use
        if choice not in self.choices:
            raise CheckpointError(f"network {choice!r}: this model has {', '.join(self.choices)}")
        return EnsembleNet(list(nets)) if choice == ENSEMBLE else nets[self.choices.index(choice)]


@dataclass
class ModelFile:
    """What :func:`read_model_file` found.

    Attributes:
        path: the file.
        card: the model card (stored, or inferred for reference files).
        states: one state_dict per network, in the model's own key names.
        train_state: the resumable training state (a run's ``last.pt``), else None.
        kind: ``model`` (semipose model file), ``legacy`` (semipose 0.1 training checkpoint)
            or the reference layout name (``pose_resnet`` …).
    """

    path: Path
    card: ModelCard
    states: list[dict[str, Tensor]]
    train_state: dict[str, Any] | None = None
    kind: str = "model"

    def build_nets(self, device: torch.device | str = "cpu") -> list[nn.Module]:
        """The networks with their weights, in eval mode, on ``device`` (loading is strict)."""
        from .loading import load_weights

        nets = []
        for i, sd in enumerate(self.states):
            net = self.card.build_net()
            load_weights(net, sd, strict=True, name=f"{self.path} network {i + 1}")
            nets.append(net.to(device).eval())
        return nets


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


def read_model_file(
    path: str | os.PathLike[str] | WeightsFile,
    *,
    trust: bool = False,
    arch: str | None = None,
    keypoints: str | Skeleton | Mapping[str, Any] | None = None,
    color: str | None = None,
    input_size: Sequence[int] | None = None,
) -> ModelFile:
    """Read any checkpoint semipose can run into a :class:`ModelFile`.

    Args:
        path: a semipose model file (``best.pt``, ``last.pt``, an exported ``model.pt``), a
            semipose 0.1 training checkpoint (needs ``trust``), or a reference checkpoint
            (``pose_resnet``, ``pose_hrnet``, ``pose_cons``, ``pose_dual``; ``state_dict``
            wrappers and ``module.`` prefixes allowed); as a local path, an ``http(s)://``
            URL, an ``hf://OWNER/REPO/PATH[@REV]`` hub path or a known name
            (:func:`semipose.hub.resolve_source`: downloaded once, then cached), or what
            :func:`~semipose.models.reader.read_weights` returned for it.
        trust: allow files that need arbitrary unpickling.
        arch: reference files: the architecture (default: inferred from the tensors; a
            contradicting value is an error).
        keypoints: reference files: the keypoint set (a built-in name, a :class:`Skeleton` or
            its plain-data form; default: the built-in set with as many keypoints as the head).
        color: reference files: input channel order (default ``rgb``; the Semi_Human_Pose /
            MultiAugs experiments fed ``bgr``).
        input_size: reference files: ``(W, H)`` (default 192x256).

    Raises:
        FileNotFoundError, UnsafeCheckpointError, CheckpointError: naming the file and the
            problem (for a head that does not fit ``keypoints``: which ``--keypoints`` would).
    """
    return model_file(path if isinstance(path, WeightsFile) else read_weights(path, trust=trust), arch=arch, keypoints=keypoints,
                      color=color, input_size=input_size)


def model_file(
    wf: WeightsFile, *, arch: str | None = None, keypoints: Any = None, color: str | None = None, input_size: Sequence[int] | None = None
) -> ModelFile:
    """:func:`read_model_file` for a file :func:`~semipose.models.reader.read_weights` has read
    (no second read): the stored card checked against the flags, or a reference file's card
    built from its tensors and the flags."""
    if wf.kind == "onnx":
        raise CheckpointError(
            f"{wf.path}: an ONNX export: it runs through `semipose predict` and PoseEstimator.from_file (onnxruntime); "
            "evaluating, exporting or training from it needs the .pt model file it was exported from"
        )
    if wf.kind == "imagenet":
        raise CheckpointError(f"{wf.path}: an ImageNet initialisation file ({wf.layout}), not a trained pose model; train one first")
    if wf.kind in ("model", "legacy"):
        assert wf.card is not None  # read_weights gives these kinds their card
        _check_flags(wf.card, str(wf.path), arch, keypoints, color, input_size)
        return ModelFile(wf.path, wf.card, wf.states, wf.train_state, wf.kind)
    return _reference_model(wf, arch=arch, keypoints=keypoints, color=color, input_size=input_size)


def _reference_model(wf: WeightsFile, *, arch: str | None, keypoints: Any, color: str | None, input_size: Sequence[int] | None) -> ModelFile:
    where, layout, states = str(wf.path), wf.layout, wf.states
    if layout == "plain":
        from .reference import detect_checkpoint_layout

        detect_checkpoint_layout(states[0], name=where)  # raises, showing the keys that fit no layout
    found_arch, args, channels = infer_architecture(states[0], where)
    if arch is not None and arch != found_arch:
        if arch not in POSE_MODELS:
            raise CheckpointError(f"--arch {arch}: unknown; known: {', '.join(sorted(POSE_MODELS))}")
        raise CheckpointError(f"{where}: the tensors are a {found_arch} ({layout}), not --arch {arch}: try --arch {found_arch}")
    sk = _keypoint_skeleton(keypoints, channels, where)
    if color is not None and color not in _COLORS:
        raise CheckpointError(f"--color {color}: expected rgb or bgr")
    card = ModelCard(
        arch=found_arch, skeleton=sk.to_dict(), arch_args=args, num_nets=len(states),
        use=ENSEMBLE if len(states) > 1 else net_key(0), input_size=tuple(input_size or (192, 256)),  # type: ignore[arg-type]
        color=color or "rgb", method="reference", source={"file": where, "layout": layout},
    )
    return ModelFile(wf.path, card, states, None, layout)
