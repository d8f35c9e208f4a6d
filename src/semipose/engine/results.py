"""Keypoint results files: scored against a COCO keypoint file (``semipose eval --results``) and
drawn on their images (``semipose eval --save-vis``).

A results JSON is scored with the OKS sigmas of the keypoint set it was predicted with: the
model card's (given), ``--keypoints``, or the ``image_info.json`` that ``semipose predict``
wrote beside it (its category carries the model's sigmas); else the annotation file's own.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.cocojson import keypoint_category, read_json, skeleton_from_coco_file
from ..errors import DataFormatError
from ..skeletons import Skeleton, get_skeleton, keypoint_name_mismatch

__all__ = ["ResultsScore", "results_keypoint_set", "score_results", "draw_eval_results"]


@dataclass
class ResultsScore:
    """What :func:`score_results` found: the COCO metrics and where the OKS sigmas came from."""

    metrics: dict[str, float]
    sigmas_from: str


def results_keypoint_set(results: str | os.PathLike[str], keypoints: str | Skeleton | None = None) -> tuple[Skeleton | None, str]:
    """The keypoint set ``results`` were predicted with and where it comes from: ``keypoints``
    (a set, or a built-in name), else the ``image_info.json`` beside ``results``; else ``(None, "")``.

    Raises:
        DataFormatError: ``image_info.json``'s category is not a keypoint set.
    """
    if keypoints is not None:
        sk = keypoints if isinstance(keypoints, Skeleton) else get_skeleton(keypoints)
        return sk, f"--keypoints {sk.name}"
    info = Path(results).parent / "image_info.json"
    if info.is_file():
        data = read_json(info)
        cat = keypoint_category(data, info, None) if isinstance(data, dict) else None
        if cat is not None and cat.get("sigmas") is not None:
            try:
                return Skeleton.from_coco_category(cat), f"the model's keypoint set, from {info}"
            except ValueError as e:
                raise DataFormatError(f"{info}: {e}") from None
    return None, ""


def score_results(results: str | os.PathLike[str], gt: str | os.PathLike[str], *, keypoint_set: Skeleton | None = None,
                  source: str = "") -> ResultsScore:
    """COCO keypoint AP/AR of a results JSON against a COCO keypoint file (pycocotools).

    Args:
        results: the results JSON (e.g. ``semipose predict``'s ``predictions.json``).
        gt: the COCO keypoint file to score against.
        keypoint_set: the set the results were predicted with (its names must be ``gt``'s; its
            sigmas are used), from :func:`results_keypoint_set` or a model card; None: ``gt``'s.
        source: where ``keypoint_set`` came from (reported).

    Raises:
        DataFormatError: names that differ, malformed results, or image ids that ``gt`` lacks.
    """
    from ..evaluation.coco import check_results, evaluate_coco_keypoints, load_coco_gt

    sk = skeleton_from_coco_file(gt)
    if keypoint_set is not None:
        problem = keypoint_name_mismatch(keypoint_set, sk)
        if problem:
            raise DataFormatError(f"{results} on {gt}: {problem}")
        sigmas = keypoint_set.sigmas  # the same sigmas as semipose eval --checkpoint of that model
    else:
        sigmas, source = sk.sigmas, f"the keypoint set of {gt} ({sk.name})"
    checked = check_results(read_json(results), results, sk.num_keypoints)
    try:
        coco_gt = load_coco_gt(gt, skeleton=sk)
    except ValueError as e:
        raise DataFormatError(str(e)) from None
    stray = sorted({int(r.get("image_id", -1)) for r in checked} - set(coco_gt.getImgIds()))
    if stray:
        raise DataFormatError(f"{results}: {len(stray)} image id(s) are not in {gt} (e.g. {stray[0]}); predicted with the boxes of another file?")
    return ResultsScore(evaluate_coco_keypoints(coco_gt, checked, sigmas=sigmas), source)


def draw_eval_results(out: Path, data: Any, skeleton: Skeleton, name: str, kpt_thr: float, *, progress: bool = True) -> int:
    """Draw the results an evaluation wrote for ``name`` (``out/keypoints_<name>_results.json``)
    on every image of the split ``data`` into ``out/vis``; returns the number of images."""
    import cv2
    from tqdm.auto import tqdm

    from ..image import read_image
    from ..visualize import draw_results

    results = json.loads((out / f"keypoints_{name}_results.json").read_text())
    by_image: dict[int, list] = {}
    for r in results:
        by_image.setdefault(int(r["image_id"]), []).append(r)
    paths: dict[int, str] = {}
    for rec in data.records:
        paths.setdefault(rec.image_id, rec.image_path)
    (out / "vis").mkdir(exist_ok=True)
    for image_id, path in tqdm(paths.items(), desc="drawing", unit="img", disable=not progress, leave=False):
        pic = draw_results(read_image(path), by_image.get(image_id, []), skeleton, kpt_thr=kpt_thr)
        cv2.imwrite(str(out / "vis" / f"{Path(path).stem}.jpg"), pic, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return len(paths)
