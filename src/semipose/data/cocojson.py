"""The one reader and checker of COCO-format JSON (torch-free): plain JSON, typed fields, unique
ids, keypoint categories and the keypoint count of every annotation.

Both the top-down readers (:mod:`semipose.data.coco`, which then skip crowd / unlabelled /
empty-box persons) and the evaluator (:func:`semipose.evaluation.coco.load_coco_gt`, which
then fills the optional fields pycocotools needs) check a file here, so a file is accepted or
refused the same way, with the same message, wherever it is read. Every problem is a
:class:`~semipose.errors.DataFormatError` naming the file, the entry and the field.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError, MissingJsonError
from ..skeletons import Skeleton, get_skeleton

__all__ = [
    "read_keypoint_set",
    "DEFAULT_SIGMA",
    "read_json",
    "as_int",
    "as_numbers",
    "check_unique",
    "images_by_id",
    "keypoint_category",
    "category_skeleton",
    "skeleton_from_coco_file",
    "CocoFile",
    "read_coco_file",
]

log = logging.getLogger(__name__)

#: OKS sigma given to every keypoint of a custom keypoint set whose category carries none
#: (about the mean of the COCO-17 sigmas); AP computed with it is not comparable across sets.
DEFAULT_SIGMA = 0.07


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, turning every failure into a :class:`DataFormatError` naming the file
    (a missing file is a :class:`~semipose.errors.MissingJsonError`, also a ``FileNotFoundError``)."""
    p = Path(path)
    if not p.is_file():
        raise MissingJsonError(f"{p}: file not found")
    try:
        with open(p, "rb") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataFormatError(f"{p}: malformed JSON ({e.msg} at line {e.lineno}, column {e.colno})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{p}: cannot read ({e})") from e


def as_int(value: Any, path: Path | str, where: str, key: str) -> int:
    """``value`` as an id: an integer (not a bool, a float or a string), else a named error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DataFormatError(f"{path}: {where}: '{key}' must be an integer, got {value!r:.60}")
    return int(value)


def as_numbers(value: Any, n: int | None, path: Path | str, where: str, key: str) -> np.ndarray:
    """``value`` as a float64 array of ``n`` numbers (a list of ints/floats), else a named error."""
    ok = isinstance(value, (list, tuple)) and (n is None or len(value) == n) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value
    )
    if not ok:
        want = f"{n} numbers" if n is not None else "a list of numbers"
        raise DataFormatError(f"{path}: {where}: '{key}' must be {want}, got {value!r:.80}")
    return np.asarray(value, dtype=np.float64)


def _check_scalars(a: Mapping[str, Any], path: Path | str, where: str) -> None:
    """The annotation fields pycocotools computes with: ``area`` a finite number, ``iscrowd``
    0 or 1 (a string such as "no" would count as crowd), ``num_keypoints`` an integer."""
    area = a.get("area")
    if area is not None and (isinstance(area, bool) or not isinstance(area, (int, float, np.integer, np.floating)) or not np.isfinite(area)):
        raise DataFormatError(f"{path}: {where}: 'area' must be a finite number, got {area!r:.60}")
    crowd = a.get("iscrowd")
    if crowd is not None and not (isinstance(crowd, (bool, int, np.integer)) and int(crowd) in (0, 1)):
        raise DataFormatError(f"{path}: {where}: 'iscrowd' must be 0 or 1, got {crowd!r:.60}")
    nk = a.get("num_keypoints")
    if nk is not None and (isinstance(nk, bool) or not isinstance(nk, (int, np.integer))):
        raise DataFormatError(f"{path}: {where}: 'num_keypoints' must be an integer, got {nk!r:.60}")


def check_unique(ids: list[int], path: Path | str, what: str) -> None:
    """Refuse repeated ids (pycocotools matches results by id)."""
    seen: set[int] = set()
    dup = sorted({i for i in ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
    if dup:
        raise DataFormatError(
            f"{path}: {len(dup)} duplicate {what} id(s), e.g. {dup[:5]}; ids must be unique (pycocotools matches results by id)"
        )


def images_by_id(data: Mapping[str, Any], path: Path | str, *, need_file_name: bool = True) -> dict[int, Mapping[str, Any]]:
    """The ``images`` list by id, checked: objects with an integer ``id`` (unique), a
    ``file_name`` when ``need_file_name``, integer ``width`` / ``height`` when present."""
    images = data.get("images")
    if not isinstance(images, list):
        raise DataFormatError(f"{path}: missing 'images' list (not a COCO annotation file?)")
    out: dict[int, Mapping[str, Any]] = {}
    for i, img in enumerate(images):
        if not isinstance(img, Mapping) or "id" not in img or (need_file_name and "file_name" not in img):
            raise DataFormatError(f"{path}: images[{i}] needs 'id'{' and file_name' if need_file_name else ''}")
        img_id = as_int(img["id"], path, f"images[{i}]", "id")
        if img_id in out:
            check_unique([as_int(m.get("id"), path, "image", "id") for m in images if isinstance(m, Mapping)], path, "image")
        for key in ("width", "height"):
            if img.get(key) is not None:
                as_int(img[key], path, f"image {img_id}", key)
        if "file_name" in img and not isinstance(img["file_name"], str):
            raise DataFormatError(
                f"{path}: image {img_id}: 'file_name' must be a string (a path relative to the image folder), got {img['file_name']!r:.60}"
            )
        out[img_id] = img
    return out


def keypoint_category(data: Mapping[str, Any], path: Path | str, category_id: int | None) -> Mapping[str, Any] | None:
    """The category whose persons are read: ``category_id``'s, else the one category with a
    ``keypoints`` list (or the one named ``person`` among several); None if none has one."""
    cats = data.get("categories") or []
    if not isinstance(cats, list) or not all(isinstance(c, Mapping) for c in cats):
        raise DataFormatError(f"{path}: 'categories' must be a list of objects")
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


def category_skeleton(cat: Mapping[str, Any], path: Path | str, default_sigma: float | None = DEFAULT_SIGMA) -> Skeleton:
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
    cat = keypoint_category(_object(read_json(path), path), path, None)
    if cat is None:
        raise DataFormatError(f"{path}: no category with a 'keypoints' list; give the skeleton in the config")
    return category_skeleton(cat, path, default_sigma)


def _object(data: Any, path: Path | str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise DataFormatError(f"{path}: expected a COCO JSON object with 'images' and 'annotations', got {type(data).__name__}")
    return data


@dataclass
class CocoFile:
    """A checked COCO-format keypoint file.

    Attributes:
        path: the file (or ``"<annotation dict>"``).
        data: the parsed JSON.
        images: image entries by id, in file order.
        by_image: annotation entries per image id, in file order.
        category: the keypoint category read (None when the file has none).
        skeleton: the keypoint set every checked annotation fits (None when neither given nor
            described by a category: K is then the first annotation's).
    """

    path: Path | str
    data: Mapping[str, Any]
    images: dict[int, Mapping[str, Any]]
    by_image: dict[int, list[Mapping[str, Any]]]
    category: Mapping[str, Any] | None
    skeleton: Skeleton | None


def read_coco_file(
    src: str | os.PathLike[str] | Mapping[str, Any],
    *,
    skeleton: Skeleton | str | Mapping[str, Any] | None = None,
    category_id: int | None = None,
    default_sigma: float | None = DEFAULT_SIGMA,
    need_file_name: bool = True,
    required: tuple[str, ...] = (),
    read_skeleton: bool = True,
) -> CocoFile:
    """Read and check a COCO-format keypoint file (or an already parsed dict).

    Checked: a JSON object with ``images`` and ``annotations`` lists; integer, unique image
    and annotation ids; every annotation's ``image_id`` names a listed image; the ``required``
    fields of every annotation are present; ``keypoints`` hold ``3 K`` finite numbers (K of the
    annotation's category, else of the skeleton) and ``bbox`` 4 numbers where present; the
    keypoint category's K equals the skeleton's.

    Args:
        src: the file, or a parsed dict (not modified).
        skeleton: the expected keypoint set; None: the keypoint category's (or, with no
            keypoint category, the first annotation's count, unnamed).
        category_id: the keypoint category (default: see :func:`keypoint_category`).
        default_sigma: OKS sigma of a custom set whose category has none.
        need_file_name: images must name their file (readers: yes; evaluation: no).
        required: annotation fields that must be present.
        read_skeleton: build the category's :class:`Skeleton` when ``skeleton`` is None (the
            evaluator only needs the keypoint counts).

    Raises:
        DataFormatError: the first problem, naming the file, the entry and the field.
    """
    path: Path | str = "<annotation dict>" if isinstance(src, Mapping) else Path(src)
    data = _object(src if isinstance(src, Mapping) else read_json(path), path)
    images = images_by_id(data, path, need_file_name=need_file_name)
    anns = data.get("annotations")
    if not isinstance(anns, list):
        raise DataFormatError(f"{path}: missing 'annotations' list (for an image list without labels use detector boxes)")
    cat = keypoint_category(data, path, category_id)
    if skeleton is not None:
        sk: Skeleton | None = get_skeleton(skeleton)
    elif cat is not None and read_skeleton:
        sk = category_skeleton(cat, path, default_sigma)
    else:
        sk = None
    if sk is not None and cat is not None and cat.get("keypoints") and len(cat["keypoints"]) != sk.num_keypoints:
        raise DataFormatError(
            f"{path}: category {cat.get('name')!r} has {len(cat['keypoints'])} keypoints but skeleton "
            f"{sk.name!r} has {sk.num_keypoints}"
        )
    cat_k = {c.get("id"): len(c["keypoints"]) for c in (data.get("categories") or []) if c.get("keypoints")}
    cat_id = cat.get("id") if cat is not None else None
    first_k: int | None = None
    by_image: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    ann_ids: list[int] = []
    for i, a in enumerate(anns):
        if not isinstance(a, Mapping) or "image_id" not in a:
            raise DataFormatError(f"{path}: annotations[{i}] is not an annotation object with 'image_id'")
        where = f"annotation {a['id']!r}" if "id" in a else f"annotations[{i}]"
        for key in required:
            if key not in a:
                raise DataFormatError(f"{path}: {where} has no '{key}' field")
        if "id" in a:
            ann_ids.append(as_int(a["id"], path, f"annotations[{i}]", "id"))
        by_image[as_int(a["image_id"], path, where, "image_id")].append(a)
        kp = a.get("keypoints")
        if kp is not None:
            if a.get("category_id") in cat_k:
                k: int | None = cat_k[a.get("category_id")]
                of = f" of category {a.get('category_id')}"
            elif sk is not None and (cat_id is None or a.get("category_id", cat_id) == cat_id):
                k, of = sk.num_keypoints, f" of skeleton {sk.name!r}"
            elif sk is None and cat_id is None:
                if first_k is None:
                    if not isinstance(kp, list) or not kp or len(kp) % 3:
                        raise DataFormatError(f"{path}: {where} has {len(kp) if isinstance(kp, list) else kp!r:.20} keypoint numbers, "
                                              "not a positive multiple of 3")
                    first_k = len(kp) // 3
                k, of = first_k, " of the first annotation"
            else:
                k = None  # another category, without a keypoint list: not read
            if k is not None:
                if isinstance(kp, list) and len(kp) != 3 * k:
                    raise DataFormatError(f"{path}: {where} has {len(kp)} keypoint numbers, expected {3 * k} (K={k}{of})")
                if not np.isfinite(as_numbers(kp, 3 * k, path, where, "keypoints")).all():
                    raise DataFormatError(f"{path}: {where} has non-finite keypoint values")
        if a.get("bbox") is not None:
            as_numbers(a["bbox"], 4, path, where, "bbox")
        _check_scalars(a, path, where)
    check_unique(ann_ids, path, "annotation")
    unknown = set(by_image) - set(images)
    if unknown:
        raise DataFormatError(f"{path}: {len(unknown)} annotation(s) refer to unknown image ids, e.g. {sorted(unknown)[:5]}")
    return CocoFile(path, data, images, dict(by_image), cat, sk)


def read_keypoint_set(spec: str | None) -> str | Skeleton | None:
    """A keypoint set named on the command line (``--keypoints``): a built-in name (returned as
    it is), a ``skeleton.json`` or a COCO-format annotation file (read into a :class:`Skeleton`).

    Raises:
        DataFormatError: the file is neither.
    """
    if spec is None or not (spec.endswith(".json") or Path(spec).is_file()):
        return spec
    data = read_json(spec)
    if isinstance(data, dict) and "categories" in data:
        return skeleton_from_coco_file(spec)
    try:
        return Skeleton.from_dict(data)
    except (ValueError, TypeError) as e:
        raise DataFormatError(f"--keypoints {spec}: not a skeleton.json or COCO-format file ({e})") from None
