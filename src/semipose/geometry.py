"""Box and crop geometry (numpy only): the ``PIXEL_STD`` box convention, box → centre/scale,
and the similarity transforms between an image and a crop.

The SimpleBaseline convention: a person box given by ``center`` and ``scale`` (box size /
``PIXEL_STD``) is mapped onto the crop by a rotation of ``rot`` degrees (positive =
counter-clockwise on screen) and the uniform zoom ``crop_width / (scale_x · PIXEL_STD)``;
the box centre lands on the crop centre ``(W/2, H/2)``. :func:`affine_matrix` builds those
2×3 matrices in closed form for a whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PIXEL_STD", "DEFAULT_INPUT_SIZE", "DEFAULT_PADDING", "sanitize_box", "box_to_center_scale", "affine_matrix", "apply_affine"]

#: Box sizes are stored divided by this constant (the SimpleBaseline/HRNet convention).
PIXEL_STD = 200.0
#: the network input ``(W, H)`` of the seeds' COCO experiments (and of a reference checkpoint without ``--input-size``)
DEFAULT_INPUT_SIZE: tuple[int, int] = (192, 256)
#: person boxes are enlarged by this factor before cropping (the reference's 1.25)
DEFAULT_PADDING = 1.25


def sanitize_box(x: float, y: float, w: float, h: float, img_w: int, img_h: int) -> tuple[float, float, float, float] | None:
    """Clip an ``(x, y, w, h)`` box to the image; ``None`` if nothing is left.

    Follows the COCO keypoint loaders of the reference code: x1 = max(0, x), x2 = min(W - 1,
    x1 + max(0, w - 1)) (likewise y), kept when the clipped box has positive extent. When the
    image size is unknown (0), only the lower clip applies.
    """
    x1, y1 = max(0.0, float(x)), max(0.0, float(y))
    x2 = x1 + max(0.0, float(w) - 1.0)
    y2 = y1 + max(0.0, float(h) - 1.0)
    if img_w > 0:
        x2 = min(float(img_w) - 1.0, x2)
    if img_h > 0:
        y2 = min(float(img_h) - 1.0, y2)
    if x2 < x1 or y2 < y1 or (x2 - x1) * (y2 - y1) <= 0:
        return None
    return x1, y1, x2 - x1, y2 - y1


def box_to_center_scale(
    box: np.ndarray, aspect_ratio: float, padding: float = DEFAULT_PADDING
) -> tuple[np.ndarray, np.ndarray]:
    """Convert ``(..., 4)`` ``(x, y, w, h)`` boxes to centres and scales.

    The box is padded to ``aspect_ratio = W_in / H_in`` (the wider side is kept), divided by
    :data:`PIXEL_STD` and multiplied by ``padding``.

    Returns:
        ``center (..., 2)`` and ``scale (..., 2)``, float32.
    """
    box = np.asarray(box, dtype=np.float64)
    x, y, w, h = box[..., 0], box[..., 1], box[..., 2], box[..., 3]
    center = np.stack([x + w * 0.5, y + h * 0.5], axis=-1)
    w2 = np.where(w > aspect_ratio * h, w, h * aspect_ratio)
    h2 = np.where(w > aspect_ratio * h, w / aspect_ratio, h)
    scale = np.stack([w2, h2], axis=-1) / PIXEL_STD * padding
    return center.astype(np.float32), scale.astype(np.float32)


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
