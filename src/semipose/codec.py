"""Heatmap codec: one place that encodes training targets and decodes predictions.

Shape symbols: N instances, K keypoints, ``[W, H]`` network input size, ``[w, h]`` heatmap
size (stride ``W / w``, 4 for every network here).

Geometry (the SimpleBaseline convention, spec §2.8): a person box given by ``center`` and
``scale`` (box size / 200) is mapped onto the crop by a similarity transform: rotation by
``rot`` degrees (positive = counter-clockwise on screen) and the uniform zoom
``crop_width / (scale_x * 200)``; the box centre lands on the crop centre ``(W/2, H/2)``.
:func:`affine_matrix` builds those 2×3 matrices in closed form for a whole batch.

Targets (spec §2.9): an unnormalised Gaussian (peak 1) of standard deviation ``sigma`` heatmap
pixels, truncated to a ``(2·⌊3σ⌋+1)²`` window, centred on the keypoint's heatmap cell
``⌊x/stride + 0.5⌋`` (reference behaviour) or, with ``unbiased=True``, on the exact sub-pixel
position. A keypoint whose window lies wholly outside the heatmap, or that is not labelled,
gets weight 0.

Decoding: per-channel argmax, then a quarter-pixel step towards the higher neighbour
(spec §7.2), then back to original-image pixels through the inverse affine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .data.records import PIXEL_STD

__all__ = [
    "affine_matrix",
    "apply_affine",
    "HeatmapCodec",
    "flip_back",
    "heatmaps_to_image",
]


def affine_matrix(
    center: np.ndarray,
    scale: np.ndarray,
    rot: np.ndarray | float,
    output_size: Sequence[int],
    *,
    inv: bool = False,
) -> np.ndarray:
    """Crop transforms (image → crop, or crop → image with ``inv=True``).

    Args:
        center: ``(..., 2)`` box centres in image pixels.
        scale: ``(..., 2)`` box sizes / 200; only the x component sets the zoom (the boxes are
            padded to the crop aspect ratio beforehand).
        rot: ``(...)`` rotation in degrees, or a scalar.
        output_size: ``(w, h)`` of the crop (input or heatmap resolution).
        inv: return the inverse mapping.

    Returns:
        ``(..., 2, 3)`` float64 affine matrices acting on ``[x, y, 1]``.
    """
    center = np.asarray(center, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    rot = np.broadcast_to(np.asarray(rot, dtype=np.float64), center.shape[:-1])
    w, h = float(output_size[0]), float(output_size[1])
    src_w = scale[..., 0] * PIXEL_STD
    k = w / src_w
    r = np.deg2rad(rot)
    c, s = np.cos(r), np.sin(r)
    out = np.zeros(center.shape[:-1] + (2, 3), dtype=np.float64)
    if not inv:
        # dst = k * R(-r) (src - center) + (w/2, h/2)
        a, b = k * c, k * s
        out[..., 0, 0], out[..., 0, 1] = a, b
        out[..., 1, 0], out[..., 1, 1] = -b, a
        out[..., 0, 2] = w / 2 - (a * center[..., 0] + b * center[..., 1])
        out[..., 1, 2] = h / 2 - (-b * center[..., 0] + a * center[..., 1])
    else:
        # src = (1/k) R(r) (dst - (w/2, h/2)) + center
        a, b = c / k, s / k
        out[..., 0, 0], out[..., 0, 1] = a, -b
        out[..., 1, 0], out[..., 1, 1] = b, a
        out[..., 0, 2] = center[..., 0] - (a * w / 2 - b * h / 2)
        out[..., 1, 2] = center[..., 1] - (b * w / 2 + a * h / 2)
    return out


def apply_affine(points: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Apply ``(..., 2, 3)`` matrices to ``(..., P, 2)`` points (broadcast over the leading dims)."""
    points = np.asarray(points, dtype=np.float64)
    return points @ np.swapaxes(mat[..., :, :2], -1, -2) + mat[..., None, :, 2]


@dataclass(frozen=True)
class HeatmapCodec:
    """Gaussian heatmap encoder/decoder.

    Args:
        input_size: ``(W, H)`` network input.
        heatmap_size: ``(w, h)`` network output.
        sigma: Gaussian standard deviation in heatmap pixels (2 for ResNet, 3 for HRNet in the
            reference configs).
        unbiased: centre targets on the exact sub-pixel location instead of the rounded cell.
    """

    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float = 2.0
    unbiased: bool = False

    def __post_init__(self) -> None:
        if self.sigma <= 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")
        for n, v in (("input_size", self.input_size), ("heatmap_size", self.heatmap_size)):
            if len(v) != 2 or min(v) <= 0:
                raise ValueError(f"{n} must be two positive integers (width, height), got {v}")
        object.__setattr__(self, "input_size", (int(self.input_size[0]), int(self.input_size[1])))
        object.__setattr__(self, "heatmap_size", (int(self.heatmap_size[0]), int(self.heatmap_size[1])))

    @property
    def stride(self) -> tuple[float, float]:
        return (self.input_size[0] / self.heatmap_size[0], self.input_size[1] / self.heatmap_size[1])

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target heatmaps for keypoints in crop (input) pixels.

        Args:
            keypoints: ``(..., K, 2)`` positions in input-crop pixels.
            visible: ``(..., K)`` truthy where the keypoint is labelled.

        Returns:
            ``heatmaps (..., K, h, w)`` float32 and ``weights (..., K)`` float32 (0 or 1).
        """
        kp = np.asarray(keypoints, dtype=np.float64)
        vis = np.asarray(visible) > 0
        w, h = self.heatmap_size
        sx, sy = self.stride
        mu_x, mu_y = kp[..., 0] / sx, kp[..., 1] / sy
        if not self.unbiased:
            mu_x, mu_y = np.floor(mu_x + 0.5), np.floor(mu_y + 0.5)
        radius = int(3 * self.sigma)
        inside = (mu_x - radius < w) & (mu_y - radius < h) & (mu_x + radius + 1 > 0) & (mu_y + radius + 1 > 0)
        weights = (vis & inside & np.isfinite(mu_x) & np.isfinite(mu_y)).astype(np.float32)
        xs = np.arange(w, dtype=np.float64)
        ys = np.arange(h, dtype=np.float64)
        dx = xs - mu_x[..., None]  # (..., K, w)
        dy = ys - mu_y[..., None]  # (..., K, h)
        gx = np.exp(-(dx**2) / (2 * self.sigma**2)) * (np.abs(dx) <= radius)
        gy = np.exp(-(dy**2) / (2 * self.sigma**2)) * (np.abs(dy) <= radius)
        heat = gy[..., :, None] * gx[..., None, :] * weights[..., None, None]
        return heat.astype(np.float32), weights

    @staticmethod
    def decode(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Argmax + quarter-pixel refinement.

        Args:
            heatmaps: ``(N, K, h, w)``.

        Returns:
            ``coords (N, K, 2)`` in heatmap pixels (x, y) and ``maxvals (N, K)``. Channels whose
            peak is ≤ 0 get coordinates (0, 0), as in the reference decoder.
        """
        n, k, h, w = heatmaps.shape
        flat = heatmaps.reshape(n, k, h * w)
        maxvals, idx = flat.max(dim=2)
        x = (idx % w).to(heatmaps.dtype)
        y = torch.div(idx, w, rounding_mode="floor").to(heatmaps.dtype)
        px, py = idx % w, torch.div(idx, w, rounding_mode="floor")
        interior = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)

        def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
            yy, xx = yy.clamp(0, h - 1), xx.clamp(0, w - 1)
            return flat.gather(2, (yy * w + xx).unsqueeze(2)).squeeze(2)

        ddx = at(py, px + 1) - at(py, px - 1)
        ddy = at(py + 1, px) - at(py - 1, px)
        x = x + 0.25 * torch.sign(ddx) * interior
        y = y + 0.25 * torch.sign(ddy) * interior
        coords = torch.stack([x, y], dim=-1) * (maxvals > 0).unsqueeze(-1)
        return coords, maxvals

    def to_image(self, coords: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Heatmap coordinates → original-image pixels (rotation 0, as at test time).

        Args:
            coords: ``(N, K, 2)`` heatmap pixels.
            center, scale: ``(N, 2)`` the boxes the crops were taken from.

        Returns:
            ``(N, K, 2)`` float32 image pixels.
        """
        mat = affine_matrix(center, scale, 0.0, self.heatmap_size, inv=True)
        return apply_affine(coords, mat).astype(np.float32)


def heatmaps_to_image(
    codec: HeatmapCodec, heatmaps: torch.Tensor, center: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``(N, K, h, w)`` heatmaps to image coordinates ``(N, K, 2)`` and scores ``(N, K)``."""
    coords, maxvals = codec.decode(heatmaps.float())
    return codec.to_image(coords.cpu().numpy(), center, scale), maxvals.cpu().numpy().astype(np.float32)


def flip_back(heatmaps: torch.Tensor, flip_index: Sequence[int] | torch.Tensor, *, shift: bool = True) -> torch.Tensor:
    """Undo a horizontal input flip on predicted heatmaps.

    Mirrors the width axis, swaps left/right channels (``out[:, k] = flipped[:, flip_index[k]]``)
    and, with ``shift``, moves the result one heatmap pixel to the right (column 0 keeps its
    value), which compensates the half-pixel misalignment of the mirrored crop (spec §7.1).

    Args:
        heatmaps: ``(N, K, h, w)`` predictions on flipped inputs.
        flip_index: ``(K,)`` channel permutation (:attr:`Skeleton.flip_index`).

    Returns:
        ``(N, K, h, w)`` heatmaps aligned with the unflipped input.
    """
    idx = torch.as_tensor(np.asarray(flip_index), dtype=torch.long, device=heatmaps.device)
    out = heatmaps.flip(3).index_select(1, idx)
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=3)
    return out


def gaussian_radius(sigma: float) -> int:
    """Half-width of the truncated Gaussian window (⌊3σ⌋)."""
    return int(math.floor(3 * sigma))
