"""Top-down person records: the plain data every reader produces and every consumer reads.

A record is one person instance to crop: an image path, the person box expressed as a centre
and a scale (box size / ``PIXEL_STD``, padded to the network's aspect ratio and enlarged by the
padding factor), and K keypoints in original-image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry import PIXEL_STD
from ..skeletons import Skeleton

__all__ = ["PoseRecord", "CocoKeypointSet"]

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


@dataclass
class CocoKeypointSet:
    """Records read from one COCO-format file, with what was skipped and why."""

    records: list[PoseRecord]
    skeleton: Skeleton
    ann_file: Path
    image_dir: Path
    num_images: int
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def summary(self) -> str:
        skip = ", ".join(f"{v} {k}" for k, v in sorted(self.skipped.items()) if v) or "none"
        return (
            f"{self.ann_file.name}: {len(self.records)} instances from {self.num_images} images "
            f"({self.skeleton.name}, K={self.skeleton.num_keypoints}); skipped: {skip}"
        )
