"""The hard view's geometry: a random affine per sample, applied on the device to images and
to heatmaps so that they stay aligned.

Shape symbols: N samples, C channels, K keypoints, ``[H, W]`` image size, ``[h, w]`` heatmap
size, ``stride = W / w``.

Conventions. A transform is stored as a pixel-space matrix ``M`` of shape ``(N, 2, 3)`` that
maps **output** (hard-view) image coordinates to **input** (easy-view) image coordinates, the
direction :func:`torch.nn.functional.grid_sample` needs::

    x_easy = M[:, :, :2] @ x_hard + M[:, :, 2]

Pixel ``i`` has its centre at coordinate ``i``; heatmap coordinate ``u`` corresponds to image
coordinate ``u · stride`` (the codec's convention, :class:`semipose.codec.HeatmapCodec`).

What differs from the reference: the reference passes the OpenCV rotation
matrix directly as ``affine_grid``'s normalised θ, which on a non-square crop is a rotation
plus a shear (x and y are normalised by different sizes), and rotates the image and the
heatmap about centres 1.5 input pixels apart. Here the rotation and scale are built in pixels
and converted to θ for each tensor size separately, so a keypoint lands at the same place in
the warped image and in the warped heatmap, on any H×W. ``reference=True``
(``ssl.reference_geometry``) gives the reference's geometry exactly, for reproducing its
tables: :func:`hard_affine_matrix` then makes the matrix whose image θ is OpenCV's
``getRotationMatrix2D((0, 0), r, s)``, and :func:`warp` warps heatmaps with the image's θ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..params import HardAffineParams, scale_rotation

__all__ = ["sample_hard_affine", "hard_affine_matrix", "affine_to_theta", "warp", "warp_points", "invert_affine", "compose_affine"]


def sample_hard_affine(
    n: int, image_size: tuple[int, int], params: HardAffineParams, *, generator: torch.Generator, device: torch.device | str | None = None,
    reference: bool = False,
) -> Tensor:
    """Draw ``n`` random scale/rotation transforms about the image centre.

    Args:
        n: batch size.
        image_size: ``(W, H)`` of the images the transform applies to.
        params: ranges.
        generator: the only source of randomness (on ``device``).
        reference: the reference's matrix (see :func:`hard_affine_matrix`).

    Returns:
        ``(n, 2, 3)`` float32 pixel-space matrices, output → input (see module docstring).
    """
    device = torch.device(device) if device is not None else generator.device
    z = torch.randn(n, 2, generator=generator, device=device)
    u = torch.rand(n, generator=generator, device=device)
    s, r = scale_rotation(z[:, 0], z[:, 1], u, params)
    return hard_affine_matrix(s, r, image_size, reference=reference)


def hard_affine_matrix(s: Tensor, r: Tensor, image_size: tuple[int, int], *, reference: bool = False) -> Tensor:
    """The hard-view matrices of scales ``s`` and rotations ``r`` (degrees), both ``(N,)``.

    Corrected (default): ``x_in = s·R(r)(x_out − c) + c`` in pixels about the image centre ``c``
    (a true rotation and scale on any H×W). ``reference=True``: the matrix whose
    :func:`affine_to_theta` for the image is ``[[s cos r, s sin r, 0], [−s sin r, s cos r, 0]]``,
    the OpenCV ``getRotationMatrix2D((0, 0), r, s)`` the reference passes to ``affine_grid`` as
    θ (normalised x and y: a rotation plus a shear on a non-square crop).

    Returns:
        ``(N, 2, 3)`` float32 pixel-space matrices, output → input.
    """
    a = torch.deg2rad(r.float())
    cos, sin = torch.cos(a) * s, torch.sin(a) * s
    w, h = image_size
    lin = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], 1)  # (N, 2, 2)
    if reference:  # θ_lin[i, j] = lin[i, j] · a_j / a_i (affine_to_theta) solved for lin, a = (W/2, H/2)
        half = torch.tensor([w / 2.0, h / 2.0], device=lin.device)
        lin = lin * half[None, :, None] / half[None, None, :]
    c = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], device=lin.device)
    t = c - lin @ c  # about the image centre: θ's translation is 0
    return torch.cat([lin, t[..., None]], dim=2).float()


def affine_to_theta(m: Tensor, size: tuple[int, int], stride: float = 1.0) -> Tensor:
    """Convert image-pixel matrices to ``affine_grid`` θ for a tensor of ``size`` = ``(H, W)``.

    The tensor's pixel ``u`` is image coordinate ``u · stride`` (``stride = 1`` for the image
    itself, the heatmap stride for heatmaps); ``align_corners=False`` normalisation.

    Args:
        m: ``(N, 2, 3)`` output → input matrices in image pixels.
        size: ``(H, W)`` of the tensor to warp.
        stride: image pixels per tensor pixel.

    Returns:
        ``(N, 2, 3)`` θ in normalised coordinates.
    """
    h, w = size
    # tensor pixel u ↔ normalised x_n: u = a·x_n + b, a = W/2, b = (W − 1)/2; image coord = stride·u
    a = torch.tensor([w / 2.0, h / 2.0], device=m.device, dtype=m.dtype)
    b = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], device=m.device, dtype=m.dtype)
    lin = m[:, :, :2]
    t = m[:, :, 2] / stride  # the translation in tensor pixels
    theta_lin = lin * a[None, None, :] / a[None, :, None]
    theta_t = ((lin @ b) + t - b) / a
    return torch.cat([theta_lin, theta_t[:, :, None]], dim=2)


def warp(x: Tensor, m: Tensor, stride: float = 1.0, *, mode: str = "bilinear", reference: bool = False) -> Tensor:
    """Resample ``x`` with the per-sample transforms ``m``; outside the input is zero.

    Args:
        x: ``(N, C, H', W')`` images (``stride = 1``) or heatmaps (``stride`` = heatmap stride).
        m: ``(N, 2, 3)`` output → input matrices in image pixels.
        reference: warp with the θ of the image (``H' · stride`` × ``W' · stride``), as the
            reference warps its heatmaps (off-centre by up to 0.66 heatmap pixels); no change
            for images.

    Returns:
        ``(N, C, H', W')``, the hard view.
    """
    size = (x.shape[2], x.shape[3])
    if reference and stride != 1.0:
        size, stride = (round(size[0] * stride), round(size[1] * stride)), 1.0
    theta = affine_to_theta(m.to(torch.float32), size, stride)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid.to(x.dtype), mode=mode, padding_mode="zeros", align_corners=False)


def invert_affine(m: Tensor) -> Tensor:
    """``(N, 2, 3)`` inverse transforms (input → output)."""
    lin = m[:, :, :2]
    inv = torch.linalg.inv(lin)
    t = -(inv @ m[:, :, 2:])
    return torch.cat([inv, t], dim=2)


def compose_affine(a: Tensor, b: Tensor) -> Tensor:
    """``(N, 2, 3)`` transforms ``x ↦ a(b(x))`` (``b`` first)."""
    lin = a[:, :, :2] @ b[:, :, :2]
    t = a[:, :, :2] @ b[:, :, 2:] + a[:, :, 2:]
    return torch.cat([lin, t], dim=2)


def warp_points(points: Tensor, m: Tensor) -> Tensor:
    """Where easy-view points land in the hard view.

    Args:
        points: ``(N, K, 2)`` easy-view image coordinates (x, y).
        m: ``(N, 2, 3)`` output → input matrices (as drawn by :func:`sample_hard_affine`).

    Returns:
        ``(N, K, 2)`` hard-view image coordinates.
    """
    inv = invert_affine(m)
    return points @ inv[:, :, :2].transpose(1, 2) + inv[:, None, :, 2]

