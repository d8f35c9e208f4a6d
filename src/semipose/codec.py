"""Heatmap codec: one place that encodes training targets and decodes predictions.

Shape symbols: N instances, K keypoints, ``[W, H]`` network input size, ``[w, h]`` heatmap
size (stride ``W / w``, 4 for every network here).

The crop geometry (box → crop affine) is :mod:`semipose.geometry`'s.

Targets: an unnormalised Gaussian (peak 1) of standard deviation ``sigma`` heatmap
pixels, truncated to a ``(2·⌊3σ⌋+1)²`` window, centred on the keypoint's heatmap cell
``int(x/stride + 0.5)`` (the reference's rounding, truncating toward zero, so it differs from
rounding for joints left of or above the crop) or, with ``unbiased=True``, on the exact
sub-pixel position. A keypoint whose window lies wholly outside the heatmap (the reference's
``ul >= size or br < 0`` test), or that is not labelled, gets weight 0; a joint whose window
ends exactly at the left/top edge keeps weight 1 with an all-zero map, as in the reference.

Decoding: per-channel argmax, then either a quarter-pixel step towards the higher
neighbour (``method="shift"``, the reference default) or DARK's second-order Taylor step on the
log of the Gaussian-smoothed heatmap (``method="dark"``, :func:`dark_refine`), then back to
original-image pixels through the inverse affine. :func:`decode_heatmaps` is the one entry point;
every step is batched over ``(N, K)`` (no per-joint Python loops).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import ConfigError
from .geometry import affine_matrix, apply_affine
from .params import DECODERS

__all__ = ["HeatmapCodec", "decode_heatmaps", "argmax_heatmaps", "dark_refine", "gaussian_blur_heatmaps", "flip_back"]


@dataclass(frozen=True)
class HeatmapCodec:
    """Gaussian heatmap encoder/decoder.

    Args:
        input_size: ``(W, H)`` network input.
        heatmap_size: ``(w, h)`` network output.
        sigma: Gaussian standard deviation in heatmap pixels (2 for ResNet, 3 for HRNet in the
            reference configs).
        unbiased: centre targets on the exact sub-pixel location instead of the rounded cell.
        decoder: how :meth:`decode` refines the integer peak (one of
            :data:`semipose.params.DECODERS`; see :func:`decode_heatmaps`).
        blur_kernel: DARK's smoothing kernel.
    """

    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float = 2.0
    unbiased: bool = False
    decoder: str = "shift"
    blur_kernel: int = 11

    def __post_init__(self) -> None:
        if self.sigma <= 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")
        if self.decoder not in DECODERS:
            raise ConfigError(f"decoder: expected one of {', '.join(DECODERS)}, got {self.decoder!r}")
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
        radius = int(3 * self.sigma)
        if not self.unbiased:
            # the reference's int(x / stride + 0.5): truncation toward zero, so a joint up to
            # 2 px left of (or above) the crop still peaks on column (row) 0; and its weight is
            # 0 only when the window lies wholly outside (ul >= size or br < 0, br = mu + r + 1)
            mu_x, mu_y = np.trunc(mu_x + 0.5), np.trunc(mu_y + 0.5)
            inside = (mu_x - radius < w) & (mu_y - radius < h) & (mu_x + radius + 1 >= 0) & (mu_y + radius + 1 >= 0)
        else:
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

    def decode(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Argmax + this codec's sub-pixel refinement (see :func:`decode_heatmaps`).

        Args:
            heatmaps: ``(N, K, h, w)``.

        Returns:
            ``coords (N, K, 2)`` in heatmap pixels (x, y) and ``maxvals (N, K)``. Channels whose
            peak is ≤ 0 get coordinates (0, 0), as in the reference decoder.
        """
        return decode_heatmaps(heatmaps, self.decoder, blur_kernel=self.blur_kernel)

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


def flip_back(heatmaps: torch.Tensor, flip_index: Sequence[int] | np.ndarray | torch.Tensor, *, shift: bool = True) -> torch.Tensor:
    """Undo a horizontal input flip on predicted heatmaps.

    Mirrors the width axis, swaps left/right channels (``out[:, k] = flipped[:, flip_index[k]]``)
    and, with ``shift``, moves the result one heatmap pixel to the right (column 0 keeps its
    value), which compensates the half-pixel misalignment of the mirrored crop.

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


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def argmax_heatmaps(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer peak of every ``(N, K, h, w)`` heatmap: ``px (N, K)``, ``py (N, K)`` (int64)
    and ``maxvals (N, K)`` (the first maximum in row-major order, as ``argmax``)."""
    n, k, h, w = heatmaps.shape
    maxvals, idx = heatmaps.reshape(n, k, h * w).max(dim=2)
    return idx % w, torch.div(idx, w, rounding_mode="floor"), maxvals


def _gather(maps: torch.Tensor, yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
    """``maps[n, k, yy[n, k], xx[n, k]]`` for ``(N, K, h, w)`` maps (indices clamped into range)."""
    n, k, h, w = maps.shape
    yy, xx = yy.clamp(0, h - 1), xx.clamp(0, w - 1)
    return maps.reshape(n, k, h * w).gather(2, (yy * w + xx).unsqueeze(2)).squeeze(2)


def gaussian_blur_heatmaps(heatmaps: torch.Tensor, kernel: int = 11, sigma: float | None = None) -> torch.Tensor:
    """DARK's heatmap smoothing, batched: one depthwise (separable) Gaussian convolution.

    Matches the reference ``gaussian_blur``: each map is zero-padded by
    ``(kernel - 1) // 2``, blurred with a ``kernel × kernel`` Gaussian whose σ, when not given,
    is OpenCV's automatic ``0.3·((kernel − 1)/2 − 1) + 0.8`` (2.0 for 11), cropped back and
    rescaled so that its maximum equals the original map's maximum. Unlike the reference, the
    input is not modified and a map whose blurred maximum is 0 (e.g. all zeros) is left
    unscaled instead of becoming NaN (``docs/differences.md``).

    Args:
        heatmaps: ``(N, K, h, w)`` floating tensor.
        kernel: odd kernel size.
        sigma: Gaussian σ in heatmap pixels; ``None`` for OpenCV's automatic value.

    Returns:
        ``(N, K, h, w)`` smoothed heatmaps, same dtype and device.
    """
    if kernel < 1 or kernel % 2 != 1:
        raise ValueError(f"blur kernel must be a positive odd size, got {kernel}")
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must have shape (N, K, h, w), got {tuple(heatmaps.shape)}")
    n, k, h, w = heatmaps.shape
    if sigma is None:
        sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8
    r = (kernel - 1) // 2
    t = torch.arange(kernel, dtype=heatmaps.dtype, device=heatmaps.device) - r
    g = torch.exp(-(t**2) / (2.0 * sigma * sigma))
    g = g / g.sum()
    # all maps as the channels of one image, blurred by a depthwise (grouped) convolution: on
    # CPU several times faster than a batch of single-channel images
    c = n * k
    x = heatmaps.reshape(1, c, h, w)
    x = torch.nn.functional.conv2d(x, g.view(1, 1, 1, kernel).expand(c, 1, 1, kernel), padding=(0, r), groups=c)
    x = torch.nn.functional.conv2d(x, g.view(1, 1, kernel, 1).expand(c, 1, kernel, 1), padding=(r, 0), groups=c)
    blurred = x.reshape(n, k, h, w)
    orig_max = heatmaps.reshape(n, k, -1).amax(dim=2)
    blur_max = blurred.reshape(n, k, -1).amax(dim=2)
    nonzero = blur_max != 0
    factor = torch.where(nonzero, orig_max / torch.where(nonzero, blur_max, torch.ones_like(blur_max)), torch.ones_like(blur_max))
    return blurred * factor[..., None, None]


def dark_refine(heatmaps: torch.Tensor, coords: torch.Tensor, kernel: int = 11) -> torch.Tensor:
    """DARK sub-pixel refinement (Zhang et al. 2020; the reference's ``POST_TYPE = 'dark'``), batched.

    The heatmaps are smoothed (:func:`gaussian_blur_heatmaps`), clamped to ≥ 1e-10 and
    log-transformed; at the integer position ``(px, py) = int(coords)`` of each joint, with
    ``1 < px < w − 2`` and ``1 < py < h − 2``, the reference's finite differences give the
    gradient ``(dx, dy)`` (half central differences) and Hessian (``dxx``/``dyy`` with step 2,
    ``dxy`` from the four diagonal neighbours, each × ¼), and the coordinate moves by
    ``−H⁻¹ ∇``. Joints outside that interior, or whose Hessian is singular, keep their
    coordinate. The blur runs in float32, the log and Taylor step in float64.

    Args:
        heatmaps: ``(N, K, h, w)`` raw (unblurred) predictions.
        coords: ``(N, K, 2)`` integer peak positions ``(x, y)`` in heatmap pixels (argmax).
        kernel: blur kernel size (11 in the reference).

    Returns:
        ``(N, K, 2)`` refined coordinates, in the dtype of ``coords``.
    """
    if heatmaps.ndim != 4 or coords.shape != heatmaps.shape[:2] + (2,):
        raise ValueError(
            f"dark_refine: heatmaps (N, K, h, w) and coords (N, K, 2) expected, got "
            f"{tuple(heatmaps.shape)} and {tuple(coords.shape)}"
        )
    h, w = heatmaps.shape[2], heatmaps.shape[3]
    # the blur in float32 (as OpenCV on the reference's float32 maps; float64 convolutions are
    # an order of magnitude slower on CPU), the log and the Taylor step in float64
    hm = gaussian_blur_heatmaps(heatmaps.to(torch.float32), kernel)
    c = coords.to(torch.float64)
    px = c[..., 0].trunc().long()
    py = c[..., 1].trunc().long()
    ok = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)

    def at(dy: int, dx: int) -> torch.Tensor:  # log of the blurred map, only where it is used
        return _gather(hm, py + dy, px + dx).to(torch.float64).clamp_min(1e-10).log()

    centre = at(0, 0)
    gx = 0.5 * (at(0, 1) - at(0, -1))
    gy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * centre + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * centre + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy**2
    ok = ok & (det != 0)
    safe_det = torch.where(ok, det, torch.ones_like(det))
    # −H⁻¹∇ with H⁻¹ = [[dyy, −dxy], [−dxy, dxx]] / det
    off_x = -(dyy * gx - dxy * gy) / safe_det
    off_y = -(-dxy * gx + dxx * gy) / safe_det
    off = torch.stack([off_x, off_y], dim=-1)
    ok = ok & torch.isfinite(off).all(dim=-1)
    out = c + torch.where(ok.unsqueeze(-1), off, torch.zeros_like(off))
    return out.to(coords.dtype)


def decode_heatmaps(heatmaps: torch.Tensor, method: str = "shift", *, blur_kernel: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmaps → peak coordinates and confidences, batched over ``(N, K)``.

    Args:
        heatmaps: ``(N, K, h, w)`` floating tensor (any device).
        method: sub-pixel refinement of the integer argmax:

            * ``"shift"`` (reference default): where ``1 < px < w − 1`` and ``1 < py < h − 1``,
              move 0.25 px towards the higher neighbour along each axis.
            * ``"dark"``: :func:`dark_refine` (Gaussian smoothing with ``blur_kernel``, log,
              Taylor step).
            * ``"argmax"``: no refinement.
        blur_kernel: DARK smoothing kernel (11 in the reference).

    Returns:
        ``coords (N, K, 2)`` (x, y) in heatmap pixels, in the heatmaps' dtype, and
        ``maxvals (N, K)``: the peak values of the *unblurred* maps. Channels whose peak is
        ≤ 0 get coordinates (0, 0), as in the reference decoder.
    """
    if method not in DECODERS:
        raise ConfigError(f"unknown decode method {method!r}; choose one of {DECODERS}")
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must have shape (N, K, h, w), got {tuple(heatmaps.shape)}")
    h, w = heatmaps.shape[2], heatmaps.shape[3]
    px, py, maxvals = argmax_heatmaps(heatmaps)
    positive = maxvals > 0
    dtype = heatmaps.dtype if heatmaps.is_floating_point() else torch.float32
    # The reference zeroes non-positive peaks before refinement; (0, 0) is then never refined.
    px, py = px * positive, py * positive
    coords = torch.stack([px, py], dim=-1).to(dtype)
    if method == "shift":
        interior = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
        ddx = _gather(heatmaps, py, px + 1) - _gather(heatmaps, py, px - 1)
        ddy = _gather(heatmaps, py + 1, px) - _gather(heatmaps, py - 1, px)
        step = torch.stack([torch.sign(ddx), torch.sign(ddy)], dim=-1).to(dtype)
        coords = coords + 0.25 * step * interior.unsqueeze(-1)
    elif method == "dark":
        coords = dark_refine(heatmaps, coords, blur_kernel)
    return coords, maxvals
