"""Typed experiment configuration: dataclasses, YAML files, dotted command-line overrides.

A config file is YAML whose keys mirror the dataclasses below. Unknown keys and values of the
wrong type are errors naming the dotted key (``train.lr: expected float, got 'fast'``).
A file may start from another with ``_base_: other.yaml`` (relative to the file); the
file's own keys are merged over the base recursively.

Overrides on the command line use dotted keys with YAML-typed values::

    semipose train configs/synthetic_res18_128x96.yaml train.epochs=5 data.workers=0 \\
        model.arch=resnet50 data.input_size=[192,256]

Relative data paths are resolved against ``data.root``; a relative ``data.root`` is resolved
against the current working directory.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union, get_args, get_origin, get_type_hints

import yaml

from .data.topdown import AugmentConfig

__all__ = [
    "ConfigError",
    "SplitConfig",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "EvalConfig",
    "Config",
    "load_config",
    "apply_overrides",
    "config_to_dict",
    "config_from_dict",
    "dump_config",
]


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


@dataclass
class SplitConfig:
    """One set of images.

    Attributes:
        ann_file: COCO-format JSON (keypoint file, or an ``image_info`` file when boxes come
            from ``det_file``).
        image_dir: folder the JSON's ``file_name`` entries are relative to.
        det_file: person-detector results (COCO results format); used for evaluation when
            ``eval.use_gt_boxes`` is false.
    """

    ann_file: str = ""
    image_dir: str = ""
    det_file: str | None = None


@dataclass
class DataConfig:
    """Data, crops, targets and augmentation."""

    root: str = ""
    train: SplitConfig = field(default_factory=SplitConfig)
    val: SplitConfig = field(default_factory=SplitConfig)
    #: built-in name (``coco17``, ``aic14``), a custom block (keypoints, flip_pairs, sigmas,
    #: edges), or null to read the keypoint set from the training file's categories.
    skeleton: str | dict | None = None
    input_size: list[int] = field(default_factory=lambda: [192, 256])  # W, H
    heatmap_size: list[int] | None = None  # default: input_size / the head's stride
    sigma: float = 2.0
    unbiased_encoding: bool = False
    padding: float = 1.25
    color: str = "rgb"
    #: random scale / rotation / flip / half-body of training crops
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    #: keep only the first N labelled person instances in file order (0 = all)
    max_train_instances: int = 0
    workers: int = 2

    def resolve(self, path: str | None) -> str | None:
        """``path`` joined to :attr:`root` unless it is absolute (or empty/None)."""
        if not path:
            return path
        return path if os.path.isabs(path) else os.path.join(self.root, path) if self.root else path


@dataclass
class ModelConfig:
    """Network (plain arguments of :func:`semipose.models.build_pose_model`)."""

    arch: str = "resnet50"
    #: ImageNet backbone checkpoint (torchvision layout); null = random initialisation.
    pretrained: str | None = None
    deconv_filters: list[int] = field(default_factory=lambda: [256, 256, 256])
    deconv_kernels: list[int] = field(default_factory=lambda: [4, 4, 4])
    final_kernel: int = 1


@dataclass
class TrainConfig:
    """Optimisation and the training loop."""

    epochs: int = 140
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    lr_steps: list[int] = field(default_factory=lambda: [90, 120])
    lr_factor: float = 0.1
    warmup_iters: int = 0
    #: validate (and pick ``best``) every N epochs; the last epoch is always validated
    val_every: int = 1
    amp: bool = False
    #: convert BatchNorm to SyncBatchNorm when training with several processes
    sync_bn: bool = False
    grad_clip: float = 0.0
    log_every: int = 20
    #: cap on iterations per epoch (0 = the whole dataset); for smoke tests and benchmarks
    max_iters_per_epoch: int = 0


@dataclass
class EvalConfig:
    """Evaluation protocol."""

    batch_size: int = 64
    flip_test: bool = False
    shift_heatmap: bool = True
    use_gt_boxes: bool = True
    det_score_thr: float = 0.0
    in_vis_thr: float = 0.2
    oks_nms_thr: float = 0.9
    use_nms: bool = True
    #: number of val images drawn with predictions into the run folder
    num_vis_images: int = 8


@dataclass
class Config:
    """A whole experiment."""

    name: str = "experiment"
    seed: int = 0
    #: ``auto`` (CUDA if available), ``cpu``, ``cuda``, ``cuda:1`` …
    device: str = "auto"
    #: torch CPU threads for the main process (0 = torch's default)
    num_threads: int = 0
    output_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> "Config":
        """Check cross-field constraints; returns self."""
        d, t, e = self.data, self.train, self.eval
        if len(d.input_size) != 2 or min(d.input_size) <= 0:
            raise ConfigError(f"data.input_size: expected [width, height], got {d.input_size}")
        if d.heatmap_size is not None and (len(d.heatmap_size) != 2 or min(d.heatmap_size) <= 0):
            raise ConfigError(f"data.heatmap_size: expected [width, height], got {d.heatmap_size}")
        if d.color not in ("rgb", "bgr"):
            raise ConfigError(f"data.color: expected 'rgb' or 'bgr', got {d.color!r}")
        for key, v in (("data.sigma", d.sigma), ("data.padding", d.padding), ("train.lr", t.lr)):
            if not v > 0:
                raise ConfigError(f"{key}: must be positive, got {v}")
        a = d.augment
        for key, v in (("rot_prob", a.rot_prob), ("flip_prob", a.flip_prob), ("half_body_prob", a.half_body_prob)):
            if not 0 <= v <= 1:
                raise ConfigError(f"data.augment.{key}: must be in [0, 1], got {v}")
        if not 0 <= a.scale_factor < 1:
            raise ConfigError(f"data.augment.scale_factor: must be in [0, 1), got {a.scale_factor}")
        for key, v in (("train.epochs", t.epochs), ("train.batch_size", t.batch_size), ("eval.batch_size", e.batch_size), ("train.val_every", t.val_every)):
            if v < 1:
                raise ConfigError(f"{key}: must be ≥ 1, got {v}")
        if t.optimizer not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"train.optimizer: expected adam, adamw or sgd, got {t.optimizer!r}")
        if list(t.lr_steps) != sorted(t.lr_steps):
            raise ConfigError(f"train.lr_steps: must be increasing, got {t.lr_steps}")
        if d.workers < 0:
            raise ConfigError(f"data.workers: must be ≥ 0, got {d.workers}")
        if len(self.model.deconv_filters) != len(self.model.deconv_kernels):
            raise ConfigError("model.deconv_filters and model.deconv_kernels must have the same length")
        if not 1 <= len(self.model.deconv_filters) <= 4:
            raise ConfigError("model.deconv_filters: 1 to 4 deconvolution layers (output stride 16 to 2)")
        for key, n in (("data.input_size", d.input_size[0]), ("data.input_size", d.input_size[1])):
            if n % 32:
                raise ConfigError(f"{key}: width and height must be multiples of 32 (the backbone's stride), got {d.input_size}")
        if self.num_threads < 0:
            raise ConfigError(f"num_threads: must be ≥ 0, got {self.num_threads}")
        return self

    @property
    def output_stride(self) -> int:
        """Input pixels per heatmap pixel: 32 / 2^(number of deconvolution layers)."""
        return 32 // 2 ** len(self.model.deconv_filters)

    @property
    def heatmap_size(self) -> tuple[int, int]:
        if self.data.heatmap_size:
            return (int(self.data.heatmap_size[0]), int(self.data.heatmap_size[1]))
        w, h = self.data.input_size
        return (int(w) // self.output_stride, int(h) // self.output_stride)


# ---------------------------------------------------------------------------------------------
# dict <-> dataclass with type checking


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key}: must not be null")
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return _from_dict(tp, value, key)
    if origin is list or tp is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_tp,) = get_args(tp) or (Any,)
        return [_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:  # YAML 1.1 reads "1e-3" as a string
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover


def _from_dict(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in names]
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown config key '{where}{unknown[0]}'" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
            + f"; valid keys here: {', '.join(sorted(names))}"
        )
    kwargs = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in data.items()}
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Build and validate a :class:`Config` from plain data."""
    return _from_dict(Config, data).validate()


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data form of a config (dataclasses → dicts)."""
    return dataclasses.asdict(cfg)


def dump_config(cfg: Config, path: str | os.PathLike[str]) -> None:
    """Write the resolved config as YAML (loadable with :func:`load_config`)."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: circular _base_ chain")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("_base_", None)
    if base is not None:
        base_data = _read_yaml((path.parent / base), _seen + (path.resolve(),))
        data = _merge(base_data, data)
    return data


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r}: bad key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override {item!r}: cannot parse value ({e})") from e
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to plain config data (values parsed as YAML)."""
    out = _merge({}, data)
    for item in overrides:
        parts, value = _parse_override(item)
        node = out
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a section")
            node = nxt
        node[parts[-1]] = value
    return out


def load_config(path: str | os.PathLike[str] | None, overrides: Sequence[str] = ()) -> Config:
    """Load a YAML config (with ``_base_`` inheritance), apply overrides, validate."""
    data = _read_yaml(Path(path)) if path is not None else {}
    data = apply_overrides(data, overrides)
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path is not None else str(e)) from None


# Silence "imported but unused" for names used only in annotations evaluated at runtime.
_ = typing
