"""Devices and numeric precision: which device a run uses and which autocast dtype is fast there."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

import torch

from .errors import DeviceError
from .params import CHANNELS_LAST, PRECISIONS

__all__ = ["resolve_device", "fast_bf16", "resolve_precision", "precision_reason", "resolve_channels_last", "autocast", "to_memory_format"]


def resolve_device(spec: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise ``torch.device(spec)`` (checked)."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise DeviceError(f"device: {spec!r} is not a device name (auto, cpu, cuda, cuda:1 ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device: {spec!r} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device: {spec!r} is not supported (auto, cpu, cuda, cuda:N)")
    return dev


def fast_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast is fast on ``device``: CUDA with bf16 support, or a CPU with
    AMX / AVX512-BF16 (oneDNN's bf16 kernels)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``precision`` on ``device`` (``auto`` resolved)."""
    if precision not in PRECISIONS:
        raise DeviceError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise DeviceError("precision fp16 needs a CUDA device (use bf16 on a CPU)")
    return precision


def precision_reason(precision: str, resolved: str, device: torch.device) -> str:
    """Why a run uses ``resolved`` (for its log): ``auto`` picks bf16 only where it is native."""
    if precision != "auto":
        return f"precision {resolved} as configured"
    if resolved == "bf16":
        return "precision auto: native bf16 on this device"
    why = "this CPU has no native bf16 (AMX / AVX512-BF16), where bf16 runs a slow fallback" if device.type == "cpu" else \
        "this device has no bf16 support"
    return f"precision auto: fp32, {why}"


def resolve_channels_last(channels_last: bool | str, precision: str) -> bool:
    """Whether the networks run channels_last: as given, or (``auto``) with a reduced resolved
    ``precision`` (oneDNN's bf16 and the tensor cores' kernels want NHWC)."""
    if channels_last not in CHANNELS_LAST:
        raise DeviceError(f"channels_last: expected true, false or auto, got {channels_last!r}")
    return precision != "fp32" if channels_last == "auto" else bool(channels_last)


def to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``(N, C, H, W)`` ``x`` in channels_last (NHWC) memory when asked, else as it is."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def autocast(precision: str, device: torch.device) -> AbstractContextManager[object]:
    """The autocast context of a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
