"""Reading configs: YAML files (with ``_base_``), dotted command-line overrides, and the
typed conversion of plain dicts into the :mod:`~semipose.config.schema` dataclasses."""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from ..errors import ConfigError
from .schema import Config

__all__ = ["load_config", "apply_overrides", "config_to_dict", "config_from_dict", "dump_config", "migrate"]


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
        return _from_dict(tp, value, key)  # type: ignore[arg-type]  # a dataclass type
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


def migrate(data: Mapping[str, Any]) -> dict[str, Any]:
    """Config data of an earlier version in today's keys: ``train.amp: true`` (fp16 autocast on
    CUDA, ignored on a CPU) becomes ``train.precision: auto``, ``false`` becomes ``fp32``."""
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    train = out.get("train")
    if isinstance(train, dict) and "amp" in train:
        amp = train.pop("amp")
        train.setdefault("precision", "auto" if amp else "fp32")
    return out


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Build and validate a :class:`Config` from plain data (keys of earlier versions migrated)."""
    return _from_dict(Config, migrate(data)).validate()


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
    if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".mp4", ".avi", ".mov"):
        raise ConfigError(f"{path}: an image or video, not a config; to predict poses on it: semipose predict MODEL {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from e
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file, so not a YAML config") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("_base_", None)
    if base is not None and not isinstance(base, str):
        raise ConfigError(f"{path}: _base_ must be one file name (relative to this file), got {base!r}")
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
