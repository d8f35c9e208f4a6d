"""Identities through a video: each frame's instances are assigned to the open tracks by their
keypoint distance to where each track is expected (its last pose moved by its last velocity),
with the Hungarian assignment (``scipy.optimize.linear_sum_assignment``); an instance further
than ``max_distance`` from every track starts a new one, and a track unseen for more than
``max_gap`` frames ends (a later instance there starts a new track).

Shape symbols: N instances in a frame, K keypoints. Keypoints are in image pixels; a NaN
keypoint (not found) does not count in a distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..evaluation.tracking import pose_distance

__all__ = ["Track", "Tracker", "pose_distance"]


@dataclass
class Track:
    """One identity: its id, last pose and velocity (pixels per frame), and when it was last seen."""

    id: int
    pose: np.ndarray
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1

    def expected(self, frame: int) -> np.ndarray:
        """``(K, 2)`` where the track should be at ``frame``: its last pose moved by its velocity."""
        return self.pose + self.velocity * (frame - self.last_frame)


class Tracker:
    """Assign track ids to each frame's instances (see the module).

    Args:
        max_distance: pixels; an instance further than this from every expected track pose
            starts a new track (None: no limit).
        max_gap: frames a track may go unseen before it ends.
        motion: weight of the velocity (0: the last pose only; 1: constant velocity).
    """

    def __init__(self, max_distance: float | None = None, max_gap: int = 10, motion: float = 0.5) -> None:
        if max_gap < 0 or (max_distance is not None and not max_distance > 0):
            raise ValueError(f"max_gap must be ≥ 0 and max_distance > 0, got {max_gap}, {max_distance}")
        self.max_distance = max_distance
        self.max_gap = int(max_gap)
        self.motion = float(motion)
        self.tracks: list[Track] = []
        self.ended: list[Track] = []
        self._next = 0

    def update(self, frame: int, poses: np.ndarray | Sequence[np.ndarray]) -> list[int]:
        """The track id of each of ``frame``'s instances, ``(N, K, 2)`` (N may be 0)."""
        from scipy.optimize import linear_sum_assignment

        poses = np.asarray(poses, np.float64).reshape(-1, *np.shape(poses)[-2:]) if len(poses) else np.zeros((0, 0, 2))
        for t in [t for t in self.tracks if frame - t.last_frame > self.max_gap]:
            self.tracks.remove(t)
            self.ended.append(t)
        ids = [-1] * len(poses)
        if self.tracks and len(poses):
            expected = np.stack([t.expected(frame) for t in self.tracks])
            cost = pose_distance(poses, expected)
            big = 1e9
            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, big))
            for r, c in zip(rows, cols):
                if cost[r, c] >= big or (self.max_distance is not None and cost[r, c] > self.max_distance):
                    continue
                t = self.tracks[c]
                centre_new, centre_old = np.nanmean(poses[r], axis=0), np.nanmean(t.pose, axis=0)
                step = (centre_new - centre_old) / max(frame - t.last_frame, 1)
                t.velocity = self.motion * np.nan_to_num(step) + (1 - self.motion) * t.velocity
                t.pose = np.where(np.isfinite(poses[r]), poses[r], t.pose)
                t.last_frame, t.hits = frame, t.hits + 1
                ids[r] = t.id
        for r in range(len(poses)):
            if ids[r] < 0:
                t = Track(self._next, poses[r].copy(), frame)
                self._next += 1
                self.tracks.append(t)
                ids[r] = t.id
        return ids
