"""COCO-format keypoint files → top-down :class:`~semipose.data.records.PoseRecord` lists.

Two sources of person boxes:

* :func:`load_coco_keypoints` — ground-truth instances of a COCO-format keypoint file (COCO,
  COCO subsets, AI Challenger in COCO layout, any custom keypoint set). Kept: non-crowd
  instances of the keypoint category with at least one labelled keypoint and a non-empty box
  after clipping to the image (spec §2.3). Missing ``area`` / ``iscrowd`` / ``num_keypoints``
  fields (as in AI Challenger conversions) are not needed.
* :func:`load_detections` — person-detector results (COCO results format) over the images of
  a COCO-format file (a keypoint file or an ``image_info`` file without annotations), kept
  above a score threshold; for evaluation with detector boxes and for unlabelled images.

Records come in the order of the file's ``images`` list, then of its ``annotations`` list —
the order that decides the papers' "first N instances" label subsets.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..skeletons import Skeleton, get_skeleton
from .records import PoseRecord
from ..geometry import box_to_center_scale, sanitize_box
from ..errors import DataFormatError

__all__ = [
    "CocoKeypointSet",
    "read_json",
    "skeleton_from_coco_file",
    "load_coco_keypoints",
    "load_detections",
]

log = logging.getLogger(__name__)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, turning every failure into a :class:`DataFormatError` naming the file."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: file not found")
    try:
        with open(p, "rb") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataFormatError(f"{p}: malformed JSON ({e.msg} at line {e.lineno}, column {e.colno})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{p}: cannot read ({e})") from e


def _int(value: Any, path: Path, where: str, key: str) -> int:
    """``value`` as an id: an integer (not a bool, a float or a string), else a named error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DataFormatError(f"{path}: {where}: '{key}' must be an integer, got {value!r:.60}")
    return int(value)


def _numbers(value: Any, n: int | None, path: Path, where: str, key: str) -> np.ndarray:
    """``value`` as a float64 array of ``n`` numbers (a list of ints/floats), else a named error."""
    ok = isinstance(value, (list, tuple)) and (n is None or len(value) == n) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value
    )
    if not ok:
        want = f"{n} numbers" if n is not None else "a list of numbers"
        raise DataFormatError(f"{path}: {where}: '{key}' must be {want}, got {value!r:.80}")
    return np.asarray(value, dtype=np.float64)


def _check_unique(ids: list[int], path: Path, what: str) -> None:
    seen: set[int] = set()
    dup = sorted({i for i in ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
    if dup:
        raise DataFormatError(
            f"{path}: {len(dup)} duplicate {what} id(s), e.g. {dup[:5]}; ids must be unique (pycocotools matches results by id)"
        )


def _keypoint_category(data: Mapping[str, Any], path: Path, category_id: int | None) -> Mapping[str, Any] | None:
    cats = data.get("categories") or []
    if not isinstance(cats, list):
        raise DataFormatError(f"{path}: 'categories' must be a list")
    if category_id is not None:
        for c in cats:
            if c.get("id") == category_id:
                return c
        raise DataFormatError(f"{path}: no category with id {category_id}")
    with_kpts = [c for c in cats if c.get("keypoints")]
    if not with_kpts:
        return None
    if len(with_kpts) > 1:
        persons = [c for c in with_kpts if c.get("name") == "person"]
        if len(persons) != 1:
            names = [c.get("name") for c in with_kpts]
            raise DataFormatError(f"{path}: several keypoint categories {names}; choose one with category_id")
        return persons[0]
    return with_kpts[0]


#: OKS sigma given to every keypoint of a custom keypoint set whose category carries none
#: (about the mean of the COCO-17 sigmas); AP computed with it is not comparable across sets.
DEFAULT_SIGMA = 0.07


def category_skeleton(cat: Mapping[str, Any], path: Path, default_sigma: float | None = DEFAULT_SIGMA) -> Skeleton:
    """The keypoint set of a COCO ``categories`` entry. A custom set without ``sigmas`` gets
    ``default_sigma`` for every keypoint, with a warning (training needs no sigmas; OKS-NMS and
    AP do, and are then not comparable with other keypoint sets)."""
    try:
        sk = Skeleton.from_coco_category(cat)
    except ValueError as e:
        if "sigmas" not in str(e) or default_sigma is None:
            raise DataFormatError(f"{path}: {e}") from e
        log.warning(
            "%s: the keypoint category %r has no OKS sigmas; using data.default_sigma = %g for all %d keypoints "
            "(OKS-NMS and AP are then not comparable with other keypoint sets; put 'sigmas' in the category or in data.skeleton)",
            path, cat.get("name"), default_sigma, len(cat.get("keypoints", ())),
        )
        try:
            sk = Skeleton.from_coco_category(cat, default_sigma=default_sigma)
        except ValueError as e2:
            raise DataFormatError(f"{path}: {e2}") from e2
    return sk


def skeleton_from_coco_file(ann_file: str | os.PathLike[str], *, default_sigma: float | None = DEFAULT_SIGMA) -> Skeleton:
    """The keypoint set described by a COCO file's keypoint category.

    A category whose names equal a built-in set (COCO-17, AIC-14) gives that set; otherwise a
    custom :class:`Skeleton` with flip pairs inferred from left/right names (or read from a
    ``flip_pairs`` field) and ``sigmas`` read from the category (or ``default_sigma``).
    """
    path = Path(ann_file)
    data = read_json(path)
    cat = _keypoint_category(data, path, None)
    if cat is None:
        raise DataFormatError(f"{path}: no category with a 'keypoints' list; give the skeleton in the config")
    return category_skeleton(cat, path, default_sigma)


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


def _images_by_id(data: Mapping[str, Any], path: Path) -> dict[int, Mapping[str, Any]]:
    images = data.get("images")
    if not isinstance(images, list):
        raise DataFormatError(f"{path}: missing 'images' list")
    out: dict[int, Mapping[str, Any]] = {}
    for i, img in enumerate(images):
        if not isinstance(img, Mapping) or "id" not in img or "file_name" not in img:
            raise DataFormatError(f"{path}: images[{i}] needs 'id' and 'file_name'")
        img_id = _int(img["id"], path, f"images[{i}]", "id")
        if img_id in out:
            _check_unique([_int(m.get("id"), path, "image", "id") for m in images if isinstance(m, Mapping)], path, "image")
        for key in ("width", "height"):
            if img.get(key) is not None:
                _int(img[key], path, f"image {img_id}", key)
        out[img_id] = img
    return out


def _record(
    root: Path, img: Mapping[str, Any], box: tuple[float, float, float, float], kpts: np.ndarray,
    aspect_ratio: float, padding: float, *, score: float, ann_id: int,
) -> PoseRecord:
    """One record from an image entry and a sanitised box."""
    b = np.asarray(box, dtype=np.float32)
    center, scale = box_to_center_scale(b, aspect_ratio, padding)
    return PoseRecord(
        image_path=str(root / img["file_name"]), image_id=int(img["id"]), center=center, scale=scale,
        keypoints=kpts, bbox=b, box_score=score, ann_id=ann_id,
        image_size=(int(img.get("width", 0) or 0), int(img.get("height", 0) or 0)),
    )


def load_coco_keypoints(
    ann_file: str | os.PathLike[str],
    image_dir: str | os.PathLike[str],
    *,
    skeleton: Skeleton | str | Mapping[str, Any] | None = None,
    aspect_ratio: float = 0.75,
    padding: float = 1.25,
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
        aspect_ratio: network input ``W / H``; boxes are padded to it.
        padding: box enlargement factor (1.25 in the reference code).
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
    data = read_json(path)
    if not isinstance(data, Mapping):
        raise DataFormatError(f"{path}: expected a COCO JSON object, got {type(data).__name__}")
    images = _images_by_id(data, path)
    anns = data.get("annotations")
    if not isinstance(anns, list):
        raise DataFormatError(f"{path}: missing 'annotations' list (for an image list without labels use detector boxes)")
    cat = _keypoint_category(data, path, category_id)
    if skeleton is None:
        if cat is None:
            raise DataFormatError(f"{path}: no category with a 'keypoints' list; give the skeleton in the config")
        sk = category_skeleton(cat, path, default_sigma)
    else:
        sk = get_skeleton(skeleton)
    k = sk.num_keypoints
    if cat is not None and cat.get("keypoints") and len(cat["keypoints"]) != k:
        raise DataFormatError(
            f"{path}: category {cat.get('name')!r} has {len(cat['keypoints'])} keypoints but skeleton "
            f"{sk.name!r} has {k}"
        )
    cat_id = cat.get("id") if cat is not None else None

    by_image: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    ann_ids: list[int] = []
    for i, a in enumerate(anns):
        if not isinstance(a, Mapping) or "image_id" not in a:
            raise DataFormatError(f"{path}: annotations[{i}] is not an annotation object with 'image_id'")
        where = f"annotation {a['id']!r}" if "id" in a else f"annotations[{i}]"
        by_image[_int(a["image_id"], path, where, "image_id")].append(a)
        if "id" in a:
            ann_ids.append(_int(a["id"], path, f"annotations[{i}]", "id"))
    _check_unique(ann_ids, path, "annotation")
    unknown = set(by_image) - set(images)
    if unknown:
        raise DataFormatError(f"{path}: {len(unknown)} annotation(s) refer to unknown image ids, e.g. {sorted(unknown)[:5]}")

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
            if isinstance(kp, list) and len(kp) != 3 * k:
                raise DataFormatError(
                    f"{path}: annotation {ann_id} has {len(kp)} keypoint numbers, expected {3 * k} "
                    f"(K={k} for skeleton {sk.name!r})"
                )
            kpts = _numbers(kp, 3 * k, path, f"annotation {ann_id}", "keypoints").astype(np.float32).reshape(k, 3)
            if not np.all(np.isfinite(kpts)):
                raise DataFormatError(f"{path}: annotation {ann_id} has non-finite keypoint values")
            if not np.any(kpts[:, 2] > 0):
                skipped["no labelled keypoint"] += 1
                continue
            if a.get("bbox") is None:
                raise DataFormatError(f"{path}: annotation {ann_id} needs a 4-number 'bbox'")
            bbox = _numbers(a["bbox"], 4, path, f"annotation {ann_id}", "bbox")
            if not np.isfinite(bbox).all():
                skipped["non-finite box"] += 1
                continue
            clean = sanitize_box(*bbox, img_w, img_h)
            if clean is None:
                skipped["empty box"] += 1
                continue
            kpts[kpts[:, 2] <= 0] = 0.0
            records.append(_record(root, img, clean, kpts, aspect_ratio, padding, score=1.0, ann_id=int(ann_id)))
            if max_instances is not None and len(records) >= max_instances:
                break
        if max_instances is not None and len(records) >= max_instances:
            break
    out = CocoKeypointSet(records, sk, path, root, len(images), skipped)
    if not records:
        raise DataFormatError(f"{path}: no usable person instances ({out.summary()})")
    log.info("%s", out.summary())
    return out


def load_detections(
    det_file: str | os.PathLike[str],
    image_file: str | os.PathLike[str],
    image_dir: str | os.PathLike[str],
    *,
    num_keypoints: int,
    score_thr: float = 0.0,
    aspect_ratio: float = 0.75,
    padding: float = 1.25,
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
    images = _images_by_id(idata, ipath)
    skipped = {"other category": 0, "low score": 0, "unknown image": 0, "empty box": 0, "non-finite box": 0}
    by_image: dict[int, list[tuple[np.ndarray, float]]] = defaultdict(list)
    for i, d in enumerate(dets):
        if not isinstance(d, Mapping) or not {"image_id", "bbox", "score"} <= d.keys():
            raise DataFormatError(f"{dpath}: entry {i} needs 'image_id', 'bbox' and 'score'")
        where = f"entry {i}"
        image_id = _int(d["image_id"], dpath, where, "image_id")
        if isinstance(d["score"], bool) or not isinstance(d["score"], (int, float)):
            raise DataFormatError(f"{dpath}: {where}: 'score' must be a number, got {d['score']!r:.60}")
        score = float(d["score"])
        bbox = _numbers(d["bbox"], 4, dpath, where, "bbox")
        if _int(d.get("category_id", category_id), dpath, where, "category_id") != category_id:
            skipped["other category"] += 1
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
            records.append(_record(root, img, tuple(bbox), kpts, aspect_ratio, padding, score=score, ann_id=-1))
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
