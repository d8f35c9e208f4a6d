"""Checks and random-tensor helpers shared by the batch augmentations (occlusion and
photometric): shape checks, counts, permutations and device-side constants."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["check_batch", "check_count", "permutation", "const_like"]


def check_batch(images: Tensor) -> tuple[int, int, int, int]:
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    if n < 1 or h < 1 or w < 1:
        raise ValueError(f"images must be non-empty, got shape {tuple(images.shape)}")
    return n, c, h, w




def check_count(name: str, value: int) -> int:
    if int(value) < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)




def permutation(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """A uniformly random permutation of ``0 … n−1``, generated on ``device`` (argsort of uniform keys)."""
    return torch.rand((n,), generator=generator, device=device).argsort()


def const_like(values: Sequence[float], like: Tensor) -> Tensor:
    """``(1, len(values), 1, 1)`` constant on ``like``'s device, built with fill kernels.

    (``torch.tensor(list, device=cuda)`` would be a blocking host→device copy.)
    """
    return torch.stack([torch.full((), float(v), dtype=like.dtype, device=like.device) for v in values]).view(1, -1, 1, 1)
