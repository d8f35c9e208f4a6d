"""A whole multi-instance pipeline on labelled frames: who finds the instances (an instance
finder, a person detector), then the pose model in each crop; the predicted instances matched to
the labelled ones (:func:`~semipose.evaluation.tracking.score_instances`).

``semipose eval CONFIG --checkpoint POSE --detector FINDER`` runs it on the validation frames
twice — with the finder's boxes and with the label-derived boxes — so the cost of finding the
instances is one row against the other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..config import Config
from ..data.records import PoseRecord
from ..detect.base import Detector
from ..evaluation.tracking import InstanceScore, score_instances
from ..image import read_image
from .estimator import PoseEstimator

__all__ = ["PipelineScore", "score_pipeline", "evaluate_pipeline", "format_pipeline_table"]


@dataclass
class PipelineScore:
    """One run of the pipeline over labelled frames.

    Attributes:
        boxes: who gave the crops (``finder …``, ``label boxes``).
        score: the matched instances' errors, the missed and extra instances.
        seconds: wall time.
    """

    boxes: str
    score: InstanceScore
    seconds: float

    def summary(self) -> dict[str, Any]:
        n = len(self.score.errors) + self.score.missed
        out: dict[str, Any] = {"boxes": self.boxes, **self.score.summary(), "frames": self.score.frames, "seconds": round(self.seconds, 1)}
        out["found_instances"] = len(self.score.errors) / max(n, 1)
        return out


def _frames(records: Sequence[PoseRecord]) -> list[list[PoseRecord]]:
    by: dict[int, list[PoseRecord]] = {}
    for r in records:
        by.setdefault(r.image_id, []).append(r)
    return list(by.values())


def score_pipeline(estimator: PoseEstimator, records: Sequence[PoseRecord], *, detector: Detector | None = None,
                   max_distance: float | None = None, progress: bool = True, desc: str = "") -> PipelineScore:
    """Predict every labelled frame of ``records`` and match the instances to the labels.

    Args:
        estimator: the pose model.
        records: labelled instances (ground truth), several per frame.
        detector: finds the instances (None: each frame's label-derived boxes, ``records[i].bbox``).
        max_distance: a match further than this mean keypoint distance (pixels) is none.
        desc: what the boxes are called in the summary (default: the detector's description).

    Returns:
        :class:`PipelineScore`; labelled keypoints are those with ``v > 0``.
    """
    t0 = time.perf_counter()
    preds, truth = [], []
    frames = _frames(records)
    for recs in tqdm(frames, desc="frames", disable=not progress, leave=False, dynamic_ncols=True):
        image = read_image(recs[0].image_path)
        if detector is None:
            res = estimator(image, np.stack([r.bbox for r in recs]))
        else:
            res = estimator(image, detector=detector)
        preds.append(res.keypoints)  # type: ignore[union-attr]
        gt = np.stack([r.keypoints for r in recs]).astype(np.float64)
        truth.append(np.where(gt[..., 2:] > 0, gt[..., :2], np.nan))
    name = desc or ("label boxes" if detector is None else str(getattr(detector, "description", type(detector).__name__)))
    return PipelineScore(name, score_instances(preds, truth, max_distance=max_distance), time.perf_counter() - t0)


def format_pipeline_table(rows: Sequence[PipelineScore]) -> str:
    """One line per run: instances found, frames with all found, missed / extra, matched errors in pixels."""
    cols = [("found", "found_instances", "{:.1%}"), ("frames all found", "found_frames", "{:.1%}"), ("missed", "missed", "{:.0f}"),
            ("extra", "extra", "{:.0f}"), ("RMSE px", "rmse_px", "{:.2f}"), ("median px", "median_px", "{:.2f}"),
            ("PCK@10", "pck10_px", "{:.3f}"), ("s", "seconds", "{:.1f}")]
    sums = [r.summary() for r in rows]
    width = max(len(s["boxes"]) for s in sums)
    lines = [" | ".join([f"{'boxes':{width}}"] + [c for c, _, _ in cols])]
    for s in sums:
        lines.append(" | ".join([f"{s['boxes']:{width}}"] + [(f.format(s[k]) if k in s else "-").rjust(len(c)) for c, k, f in cols]))
    return "\n".join(lines)


def evaluate_pipeline(cfg: Config, model: Any, detector: Any, out_dir: str | Path | None = None, *, score_thr: float | None = None,
                      trust: bool = False, progress: bool = True) -> list[PipelineScore]:
    """``semipose eval CONFIG --checkpoint POSE --detector FINDER``: on the labelled frames of
    ``cfg.data.val``, the detector's (a finder file, an ONNX detector source or a callable) boxes
    then the pose model, and the same model on the label boxes.

    Args:
        cfg: the evaluation config (its validation split, eval precision, flip test, decoder).
        model: the pose model: a path or a read :class:`~semipose.models.reader.ModelFile`.
        detector: who finds the instances (:func:`~semipose.models.finder.open_instance_detector`).
        out_dir: where ``pipeline.json`` (both rows' summaries) is written (None: nowhere).
        score_thr: the detector's threshold (default: its own).

    Returns:
        ``[detector's row, label boxes' row]``.
    """
    from ..data.sources import build_skeleton, load_split
    from ..models.finder import open_instance_detector

    records, _, _ = load_split(cfg, cfg.data.val, build_skeleton(cfg), key="val")
    est = PoseEstimator.from_file(model, precision=cfg.eval.precision, flip_test=cfg.eval.flip_test, decoder=cfg.eval.decoder,
                                  trust=trust)
    det = open_instance_detector(detector, score_thr, trust=trust, progress=progress)
    rows = [score_pipeline(est, records, detector=det, progress=progress), score_pipeline(est, records, progress=progress)]
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "pipeline.json").write_text(json.dumps([r.summary() for r in rows], indent=1))
    return rows
