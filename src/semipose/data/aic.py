"""AI Challenger keypoints in the official JSON layout → records, and → COCO format for COCOeval.

The official annotation file (``keypoint_<set>_annotation.json``) is a list with one entry per
image::

    {"image_id": "<sha1>",                       # the image is <image_id>.jpg
     "keypoint_annotations": {"human1": [x, y, v] × 14, ...},
     "human_annotations":    {"human1": [x1, y1, x2, y2], ...}}

in the :data:`~semipose.skeletons.AIC14` joint order, with the AIC flag ``v``: 1 = visible,
2 = occluded, 3 = not labelled. Converted to the COCO flag used everywhere in semipose:
1 → 2, 2 → 1, 3 → 0 (:data:`AIC_TO_COCO_VISIBILITY`). The reference loader
(``ai_challenger.py``) counts flags 1 and 2 as labelled, as this does.

Records (:func:`load_aic`): box ``[x1, y1, x2 − x1, y2 − y1]`` (not clipped, as the
reference), then the COCO centre/scale rule (aspect padding, /200, ×1.25). Unlike the reference,
people with no labelled keypoint and degenerate boxes are skipped (and counted), as the COCO
reader does. Image ids are the 1-based positions of the images in the file, the same ids
:func:`aic_to_coco` writes, so records and the converted ground truth line up.

:func:`aic_to_coco` writes a COCO keypoint file for pycocotools' COCOeval. With the AIC
constants as sigmas (:data:`~semipose.skeletons.AIC14`) COCOeval's per-pair OKS equals the
official AIC OKS ``exp(−d² / (2 δ² (s + 1)))``, δ = 2σ, s = box area, when the GT
``area`` is the box area + 1 (the default) and — since the official OKS uses only *visible*
joints — occluded joints are left out (``occluded_as_labelled=False``); checked pair by pair in
``tests/data/test_aic.py``. Two differences remain: a ground truth with no visible joint has
official OKS 0 and counts as a miss, while COCOeval ignores it; and the AP that COCOeval computes
is COCO's precision/recall AP, not the official AIC score (which matches each ground truth to its
best prediction and divides by max(#gt, #pred)).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError
from ..skeletons import AIC14
from .cocojson import read_json
from .records import CocoKeypointSet, PoseRecord

__all__ = ["AIC_TO_COCO_VISIBILITY", "load_aic", "aic_to_coco"]

log = logging.getLogger(__name__)

NUM_JOINTS = 14
#: AIC visibility flag → COCO flag (1 visible → 2, 2 occluded → 1, 3 unlabelled → 0).
AIC_TO_COCO_VISIBILITY: dict[int, int] = {1: 2, 2: 1, 3: 0}


def _entries(data: Any, src: str) -> list[Mapping[str, Any]]:
    if not isinstance(data, list):
        raise DataFormatError(f"{src}: expected the official AIC list of image entries, got {type(data).__name__}")
    for i, e in enumerate(data):
        if not isinstance(e, Mapping):
            raise DataFormatError(f"{src}: entry {i} is not an object")
        for key in ("image_id", "keypoint_annotations", "human_annotations"):
            if key not in e:
                raise DataFormatError(f"{src}: entry {i} ({e.get('image_id', '?')}): missing '{key}'")
        for key in ("keypoint_annotations", "human_annotations"):
            if not isinstance(e[key], Mapping):
                raise DataFormatError(f"{src}: entry {i} ({e['image_id']}): '{key}' must be an object")
    return list(data)


def _person(entry: Mapping[str, Any], key: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(14, 3)`` keypoints with COCO flags (unlabelled zeroed) and the ``(4,)`` x1 y1 x2 y2 box."""
    kp = entry["keypoint_annotations"][key]
    if not isinstance(kp, Sequence) or len(kp) != 3 * NUM_JOINTS:
        n = len(kp) if isinstance(kp, Sequence) else type(kp).__name__
        raise DataFormatError(f"{where}: {n} keypoint numbers, expected {3 * NUM_JOINTS}")
    if key not in entry["human_annotations"]:
        raise DataFormatError(f"{where}: no box in 'human_annotations'")
    box = entry["human_annotations"][key]
    try:
        k = np.asarray(kp, dtype=np.float64).reshape(NUM_JOINTS, 3)
        b = np.asarray(box, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataFormatError(f"{where}: non-numeric keypoints or box ({e})") from e
    if b.shape != (4,):
        raise DataFormatError(f"{where}: box must be [x1, y1, x2, y2], got {box!r}")
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(b))):
        raise DataFormatError(f"{where}: non-finite keypoint or box values")
    flags = k[:, 2]
    bad = ~np.isin(flags, list(AIC_TO_COCO_VISIBILITY))
    if bad.any():
        raise DataFormatError(f"{where}: visibility flags must be 1, 2 or 3, got {sorted(set(flags[bad].tolist()))}")
    out = k.copy()
    out[:, 2] = [AIC_TO_COCO_VISIBILITY[int(f)] for f in flags]
    out[out[:, 2] == 0] = 0.0
    return out, b


def load_aic(
    ann_file: str | os.PathLike[str],
    image_dir: str | os.PathLike[str],
    *,
    max_instances: int | None = None,
) -> CocoKeypointSet:
    """Read the ground-truth people of an official-format AI Challenger annotation file.

    Args:
        ann_file: the official JSON list.
        image_dir: folder holding ``<image_id>.jpg``.
        max_instances: keep only the first N people in file order.

    Returns:
        A :class:`~semipose.data.coco.CocoKeypointSet` with skeleton
        :data:`~semipose.skeletons.AIC14`; ``(14, 3)`` keypoints with COCO flags; ``image_id``
        = 1-based image position in the file, ``ann_id`` = 1-based person position (both as in
        :func:`aic_to_coco`).

    Raises:
        DataFormatError: missing/malformed file or entry (naming the file, the entry index,
            the image id and the person key).
    """
    path = Path(ann_file)
    entries = _entries(read_json(path), str(path))
    root = Path(image_dir)
    skipped = {"no labelled keypoint": 0, "empty box": 0}
    records: list[PoseRecord] = []
    ann_id = 0
    for i, e in enumerate(entries):
        for key in e["keypoint_annotations"]:
            ann_id += 1
            kpts, (x1, y1, x2, y2) = _person(e, key, f"{path}: entry {i} ({e['image_id']}), {key}")
            if not np.any(kpts[:, 2] > 0):
                skipped["no labelled keypoint"] += 1
                continue
            if x2 <= x1 or y2 <= y1:
                skipped["empty box"] += 1
                continue
            box = np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)
            records.append(
                PoseRecord(
                    image_path=str(root / f"{e['image_id']}.jpg"), image_id=i + 1, bbox=box,
                    keypoints=kpts.astype(np.float32), box_score=1.0, ann_id=ann_id,
                )
            )
            if max_instances is not None and len(records) >= max_instances:
                break
        if max_instances is not None and len(records) >= max_instances:
            break
    return CocoKeypointSet(records, AIC14, path, root, len(entries), skipped).checked()


def aic_to_coco(
    official: str | os.PathLike[str] | Sequence[Mapping[str, Any]],
    out_json: str | os.PathLike[str] | None = None,
    *,
    area_plus_one: bool = True,
    occluded_as_labelled: bool = True,
) -> dict[str, Any]:
    """Convert an official-format AIC annotation list to a COCO keypoint dict (and file).

    Args:
        official: the official JSON file, or its parsed list.
        out_json: where to write the COCO JSON (parent folders created); ``None`` writes nothing.
        area_plus_one: GT ``area`` = box area + 1, so that COCOeval's OKS equals the official
            AIC OKS (which divides by ``s + 1``); ``False`` writes the plain box area.
        occluded_as_labelled: keep occluded joints (COCO flag 1). ``False`` drops them (flag
            0), matching the official OKS, which uses visible joints only.

    Returns:
        ``{"images", "annotations", "categories"}``: images ``{"id": position (1-based),
        "file_name": "<image_id>.jpg"}``; one annotation per person (all of them, including
        people with no labelled keypoint, whom COCOeval ignores) with ``bbox`` ``[x1, y1,
        x2 − x1, y2 − y1]``, ``area``, ``iscrowd`` 0, ``num_keypoints``, ``keypoints`` (42
        numbers, COCO flags, unlabelled joints zeroed), ``category_id`` 1 and ``aic_human``
        (the official person key, ignored by pycocotools); one ``person`` category with the
        AIC-14 names and 1-based skeleton.

    Raises:
        DataFormatError: malformed input (naming the source, entry, image id and person key).
    """
    if isinstance(official, (str, os.PathLike)):
        src = str(official)
        entries = _entries(read_json(official), src)
    else:
        src = "<AIC annotation list>"
        entries = _entries(list(official), src)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for i, e in enumerate(entries):
        images.append({"id": i + 1, "file_name": f"{e['image_id']}.jpg"})
        for key in e["keypoint_annotations"]:
            kpts, (x1, y1, x2, y2) = _person(e, key, f"{src}: entry {i} ({e['image_id']}), {key}")
            if not occluded_as_labelled:
                kpts[kpts[:, 2] == 1] = 0.0
            w, h = float(x2 - x1), float(y2 - y1)
            anns.append({
                "id": len(anns) + 1,
                "image_id": i + 1,
                "category_id": 1,
                "bbox": [float(x1), float(y1), w, h],
                "area": w * h + (1.0 if area_plus_one else 0.0),
                "iscrowd": 0,
                "num_keypoints": int((kpts[:, 2] > 0).sum()),
                "keypoints": [float(v) if j % 3 < 2 else int(v) for j, v in enumerate(kpts.reshape(-1))],
                "aic_human": str(key),
            })
    coco = {
        "images": images,
        "annotations": anns,
        "categories": [{
            "id": 1, "name": "person", "supercategory": "person",
            "keypoints": list(AIC14.keypoints),
            "skeleton": [[a + 1, b + 1] for a, b in AIC14.edges],
        }],
    }
    if out_json is not None:
        out = Path(out_json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(coco))
    return coco
