"""Top-down person records: the plain data every reader produces and every consumer reads.

A record is one person instance to crop: an image path, the person box expressed as a centre
and a scale (box size / ``PIXEL_STD``, padded to the network's aspect ratio and enlarged by the
padding factor), and K keypoints in original-image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PIXEL_STD", "PoseRecord", "box_to_center_scale", "sanitize_box"]

#: Box sizes are stored divided by this constant (the SimpleBaseline/HRNet convention).
PIXEL_STD = 200.0


@dataclass
class PoseRecord:
    """One person instance.

    Attributes:
        image_path: path of the image file.
        image_id: the COCO image id (used in results files and evaluation).
        center: ``(2,)`` float32 box centre ``(x, y)`` in image pixels.
        scale: ``(2,)`` float32 box ``(w, h) / PIXEL_STD`` after aspect padding and enlargement.
        keypoints: ``(K, 3)`` float32 ``(x, y, v)`` in image pixels; ``v`` is the COCO flag
            (0 = not labelled, 1 = labelled but occluded, 2 = visible). All zeros for
            detection boxes and unlabelled images.
        bbox: ``(4,)`` float32 the original ``(x, y, w, h)`` box (sanitised).
        box_score: detector score, 1.0 for ground-truth boxes.
        ann_id: annotation id for GT instances, -1 for detections.
        image_size: ``(width, height)`` of the image as given by the annotation file
            (0, 0 when unknown).
    """

    image_path: str
    image_id: int
    center: np.ndarray
    scale: np.ndarray
    keypoints: np.ndarray
    bbox: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    box_score: float = 1.0
    ann_id: int = -1
    image_size: tuple[int, int] = (0, 0)

    @property
    def num_keypoints(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def area(self) -> float:
        """Area of the padded box in pixels² (used by OKS-NMS, as in the reference code)."""
        return float(np.prod(self.scale * PIXEL_STD))


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
    box: np.ndarray, aspect_ratio: float, padding: float = 1.25
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
