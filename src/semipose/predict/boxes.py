"""Where ``semipose predict`` gets person boxes from.

* :class:`CocoBoxes` — a COCO-format annotation file (its ground-truth person boxes, read as
  ``semipose eval`` reads them), or detector results in the COCO results format (the
  ``--det-file`` format) over the images of a COCO-format file. Images are matched to the
  input files by file name, and keep the file's image ids, so the results can be evaluated
  against that file.
* :class:`PerImageBoxes` — a simple JSON: ``{"photo.jpg": [[x, y, w, h], [x, y, w, h, score],
  ...], ...}``.
* :class:`WholeImage` — one box covering each image.
* :class:`DetectorBoxes` — a person detector run on each image (``--detector``).

Each answers :meth:`lookup` with the crops of one image (centre/scale as the records hold
them), or None when the image is not in the file. A file's entries are matched to an input
image by the longest common end of their paths (:class:`PathIndex`): ``val/vidA/000000.jpg``
and ``val/vidB/000000.jpg`` go to their own entries; a base name that fits several entries
equally well is an error naming them, never a guess.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from ..data.coco import load_coco_keypoints, load_detections
from ..data.cocojson import read_json
from ..detect.base import Detector, as_detections
from ..errors import DataFormatError, SourceError
from ..geometry import box_to_center_scale

__all__ = ["ImageBoxes", "BoxSource", "WholeImage", "DetectorBoxes", "CocoBoxes", "PerImageBoxes", "PathIndex", "box_source_for"]

T = TypeVar("T")


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.replace("\\", "/").split("/") if p not in ("", "."))


class PathIndex(Generic[T]):
    """File names of a box file → values, looked up by an input image's path.

    The entry whose path shares the longest end with the input's (absolute) path wins:
    ``images/val/vidA/000000.jpg`` matches ``/data/pt/images/val/vidA/000000.jpg`` by four
    parts and ``…/vidB/000000.jpg`` by one. A tie between several entries at the best length
    raises :class:`SourceError` naming them.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self._by_base: dict[str, list[tuple[tuple[str, ...], T]]] = {}

    def add(self, file_name: str, value: T) -> None:
        parts = _parts(str(file_name))
        if parts:
            self._by_base.setdefault(parts[-1], []).append((parts, value))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_base.values())

    def knows(self, path: str) -> bool:
        return os.path.basename(path) in self._by_base

    def find(self, path: str) -> T | None:
        """The value of the entry matching ``path`` (None when no entry has its base name)."""
        cands = self._by_base.get(os.path.basename(path))
        if not cands:
            return None
        if len(cands) == 1:
            return cands[0][1]
        want = _parts(os.path.abspath(path))

        def common(parts: tuple[str, ...]) -> int:
            n = 0
            while n < min(len(parts), len(want)) and parts[-1 - n] == want[-1 - n]:
                n += 1
            return n

        scored = [(common(p), p, v) for p, v in cands]
        best = max(s for s, _, _ in scored)
        top = [(p, v) for s, p, v in scored if s == best]
        if len(top) > 1:
            names = ", ".join("/".join(p) for p, _ in top[:3])
            raise SourceError(
                f"{path}: {len(top)} entries of {self.file} fit this file name equally well ({names}{', ...' if len(top) > 3 else ''}); "
                "give the image inside the folders that tell them apart"
            )
        return top[0][1]


@dataclass
class ImageBoxes:
    """The persons to crop in one image.

    Attributes:
        image_id: the image id to write (the box file's, or None: assigned by the caller).
        centers, scales: ``(P, 2)`` crop boxes.
        boxes: ``(P, 4)`` the person boxes ``(x, y, w, h)``.
        scores: ``(P,)`` box scores.
    """

    image_id: int | None
    centers: np.ndarray
    scales: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray


class BoxSource:
    """Base: ``lookup(path, (width, height), image) -> ImageBoxes | None`` (``image``: the BGR
    pixels, for sources that look at them)."""

    description = "boxes"
    file: str | None = None

    def lookup(self, path: str, size: tuple[int, int], image: np.ndarray | None = None) -> ImageBoxes | None:  # pragma: no cover
        raise NotImplementedError

    def knows(self, path: str) -> bool:
        """Whether the file lists this image at all (a box file for other images is an error)."""
        return True


class WholeImage(BoxSource):
    """One box per image: the whole image."""

    description = "whole image"

    def __init__(self, aspect: float, padding: float) -> None:
        self.aspect, self.padding = aspect, padding

    def lookup(self, path: str, size: tuple[int, int], image: np.ndarray | None = None) -> ImageBoxes:
        box = np.array([[0.0, 0.0, size[0], size[1]]], np.float32)
        c, s = box_to_center_scale(box, self.aspect, self.padding)
        return ImageBoxes(None, c, s, box, np.ones(1, np.float32))


class DetectorBoxes(BoxSource):
    """The boxes a :class:`~semipose.detect.base.Detector` finds on each image; counts what it kept."""

    def __init__(self, detector: Detector, *, aspect: float, padding: float) -> None:
        self.detector, self.aspect, self.padding = detector, aspect, padding
        self.description = getattr(detector, "description", type(detector).__name__)
        self.kept = self.images = 0

    def lookup(self, path: str, size: tuple[int, int], image: np.ndarray | None = None) -> ImageBoxes:
        if image is None:
            raise SourceError(f"{path}: a detector needs the image")
        b, s = as_detections(self.detector(image), self.description)
        self.kept += len(b)
        self.images += 1
        z2 = np.zeros((0, 2), np.float32)
        c, sc = box_to_center_scale(b, self.aspect, self.padding) if len(b) else (z2, z2)
        return ImageBoxes(None, c, sc, b, s)


class CocoBoxes(BoxSource):
    """Boxes of a COCO-format file: ground truth, or detector results over its images.

    Args:
        ann_file: COCO-format JSON (a keypoint file, or an ``image_info`` file with ``det_file``).
        det_file: detector results (a list of ``{"image_id", "bbox", "score"}``), or None for
            the ground-truth boxes of ``ann_file``.
        aspect, padding: the model's crop aspect ratio and box padding.
        score_thr: keep detections scoring at least this.
    """

    def __init__(self, ann_file: str, det_file: str | None, *, aspect: float, padding: float, score_thr: float = 0.0) -> None:
        self.file = det_file or ann_file
        self.aspect, self.padding = aspect, padding
        if det_file:
            records, _ = load_detections(det_file, ann_file, "", num_keypoints=1, score_thr=score_thr)
            self.description = f"detector boxes of {det_file} (score ≥ {score_thr}: {len(records)} kept)"
        else:
            records = load_coco_keypoints(ann_file, "", skeleton=None).records
            self.description = f"ground-truth boxes of {ann_file}"
        info = read_json(ann_file)
        self.images: PathIndex[Mapping[str, Any]] = PathIndex(ann_file)
        for im in info.get("images", []) if isinstance(info, Mapping) else []:
            if isinstance(im, Mapping) and "file_name" in im:
                self.images.add(str(im["file_name"]), im)
        self.by_image: dict[int, list[Any]] = {}
        for r in records:
            self.by_image.setdefault(int(r.image_id), []).append(r)

    def knows(self, path: str) -> bool:
        return self.images.knows(path)

    def lookup(self, path: str, size: tuple[int, int], image: np.ndarray | None = None) -> ImageBoxes | None:
        im = self.images.find(path)
        if im is None:
            return None
        recs = self.by_image.get(int(im["id"]), [])
        if not recs:
            z2 = np.zeros((0, 2), np.float32)
            return ImageBoxes(int(im["id"]), z2, z2, np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        crops = [r.crop_box(self.aspect, self.padding) for r in recs]
        return ImageBoxes(
            int(im["id"]), np.stack([c for c, _ in crops]), np.stack([s for _, s in crops]),
            np.stack([r.result_box for r in recs]).astype(np.float32), np.array([r.box_score for r in recs], np.float32),
        )


class PerImageBoxes(BoxSource):
    """``{"file name": [[x, y, w, h(, score)], ...]}`` (matched by file name)."""

    def __init__(self, path: str, *, aspect: float, padding: float) -> None:
        self.file = path
        self.description = f"boxes of {path}"
        data = read_json(path)
        if not isinstance(data, Mapping):
            raise DataFormatError(f"{path}: expected {{\"file name\": [[x, y, w, h(, score)], ...]}} (or a COCO-format file)")
        self.entries: PathIndex[ImageBoxes] = PathIndex(path)
        for name, boxes in data.items():
            arr = _box_array(boxes, path, name)
            b, s = arr[:, :4], (arr[:, 4] if arr.shape[1] == 5 else np.ones(len(arr), np.float32))
            c, sc = box_to_center_scale(b, aspect, padding) if len(b) else (np.zeros((0, 2), np.float32),) * 2
            self.entries.add(str(name), ImageBoxes(None, c, sc, b, s.astype(np.float32)))

    def knows(self, path: str) -> bool:
        return self.entries.knows(path)

    def lookup(self, path: str, size: tuple[int, int], image: np.ndarray | None = None) -> ImageBoxes | None:
        return self.entries.find(path)


def _box_array(boxes: Any, path: str, name: str) -> np.ndarray:
    if not isinstance(boxes, list) or not all(isinstance(b, list) and len(b) in (4, 5) for b in boxes):
        raise DataFormatError(f"{path}: entry {name!r}: expected a list of [x, y, w, h] or [x, y, w, h, score] boxes")
    try:
        arr = np.asarray(boxes, np.float32).reshape(len(boxes), -1) if boxes else np.zeros((0, 4), np.float32)
    except (TypeError, ValueError):
        raise DataFormatError(f"{path}: entry {name!r}: box values must be numbers") from None
    if len(arr) and arr.shape[1] not in (4, 5):
        raise DataFormatError(f"{path}: entry {name!r}: all boxes of an image need the same length (4 or 5)")
    if not np.isfinite(arr).all() or (len(arr) and (arr[:, 2:4] <= 0).any()):
        raise DataFormatError(f"{path}: entry {name!r}: boxes need finite values and positive width and height")
    return arr


def box_source_for(path: str, det_file: str | None, *, aspect: float, padding: float, score_thr: float = 0.0) -> BoxSource:
    """:class:`CocoBoxes` for a COCO-format file (or detections + one), else :class:`PerImageBoxes`."""
    if det_file:
        return CocoBoxes(path, det_file, aspect=aspect, padding=padding, score_thr=score_thr)
    data = read_json(path)
    if isinstance(data, Mapping) and "images" in data:
        return CocoBoxes(path, None, aspect=aspect, padding=padding)
    if isinstance(data, list):
        raise DataFormatError(f"{path}: a list of detections needs the images they refer to: give it as --det-file with --boxes IMAGE_INFO.json")
    return PerImageBoxes(path, aspect=aspect, padding=padding)

