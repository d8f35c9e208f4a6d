"""COCO-format keypoint files → top-down :class:`~semipose.data.records.PoseRecord` lists.

Two sources of person boxes:

* :func:`load_coco_keypoints` — ground-truth instances of a COCO-format keypoint file (COCO,
  COCO subsets, AI Challenger in COCO layout, any custom keypoint set). Kept: non-crowd
  instances of the keypoint category with at least one labelled keypoint and a non-empty box
  after clipping to the image. Missing ``area`` / ``iscrowd`` / ``num_keypoints``
  fields (as in AI Challenger conversions) are not needed.
* :func:`load_detections` — person-detector results (COCO results format) over the images of
  a COCO-format file (a keypoint file or an ``image_info`` file without annotations), kept
  above a score threshold; for evaluation with detector boxes and for unlabelled images.

Records come in the order of the file's ``images`` list, then of its ``annotations`` list —
the order that decides the papers' "first N instances" label subsets.
"""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError
from ..geometry import sanitize_box
from ..skeletons import Skeleton
from .cocojson import DEFAULT_SIGMA, as_int, as_numbers, images_by_id, read_coco_file, read_json
from .records import CocoKeypointSet, PoseRecord

__all__ = ["load_coco_keypoints", "load_detections"]

log = logging.getLogger(__name__)


def _record(
    root: Path, img: Mapping[str, Any], box: tuple[float, float, float, float], kpts: np.ndarray, *, score: float, ann_id: int,
    raw: np.ndarray | None = None,
) -> PoseRecord:
    """One record from an image entry and a box (``raw``: the file's box, when ``box`` is its
    sanitised version)."""
    return PoseRecord(
        image_path=str(root / img["file_name"]), image_id=int(img["id"]), bbox=np.asarray(box, dtype=np.float32),
        keypoints=kpts, box_score=score, ann_id=ann_id,
        image_size=(int(img.get("width", 0) or 0), int(img.get("height", 0) or 0)),
        raw_bbox=None if raw is None else np.asarray(raw, dtype=np.float32),
    )


def load_coco_keypoints(
    ann_file: str | os.PathLike[str],
    image_dir: str | os.PathLike[str],
    *,
    skeleton: Skeleton | str | Mapping[str, Any] | None = None,
    category_id: int | None = None,
    max_instances: int | None = None,
    default_sigma: float | None = DEFAULT_SIGMA,
) -> CocoKeypointSet:
    """Read the ground-truth person instances of a COCO-format keypoint file.

    Args:
        ann_file: COCO keypoint JSON.
        image_dir: folder the ``file_name`` entries are relative to.
        skeleton: the keypoint set; ``None`` reads it from the file's keypoint category.
            Every annotation must carry exactly ``3 * K`` keypoint numbers.
        category_id: the keypoint category to read (default: the one category with a
            ``keypoints`` list, or the one named ``person``).
        max_instances: keep only the first N instances in file order (label subsets).
        default_sigma: OKS sigma of every keypoint of a custom set whose category has none.

    Returns:
        A :class:`CocoKeypointSet`.

    Raises:
        DataFormatError: missing/malformed file, missing fields, keypoint-count mismatch
            (naming the file and the annotation id).
    """
    path = Path(ann_file)
    cf = read_coco_file(path, skeleton=skeleton, category_id=category_id, default_sigma=default_sigma)
    if cf.skeleton is None:
        raise DataFormatError(f"{path}: no category with a 'keypoints' list; give the skeleton in the config")
    sk, images, by_image = cf.skeleton, cf.images, cf.by_image
    k = sk.num_keypoints
    cat_id = cf.category.get("id") if cf.category is not None else None

    skipped = {"crowd": 0, "other category": 0, "no labelled keypoint": 0, "empty box": 0, "non-finite box": 0}
    records: list[PoseRecord] = []
    root = Path(image_dir)
    for img_id, img in images.items():
        img_w, img_h = int(img.get("width", 0) or 0), int(img.get("height", 0) or 0)
        for a in by_image.get(img_id, ()):
            ann_id = a.get("id", -1)
            if cat_id is not None and a.get("category_id", cat_id) != cat_id:
                skipped["other category"] += 1
                continue
            if a.get("iscrowd", 0):
                skipped["crowd"] += 1
                continue
            kp = a.get("keypoints")
            if kp is None:
                raise DataFormatError(f"{path}: annotation {ann_id} has no 'keypoints'")
            kpts = np.asarray(kp, np.float32).reshape(k, 3)  # checked by read_coco_file
            if not np.any(kpts[:, 2] > 0):
                skipped["no labelled keypoint"] += 1
                continue
            if a.get("bbox") is None:
                raise DataFormatError(f"{path}: annotation {ann_id} needs a 4-number 'bbox'")
            bbox = np.asarray(a["bbox"], np.float64)  # 4 numbers, checked
            if not np.isfinite(bbox).all():
                skipped["non-finite box"] += 1
                continue
            clean = sanitize_box(bbox[0], bbox[1], bbox[2], bbox[3], img_w, img_h)
            if clean is None:
                skipped["empty box"] += 1
                continue
            kpts[kpts[:, 2] <= 0] = 0.0
            records.append(_record(root, img, clean, kpts, score=1.0, ann_id=int(ann_id), raw=bbox))
            if max_instances is not None and len(records) >= max_instances:
                break
        if max_instances is not None and len(records) >= max_instances:
            break
    return CocoKeypointSet(records, sk, path, root, len(images), skipped).checked()


def load_detections(
    det_file: str | os.PathLike[str],
    image_file: str | os.PathLike[str],
    image_dir: str | os.PathLike[str],
    *,
    num_keypoints: int,
    score_thr: float = 0.0,
    category_id: int = 1,
) -> tuple[list[PoseRecord], dict[str, int]]:
    """Person-detector boxes as records.

    Args:
        det_file: COCO results JSON: a list of ``{"image_id", "category_id", "bbox", "score"}``.
        image_file: a COCO-format JSON whose ``images`` list gives file names and sizes (a
            keypoint file, or an ``image_info`` file with no annotations).
        image_dir: folder of the images.
        num_keypoints: K (records carry ``(K, 3)`` zero keypoints).
        score_thr: keep detections with ``score >= score_thr``.
        category_id: the person category in the results file.

    Returns:
        ``(records, skipped)`` — records in the order of the image list (then of the results
        file), and counts of what was skipped (other category, low score, unknown image,
        empty box, non-finite box); skips are logged. Boxes are used as the detector gave them
        (the reference's ``_box2cs`` of the raw box), not clipped by the ground-truth rule.

    Raises:
        DataFormatError: a field of the wrong type (a string image id, bbox or score), naming
            the file, the entry and the field.
    """
    dpath, ipath = Path(det_file), Path(image_file)
    dets = read_json(dpath)
    if not isinstance(dets, list):
        raise DataFormatError(f"{dpath}: expected a list of detection results")
    idata = read_json(ipath)
    if not isinstance(idata, Mapping):
        raise DataFormatError(f"{ipath}: expected a COCO JSON object")
    images = images_by_id(idata, ipath)
    skipped = {"other category": 0, "non-finite score": 0, "low score": 0, "unknown image": 0, "empty box": 0, "non-finite box": 0}
    by_image: dict[int, list[tuple[np.ndarray, float]]] = defaultdict(list)
    for i, d in enumerate(dets):
        if not isinstance(d, Mapping) or not {"image_id", "bbox", "score"} <= d.keys():
            raise DataFormatError(f"{dpath}: entry {i} needs 'image_id', 'bbox' and 'score'")
        where = f"entry {i}"
        image_id = as_int(d["image_id"], dpath, where, "image_id")
        if isinstance(d["score"], bool) or not isinstance(d["score"], (int, float)):
            raise DataFormatError(f"{dpath}: {where}: 'score' must be a number, got {d['score']!r:.60}")
        score = float(d["score"])
        bbox = as_numbers(d["bbox"], 4, dpath, where, "bbox")
        if as_int(d.get("category_id", category_id), dpath, where, "category_id") != category_id:
            skipped["other category"] += 1
            continue
        if not math.isfinite(score):
            skipped["non-finite score"] += 1
            continue
        if not score >= score_thr:
            skipped["low score"] += 1
            continue
        if image_id not in images:
            skipped["unknown image"] += 1
            continue
        by_image[image_id].append((bbox, score))
    records: list[PoseRecord] = []
    root = Path(image_dir)
    for img_id, img in images.items():
        for bbox, score in by_image.get(img_id, ()):
            # the raw detector box, as the reference crops it (no ground-truth clipping rule)
            if not np.isfinite(bbox).all():
                skipped["non-finite box"] += 1
                continue
            if bbox[2] <= 0 or bbox[3] <= 0:
                skipped["empty box"] += 1
                continue
            kpts = np.zeros((num_keypoints, 3), np.float32)
            records.append(_record(root, img, tuple(bbox), kpts, score=score, ann_id=-1))
    if any(skipped.values()):
        log.info(
            "%s: kept %d detections; skipped %s",
            dpath.name,
            len(records),
            ", ".join(f"{v} {k}" for k, v in skipped.items() if v),
        )
    if skipped["unknown image"]:
        log.warning("%s: %d detections refer to images not listed in %s", dpath, skipped["unknown image"], ipath)
    return records, skipped
