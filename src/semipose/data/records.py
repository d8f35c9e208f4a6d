"""Top-down person records: the plain data every reader produces and every consumer reads.

A record is one person instance to crop: an image path, the raw person box and K keypoints in
original-image pixels. The crop's aspect ratio and padding are the transform's
(:meth:`PoseRecord.crop_box`), so one reading of a file serves any input size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from ..geometry import box_to_center_scale
from ..skeletons import Skeleton

__all__ = ["PoseRecord", "CocoKeypointSet"]

log = logging.getLogger(__name__)

@dataclass
class PoseRecord:
    """One person instance.

    Attributes:
        image_path: path of the image file.
        image_id: the COCO image id (used in results files and evaluation).
        bbox: ``(4,)`` float32 the person box ``(x, y, w, h)`` (ground truth: sanitised; detector:
            as given; MPII: the square of side ``scale · 200`` around the shifted centre).
        keypoints: ``(K, 3)`` float32 ``(x, y, v)`` in image pixels; ``v`` is the COCO flag
            (0 = not labelled, 1 = labelled but occluded, 2 = visible). All zeros for
            detection boxes and unlabelled images.
        box_score: detector score, 1.0 for ground-truth boxes.
        ann_id: annotation id for GT instances, -1 for detections.
        image_size: ``(width, height)`` of the image as given by the annotation file
            (0, 0 when unknown).
        padding: this person's box enlargement when it is not the crop's (MPII entries without
            a centre are not enlarged, as in the reference); None: the crop's.
        raw_bbox: ``(4,)`` the box exactly as the file gives it, where ``bbox`` was sanitised
            (ground truth); None: ``bbox`` is the file's. Results carry it (:attr:`result_box`),
            as the reference writes the annotation's box.
    """

    image_path: str
    image_id: int
    bbox: np.ndarray
    keypoints: np.ndarray
    box_score: float = 1.0
    ann_id: int = -1
    image_size: tuple[int, int] = (0, 0)
    padding: float | None = None
    raw_bbox: np.ndarray | None = None

    @property
    def result_box(self) -> np.ndarray:
        """The box a result of this person carries: the file's own (``raw_bbox``), else ``bbox``."""
        return self.bbox if self.raw_bbox is None else self.raw_bbox

    @property
    def num_keypoints(self) -> int:
        return int(self.keypoints.shape[0])

    def crop_box(self, aspect_ratio: float, padding: float) -> tuple[np.ndarray, np.ndarray]:
        """The crop of this person: ``center (2,)`` and ``scale (2,)`` float32, the box padded to
        ``aspect_ratio = W / H`` and enlarged by ``padding`` (or the record's own)
        (:func:`~semipose.geometry.box_to_center_scale`)."""
        return box_to_center_scale(self.bbox, aspect_ratio, padding if self.padding is None else self.padding)


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

    def checked(self) -> CocoKeypointSet:
        """This set, its summary logged; an empty set is an error naming the file.

        Raises:
            DataFormatError: no usable person instances.
        """
        if not self.records:
            raise DataFormatError(f"{self.ann_file}: no usable person instances ({self.summary()})")
        log.info("%s", self.summary())
        return self
