"""The model card and the model-file format tags: what a semipose model file says about itself.

A leaf of ``models/``: the reader (:mod:`.reader`) and the model files (:mod:`.modelfile`)
both stand on it, and it imports neither.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .._version import __version__
from ..codec import HeatmapCodec
from ..errors import CheckpointError
from ..geometry import DEFAULT_INPUT_SIZE, DEFAULT_PADDING
from ..image import IMAGENET_MEAN, IMAGENET_STD
from ..params import DECODERS, ENSEMBLE, METHODS, card_choices, net_key, num_nets_of, output_stride
from ..skeletons import Skeleton
from .ensemble import EnsembleNet
from .posenet import POSE_MODELS, build_pose_model

__all__ = ["MODEL_FORMAT", "MODEL_FORMAT_VERSION", "LEGACY_FORMAT", "COLORS", "ModelCard"]

MODEL_FORMAT = "semipose-model"
MODEL_FORMAT_VERSION = 1
#: ``format`` tag of the training checkpoints of semipose 0.1 (numpy RNG state inside: they
#: need ``trust``).
LEGACY_FORMAT = "semipose"
COLORS = ("rgb", "bgr")


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
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
    heatmap_size: tuple[int, int] | None = None
    color: str = "rgb"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    padding: float = DEFAULT_PADDING
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
        if self.color not in COLORS:
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
