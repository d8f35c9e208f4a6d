"""COCO keypoint evaluation: rescoring, per-image OKS-NMS and pycocotools' COCOeval.

The pipeline (seed behaviour §7.3):

1. :func:`rescore`: instance score = box score × the mean of the keypoint confidences that
   exceed ``in_vis_thr`` (0 when none do).
2. :func:`build_coco_results`: per-image greedy OKS-NMS (:func:`~semipose.evaluation.nms.oks_nms`,
   areas = the records' padded-box areas, threshold ``oks_thr``), then COCO results dicts.
3. :func:`evaluate_coco_keypoints`: ``COCOeval(iouType="keypoints")`` with the skeleton's
   sigmas, so any keypoint set works, returning the 10 standard metrics under
   :data:`METRIC_KEYS`.

AP/AR numbers come only from pycocotools; nothing here recomputes them. :func:`load_coco_gt`
reads annotation files that lack COCO's optional evaluation fields (AI Challenger
conversions have no ``area`` / ``iscrowd``) and fills them in.

:func:`evaluate_predictions` chains everything and, given an output folder, writes
``keypoints_<name>_results.json`` (the COCO results list) and ``metrics_<name>.json``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .._typing import PathLike
from ..data.cocojson import as_int, as_numbers, read_coco_file
from ..data.records import PoseRecord
from ..errors import DataFormatError
from ..geometry import PIXEL_STD
from ..skeletons import Skeleton, get_skeleton
from .nms import oks_nms

__all__ = [
    "METRIC_KEYS",
    "METRIC_DISPLAY_NAMES",
    "load_coco_gt",
    "rescore",
    "build_coco_results",
    "evaluate_coco_keypoints",
    "check_results",
    "crowd_bins",
    "CROWD_BINS",
    "format_metrics_table",
    "write_results_json",
    "write_metrics_json",
    "results_filename",
    "metrics_filename",
    "evaluate_predictions",
]

logger = logging.getLogger(__name__)

#: Keys of the metrics dict, in COCOeval ``stats`` order.
METRIC_KEYS: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
#: Column names used in printed tables, matching :data:`METRIC_KEYS`.
METRIC_DISPLAY_NAMES: tuple[str, ...] = (
    "AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)",
)

SkeletonSpec = Skeleton | str | Mapping[str, Any]


@contextlib.contextmanager
def _quiet(enabled: bool = True) -> Iterator[None]:
    """Swallow pycocotools' stdout prints when ``enabled``."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


# --------------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------------


def load_coco_gt(
    ann_file: PathLike | Mapping[str, Any], *, skeleton: SkeletonSpec | None = None
) -> COCO:
    """Load a COCO-format keypoint annotation file for evaluation.

    The JSON is read and checked here (rather than by pycocotools), then missing optional
    fields are filled in on each annotation: ``area`` (bbox ``w * h``), ``iscrowd`` (0) and
    ``num_keypoints`` (the count of keypoints with ``v > 0``). A ``categories`` list is
    synthesised (``{"id": c, "name": "person"}``) if the file has none.

    Args:
        ann_file: path of the JSON file, or an already-parsed dict (deep-copied, not
            modified).
        skeleton: expected keypoint set. When given, every annotation's ``keypoints`` must
            hold ``3 * K`` numbers for its K (and a category's ``keypoints`` name list, if
            present, must have K entries). When ``None``, K is taken per category from its
            ``keypoints`` names, else from the first annotation.

    Returns:
        A ``pycocotools.coco.COCO`` with its index built (nothing printed).

    Raises:
        MissingFileError: the file does not exist.
        DataFormatError: what :func:`semipose.data.cocojson.read_coco_file` refuses, or an
            annotation without ``id``, ``image_id``, ``category_id``, ``bbox`` or
            ``keypoints`` (the message names the file and the annotation id).
    """
    cf = read_coco_file(
        ann_file, skeleton=skeleton, need_file_name=False, read_skeleton=False,
        required=("id", "image_id", "category_id", "bbox", "keypoints"),
    )
    # a caller's dict is not modified; data read from a file is this call's own
    data = copy.deepcopy(dict(cf.data)) if isinstance(ann_file, Mapping) else dict(cf.data)
    if not data.get("categories"):
        cat_ids = sorted({a.get("category_id", 1) for a in data["annotations"]}) or [1]
        data["categories"] = [{"id": int(c), "name": "person", "supercategory": "person"} for c in cat_ids]
    for ann in data["annotations"]:
        bbox = ann["bbox"]
        if bbox is None:
            raise DataFormatError(f"{cf.path}: annotation {ann['id']}: 'bbox' must be [x, y, w, h]")
        if ann.get("area") is None:
            ann["area"] = float(bbox[2]) * float(bbox[3])
        if ann.get("iscrowd") is None:
            ann["iscrowd"] = 0
        if ann.get("num_keypoints") is None:
            ann["num_keypoints"] = int(sum(1 for v in ann["keypoints"][2::3] if v > 0))

    coco = COCO()
    coco.dataset = data
    with _quiet():
        coco.createIndex()
    return coco


def _gt_num_keypoints(coco_gt: COCO) -> int | None:
    """K of the ground truth: from the categories' names, else the first annotation."""
    for c in coco_gt.dataset.get("categories", []):
        if c.get("keypoints"):
            return len(c["keypoints"])
    for ann in coco_gt.dataset.get("annotations", []):
        if "keypoints" in ann:
            return len(ann["keypoints"]) // 3
    return None


# --------------------------------------------------------------------------------------------
# Predictions → results
# --------------------------------------------------------------------------------------------


def _as_maxvals(maxvals: np.ndarray, name: str = "maxvals") -> np.ndarray:
    mv = np.asarray(maxvals, dtype=np.float64)
    if mv.ndim == 3 and mv.shape[-1] == 1:
        mv = mv[..., 0]
    if mv.ndim != 2:
        raise ValueError(f"{name} must have shape (N, K) or (N, K, 1), got {mv.shape}")
    return mv


def rescore(maxvals: np.ndarray, box_scores: np.ndarray, in_vis_thr: float = 0.2) -> np.ndarray:
    """Instance scores from keypoint confidences (seed §7.3 step 3).

    Args:
        maxvals: ``(N, K)`` (or ``(N, K, 1)``) keypoint confidences.
        box_scores: ``(N,)`` box scores (1 for ground-truth boxes).
        in_vis_thr: keypoints whose confidence is strictly above this count.

    Returns:
        ``(N,)`` float64: ``box_score * mean(maxvals[maxvals > in_vis_thr])``, 0 where no
        keypoint is above the threshold.
    """
    mv = _as_maxvals(maxvals)
    bs = np.asarray(box_scores, dtype=np.float64).reshape(-1)
    if bs.shape[0] != mv.shape[0]:
        raise ValueError(f"rescore: {mv.shape[0]} instances but {bs.shape[0]} box scores")
    above = mv > in_vis_thr
    count = above.sum(axis=1)
    total = np.where(above, mv, 0.0).sum(axis=1)
    kpt_score = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return kpt_score * bs


def build_coco_results(
    records: Sequence[PoseRecord],
    coords: np.ndarray,
    maxvals: np.ndarray,
    *,
    centers: np.ndarray,
    scales: np.ndarray,
    sigmas: Sequence[float] | np.ndarray,
    in_vis_thr: float = 0.2,
    oks_thr: float = 0.9,
    use_nms: bool = True,
    category_id: int = 1,
) -> list[dict[str, Any]]:
    """Turn decoded predictions into a COCO keypoint results list.

    Args:
        records: the N person records the predictions belong to (``image_id``,
            ``box_score``, ``bbox`` are read).
        coords: ``(N, K, 2)`` predicted keypoints in original-image pixels.
        maxvals: ``(N, K)`` (or ``(N, K, 1)``) keypoint confidences.
        centers, scales: ``(N, 2)`` the crops predicted (written to the results; the area of
            the padded crop box, ``prod(scale · 200)``, is OKS-NMS's area, as in the reference).
        sigmas: ``(K,)`` OKS sigmas for the NMS.
        in_vis_thr: rescoring threshold (see :func:`rescore`).
        oks_thr: OKS-NMS threshold; an instance with OKS above it to a higher-scored one in
            the same image is dropped.
        use_nms: run the per-image OKS-NMS (off: every instance is kept).
        category_id: category written into every result.

    Returns:
        A list of dicts ``{"image_id", "category_id", "keypoints" (3K floats x, y, maxval),
        "score", "bbox", "box_score", "center", "scale"}``, grouped by image (images in order of first
        appearance, instances by descending score within an image when NMS runs).
    """
    n = len(records)
    xy = np.asarray(coords, dtype=np.float64)
    if xy.ndim != 3 or xy.shape[-1] < 2 or xy.shape[0] != n:
        raise ValueError(f"build_coco_results: coords must be (N={n}, K, 2), got {xy.shape}")
    xy = xy[..., :2]
    mv = _as_maxvals(maxvals)
    if mv.shape != xy.shape[:2]:
        raise ValueError(f"build_coco_results: maxvals {mv.shape} do not match coords {xy.shape[:2]}")
    if n == 0:
        return []
    kpts = np.concatenate([xy, mv[..., None]], axis=-1)  # (N, K, 3)
    box_scores = np.array([float(r.box_score) for r in records], dtype=np.float64)
    scores = rescore(mv, box_scores, in_vis_thr)
    cen = np.asarray(centers, dtype=np.float64).reshape(n, 2)
    sca = np.asarray(scales, dtype=np.float64).reshape(n, 2)
    areas = np.prod(np.asarray(scales, dtype=np.float32).reshape(n, 2) * np.float32(PIXEL_STD), axis=1).astype(np.float64)

    groups: dict[int, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(int(r.image_id), []).append(i)

    results: list[dict[str, Any]] = []
    for image_id, idx_list in groups.items():
        idx = np.asarray(idx_list, dtype=np.int64)
        if use_nms and idx.size > 1:
            keep = idx[oks_nms(kpts[idx], scores[idx], areas[idx], sigmas, oks_thr)]
        else:
            keep = idx
        for i in keep:
            r = records[int(i)]
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(category_id),
                    "keypoints": [float(v) for v in kpts[i].reshape(-1)],
                    "score": float(scores[i]),
                    "center": [float(v) for v in cen[int(i)]],
                    "scale": [float(v) for v in sca[int(i)]],
                    # the person box as the file gives it (not the sanitised crop box): pycocotools
                    # then takes the detection's area from it (as the reference and mmpose do)
                    "bbox": [float(v) for v in np.asarray(r.result_box).reshape(-1)],
                    "box_score": float(r.box_score),
                }
            )
    return results


# --------------------------------------------------------------------------------------------
# COCOeval
# --------------------------------------------------------------------------------------------


def check_results(results: Any, path: PathLike, num_keypoints: int) -> list[Mapping[str, Any]]:
    """A COCO keypoint results list read from ``path``, checked before pycocotools sees it:
    each entry an object with an integer ``image_id``, ``keypoints`` of ``3 K`` finite numbers,
    a finite number ``score``, and (where present) an integer ``category_id`` and a 4-number
    finite ``bbox``.

    Raises:
        DataFormatError: the first problem, naming the file, the entry, its image and the field.
    """
    path = Path(path)
    if not isinstance(results, list):
        raise DataFormatError(f"{path}: expected a COCO results list, got {type(results).__name__}")
    if not results:
        raise DataFormatError(f"{path}: no results to score")
    for j, r in enumerate(results):
        if not isinstance(r, Mapping) or not {"image_id", "keypoints", "score"} <= r.keys():
            raise DataFormatError(f"{path}: result {j} needs 'image_id', 'keypoints' and 'score'")
        iid = r["image_id"]
        where = f"result {j} (image {iid!r:.30})"
        as_int(iid, path, f"result {j}", "image_id")
        if "category_id" in r:
            as_int(r["category_id"], path, where, "category_id")
        kp = r["keypoints"]
        if isinstance(kp, list) and len(kp) != 3 * num_keypoints:
            raise DataFormatError(
                f"{path}: {where}: 'keypoints' has {len(kp)} numbers, expected 3 × {num_keypoints} = {3 * num_keypoints} (x, y, score per keypoint)"
            )
        if not np.isfinite(as_numbers(kp, 3 * num_keypoints, path, where, "keypoints")).all():
            raise DataFormatError(f"{path}: {where}: 'keypoints' holds NaN or infinite values")
        s = r["score"]
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s):
            raise DataFormatError(f"{path}: {where}: 'score' must be a finite number, got {s!r:.60}")
        if r.get("bbox") is not None and not np.isfinite(as_numbers(r["bbox"], 4, path, where, "bbox")).all():
            raise DataFormatError(f"{path}: {where}: 'bbox' holds NaN or infinite values")
    return results


def evaluate_coco_keypoints(
    coco_gt: COCO | PathLike,
    results: Sequence[Mapping[str, Any]],
    *,
    sigmas: Sequence[float] | np.ndarray,
    verbose: bool = False,
) -> dict[str, float]:
    """Run pycocotools' keypoint COCOeval on a results list.

    Args:
        coco_gt: the ground truth (:func:`load_coco_gt`), or an annotation file path.
        results: COCO results dicts (``image_id``, ``category_id``, ``keypoints`` of 3K
            numbers, ``score``, optionally the person ``bbox``, which then gives the
            detection's area). They are copied, not modified.
        sigmas: ``(K,)`` OKS sigmas; K must match the ground truth and the results.
        verbose: let pycocotools print its progress and 10-line summary.

    Returns:
        ``{key: value}`` for :data:`METRIC_KEYS`, COCOeval ``stats`` as floats (pycocotools
        reports -1 for a metric without ground truth, e.g. no medium-size people). All zeros,
        with a logged warning, for an empty results list.

    Raises:
        ValueError: K mismatch, or results on images the ground truth does not have.
    """
    if not isinstance(coco_gt, COCO):
        coco_gt = load_coco_gt(coco_gt)
    sig = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    gt_k = _gt_num_keypoints(coco_gt)
    if gt_k is not None and gt_k != sig.shape[0]:
        raise ValueError(
            f"evaluate_coco_keypoints: the ground truth has {gt_k} keypoints but {sig.shape[0]} sigmas were given"
        )
    if len(results) == 0:
        logger.warning("evaluate_coco_keypoints: no results to evaluate; reporting all metrics as 0")
        return dict.fromkeys(METRIC_KEYS, 0.0)
    dts = []
    for j, r in enumerate(results):
        kp = r["keypoints"]
        if len(kp) != 3 * sig.shape[0]:
            raise ValueError(
                f"evaluate_coco_keypoints: result {j} (image {r.get('image_id')}) has {len(kp)} keypoint "
                f"numbers, expected 3*K = {3 * sig.shape[0]}"
            )
        # keep the person box: pycocotools takes a detection's area from it (for AP(M) / AP(L));
        # without one it uses the keypoints' extent (the official keypoint result format)
        d = {k: v for k, v in r.items() if k not in ("bbox", "segmentation", "area", "id")}
        if isinstance(r.get("bbox"), (list, tuple)) and len(r["bbox"]) == 4:
            d["bbox"] = [float(v) for v in r["bbox"]]
        d["keypoints"] = [float(v) for v in kp]
        d["image_id"] = int(r["image_id"])
        d["score"] = float(r["score"])
        dts.append(d)
    unknown = {d["image_id"] for d in dts} - set(coco_gt.getImgIds())
    if unknown:
        raise ValueError(
            f"evaluate_coco_keypoints: {len(unknown)} result image id(s) are not in the ground truth, "
            f"e.g. {sorted(unknown)[:5]}"
        )
    with _quiet(not verbose):
        coco_dt = coco_gt.loadRes(dts)
        ev = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        ev.params.kpt_oks_sigmas = sig
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    metrics = {k: float(v) for k, v in zip(METRIC_KEYS, ev.stats)}
    for key, ids in (crowd_bins(coco_gt) or {}).items():  # CrowdPose: AP per crowdIndex bin
        if not ids:
            metrics[key] = -1.0
            continue
        with _quiet(not verbose):
            ev.params.imgIds = ids
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        metrics[key] = float(ev.stats[0])
    return metrics


#: CrowdPose's difficulty bins of an image's ``crowdIndex`` (bounds inclusive, as the
#: CrowdPose evaluation's area-range test treats them): AP(easy), AP(medium), AP(hard)
CROWD_BINS: dict[str, tuple[float, float]] = {"AP_easy": (0.0, 0.1), "AP_medium": (0.1, 0.8), "AP_hard": (0.8, 1.0)}


def crowd_bins(coco_gt: COCO) -> dict[str, list[int]] | None:
    """The image ids of each :data:`CROWD_BINS` bin, or None when no image has a numeric
    ``crowdIndex`` (not a CrowdPose file)."""
    index = {im["id"]: im.get("crowdIndex") for im in coco_gt.dataset.get("images", [])}
    numeric = {i: float(v) for i, v in index.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    if not numeric:
        return None
    return {key: [i for i, v in numeric.items() if lo <= v <= hi] for key, (lo, hi) in CROWD_BINS.items()}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    try:
        return f"{float(v):.4f}"
    except (TypeError, ValueError):
        return str(v)


def format_metrics_table(
    rows: Mapping[str, Mapping[str, float]],
    *,
    title_col: str = "Model",
    keys: Sequence[str] = METRIC_KEYS,
    headers: Sequence[str] | None = None,
) -> str:
    """Markdown table of metrics, one row per entry.

    Args:
        rows: ``{row name: metrics dict}``, e.g. ``{"net1": m1, "net2": m2, "ensemble": m3}``;
            each metrics dict is keyed by ``keys`` (a missing key shows ``-``).
        title_col: header of the first column.
        keys: the metrics to print (default the COCO :data:`METRIC_KEYS`).
        headers: their column headers (default :data:`METRIC_DISPLAY_NAMES` for the COCO
            keys, the keys themselves otherwise).

    Returns:
        The table (header, ``|---|`` separator, rows; values to 4 decimals), no trailing
        newline.
    """
    if tuple(keys) == tuple(METRIC_KEYS) and any(k in m for m in rows.values() for k in CROWD_BINS):
        keys, headers = (*METRIC_KEYS, *CROWD_BINS), (*METRIC_DISPLAY_NAMES, "AP (E)", "AP (M)", "AP (H)")
    if headers is None:
        headers = METRIC_DISPLAY_NAMES if tuple(keys) == tuple(METRIC_KEYS) else keys
    lines = [
        "| " + " | ".join([title_col, *headers]) + " |",
        "|" + "---|" * (len(keys) + 1),
    ]
    for name, metrics in rows.items():
        lines.append("| " + " | ".join([str(name), *(_fmt(metrics.get(k)) for k in keys)]) + " |")
    return "\n".join(lines)


def _round_floats(obj: Any, decimals: int) -> Any:
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return round(f, decimals) if math.isfinite(f) else f
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _round_floats(obj.tolist(), decimals)
    if isinstance(obj, Mapping):
        return {str(k): _round_floats(v, decimals) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round_floats(v, decimals) for v in obj]
    return obj


def write_results_json(path: PathLike, results: Sequence[Mapping[str, Any]], *, decimals: int = 4) -> Path:
    """Write a COCO results list as compact JSON (parent folders created).

    Floats are rounded to ``decimals`` places, except ``score``, which keeps at least 6 so
    that a file ranks instances as the in-memory list does. Returns the path written.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for r in results:
        d = _round_floats(r, decimals)
        if "score" in r:
            d["score"] = _round_floats(r["score"], max(decimals, 6))
        out.append(d)
    with open(p, "w", encoding="utf-8") as f:
        json.dump(out, f, separators=(",", ":"))
    return p


def write_metrics_json(path: PathLike, metrics: Mapping[str, Any]) -> Path:
    """Write a metrics dict as indented JSON (parent folders created). Returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", encoding="utf-8") as f:
        json.dump(_round_floats(dict(metrics), 12), f, indent=2)
        f.write("\n")
    return p


def results_filename(name: str = "net") -> str:
    """File name of a results list written by :func:`evaluate_predictions`."""
    return f"keypoints_{name}_results.json"


def metrics_filename(name: str = "net") -> str:
    """File name of a metrics dict written by :func:`evaluate_predictions`."""
    return f"metrics_{name}.json"


def evaluate_predictions(
    records: Sequence[PoseRecord],
    coords: np.ndarray,
    maxvals: np.ndarray,
    ann_file: PathLike | COCO | None,
    *,
    centers: np.ndarray,
    scales: np.ndarray,
    skeleton: SkeletonSpec,
    out_dir: PathLike | None = None,
    in_vis_thr: float = 0.2,
    oks_thr: float = 0.9,
    use_nms: bool = True,
    name: str = "net",
    verbose: bool = False,
) -> dict[str, float]:
    """Rescore, OKS-NMS, (optionally) save and evaluate predictions in one call.

    Args:
        records: the N person records predicted on.
        coords: ``(N, K, 2)`` keypoints in image pixels.
        maxvals: ``(N, K)`` (or ``(N, K, 1)``) confidences.
        centers, scales: ``(N, 2)`` the crops predicted (see :func:`build_coco_results`).
        ann_file: ground truth (path or :class:`COCO`), or ``None`` for format-only runs
            (e.g. test-dev): the results are written (if ``out_dir``) and ``{}`` is returned.
        skeleton: the keypoint set (its sigmas drive NMS and COCOeval).
        out_dir: if given, writes ``<out_dir>/keypoints_<name>_results.json`` and, when
            evaluated, ``<out_dir>/metrics_<name>.json`` (see :func:`results_filename`,
            :func:`metrics_filename`).
        in_vis_thr, oks_thr, use_nms: see :func:`build_coco_results`.
        name: label used in the file names (e.g. ``"net1"``, ``"net2"``, ``"ensemble"``).
        verbose: let pycocotools print its summary.

    Returns:
        The metrics dict (:data:`METRIC_KEYS`), or ``{}`` when ``ann_file`` is ``None``.
    """
    sk = get_skeleton(skeleton)
    results = build_coco_results(
        records, coords, maxvals, centers=centers, scales=scales, sigmas=sk.sigmas, in_vis_thr=in_vis_thr, oks_thr=oks_thr,
        use_nms=use_nms,
    )
    if out_dir is not None:
        res_path = write_results_json(Path(out_dir) / results_filename(name), results)
        logger.info("wrote %d keypoint results to %s", len(results), res_path)
    if ann_file is None:
        logger.info("no ground truth given (format-only run): %d results, no metrics", len(results))
        return {}
    coco_gt = ann_file if isinstance(ann_file, COCO) else load_coco_gt(ann_file, skeleton=sk)
    metrics = evaluate_coco_keypoints(coco_gt, results, sigmas=sk.sigmas, verbose=verbose)
    if out_dir is not None:
        write_metrics_json(Path(out_dir) / metrics_filename(name), metrics)
    return metrics
