"""Identity errors of tracks against labelled tracks (SLEAP tracks, DeepLabCut individuals): per
frame the predicted instances are matched to the labelled ones (the Hungarian assignment on the
mean keypoint distance), and a labelled track whose matched predicted track changes from one of
its matched frames to the next counts one identity switch (CLEAR-MOT's IDSW).

Shape symbols: per frame N predicted and M labelled instances, K keypoints.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from .pixels import error_summary

__all__ = ["TrackingScore", "InstanceScore", "identity_switches", "match_instances", "pose_distance", "score_instances"]


def pose_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, M)`` mean distance over the keypoints both poses have, between ``(N, K, 2)`` and
    ``(M, K, 2)`` poses (``inf`` where they share none)."""
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)  # (N, M, K)
    valid = np.isfinite(d)
    n = valid.sum(-1)
    out = np.where(valid, d, 0.0).sum(-1) / np.maximum(n, 1)
    return np.where(n > 0, out, np.inf)


def match_instances(pred: np.ndarray, gt: np.ndarray, max_distance: float | None = None) -> list[tuple[int, int]]:
    """``(pred index, gt index)`` pairs of one frame: the Hungarian assignment on the mean
    keypoint distance of ``(N, K, 2)`` and ``(M, K, 2)`` poses, pairs further than ``max_distance``
    (pixels) dropped."""
    from scipy.optimize import linear_sum_assignment

    if len(pred) == 0 or len(gt) == 0:
        return []
    cost = pose_distance(np.asarray(pred, np.float64), np.asarray(gt, np.float64))
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
    return [(int(r), int(c)) for r, c in zip(rows, cols)
            if np.isfinite(cost[r, c]) and (max_distance is None or cost[r, c] <= max_distance)]


@dataclass
class TrackingScore:
    """Identity switches, matched instances, and labelled instances missed."""

    switches: int
    matched: int
    missed: int


def identity_switches(pred_poses: Sequence[np.ndarray], pred_ids: Sequence[Sequence[int]], gt_poses: Sequence[np.ndarray],
                      gt_tracks: Sequence[Sequence[Hashable]], *, max_distance: float | None = None) -> TrackingScore:
    """Count identity switches over a video's frames (see the module).

    Args:
        pred_poses, pred_ids: per frame ``(N, K, 2)`` predicted poses and their N track ids.
        gt_poses, gt_tracks: per frame ``(M, K, 2)`` labelled poses and their M track names.
        max_distance: a match further than this (pixels) is not a match.
    """
    if not len(pred_poses) == len(pred_ids) == len(gt_poses) == len(gt_tracks):
        raise ValueError("one entry per frame in each of pred_poses, pred_ids, gt_poses, gt_tracks")
    last: dict[Hashable, int] = {}
    switches = matched = missed = 0
    for pp, pid, gp, gt in zip(pred_poses, pred_ids, gt_poses, gt_tracks):
        pairs = match_instances(np.asarray(pp).reshape(len(pid), -1, 2) if len(pid) else np.zeros((0, 1, 2)), np.asarray(gp), max_distance)
        missed += len(gt) - len(pairs)
        for p, g in pairs:
            matched += 1
            name, tid = gt[g], int(pid[p])
            if name in last and last[name] != tid:
                switches += 1
            last[name] = tid
    return TrackingScore(switches, matched, missed)


@dataclass
class InstanceScore:
    """A whole multi-instance pipeline on labelled frames: the errors of matched instances, and
    the instances missed or extra.

    Attributes:
        errors: ``(matched, K)`` pixel errors of the matched instances (NaN where not labelled).
        missed: labelled instances with no prediction matched; extra: predictions matched to none.
        frames, frames_found: labelled frames, and those where every labelled instance was matched.
    """

    errors: np.ndarray
    missed: int
    extra: int
    frames: int
    frames_found: int

    def summary(self, pck_px: Sequence[float] = (5.0, 10.0, 20.0)) -> dict[str, float]:
        d = self.errors[np.isfinite(self.errors)]
        out = {"matched": float(len(self.errors)), "missed": float(self.missed), "extra": float(self.extra),
               "found_frames": self.frames_found / max(self.frames, 1)}
        if d.size:
            out.update(error_summary(d, pck_px))
        return out


def score_instances(pred_poses: Sequence[np.ndarray], gt_poses: Sequence[np.ndarray], *, max_distance: float | None = None) -> InstanceScore:
    """Match each frame's predicted instances ``(N, K, 2)`` to its labelled ones ``(M, K, 2)``
    (:func:`match_instances`; a labelled keypoint is one that is not NaN) and score the pairs."""
    if len(pred_poses) != len(gt_poses):
        raise ValueError(f"{len(pred_poses)} predicted frames against {len(gt_poses)} labelled ones")
    errors, missed, extra, found = [], 0, 0, 0
    for pp, gp in zip(pred_poses, gt_poses):
        pp, gp = np.asarray(pp, np.float64), np.asarray(gp, np.float64)
        pairs = match_instances(pp, gp, max_distance)
        missed += len(gp) - len(pairs)
        extra += len(pp) - len(pairs)
        found += len(pairs) == len(gp)
        errors += [np.linalg.norm(pp[p] - gp[g], axis=-1) for p, g in pairs]
    k = next((np.asarray(g).shape[1] for g in gt_poses if len(g)), 0)
    return InstanceScore(np.array(errors).reshape(-1, k), missed, extra, len(gt_poses), found)
