"""Pixel-error summaries with 95 % bootstrap intervals over test frames and repeats, and the
paired difference of two methods evaluated on the same splits (what ``semipose compare``
reports).

The data of one method are its repeats: each an ``(N_r, K)`` array of keypoint errors in
pixels (NaN where not labelled) over the instances of that repeat's test frames, with each
instance's frame id. One bootstrap draw resamples the repeats with replacement, then within
each drawn repeat its test *frames* with replacement (all instances of a drawn frame together),
and computes the summary over every labelled keypoint of the draw. A paired difference draws
the same repeats and frames for both methods (they were tested on the same frames), so the
spread between splits cancels.

No torch; shape symbols: R repeats, N instances, K keypoints, F frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .pixels import InstanceErrors, error_summary

__all__ = ["repeat_of", "Repeat", "Interval", "summary", "bootstrap", "paired_difference", "SUMMARY_KEYS", "pck_key"]


def pck_key(px: float) -> str:
    """The summary key of PCK at ``px`` pixels: ``pck10``."""
    return f"pck{px:g}"


#: the summaries, lower is better for all but PCK
SUMMARY_KEYS: tuple[str, ...] = ("rmse", "median")


@dataclass
class Repeat:
    """One repeat's test errors.

    Attributes:
        errors: ``(N, K)`` pixels, NaN where not labelled.
        frames: ``(N,)`` each instance's test frame (image id).
    """

    errors: np.ndarray
    frames: np.ndarray

    def __post_init__(self) -> None:
        self.errors = np.asarray(self.errors, np.float64)
        self.frames = np.asarray(self.frames)
        if self.errors.ndim != 2 or len(self.frames) != len(self.errors):
            raise ValueError(f"errors must be (N, K) with N frame ids, got {self.errors.shape} and {self.frames.shape}")
        order = np.argsort(self.frames, kind="stable")
        self.errors, self.frames = self.errors[order], self.frames[order]
        _, self._starts, self._counts = np.unique(self.frames, return_index=True, return_counts=True)

    @property
    def num_frames(self) -> int:
        return len(self._starts)

    def rows(self, frames: np.ndarray) -> np.ndarray:
        """The instance rows of the frames at positions ``frames`` (with repeats), in order."""
        counts = self._counts[frames]
        offsets = np.repeat(self._starts[frames] - np.cumsum(counts) + counts, counts)
        return offsets + np.arange(int(counts.sum()))


def repeat_of(record: Mapping[str, Any], what: str = "a results record") -> Repeat:
    """The :class:`Repeat` of a record holding an evaluation's per-instance errors
    (:class:`~semipose.evaluation.pixels.InstanceErrors` fields: a compare cell, a study's line)."""
    e = InstanceErrors.from_dict(record, what)
    return Repeat(e.errors_px, e.image_ids)


@dataclass
class Interval:
    """A point estimate and its 95 % bootstrap interval."""

    value: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_list(self) -> list[float]:
        return [round(self.value, 4), round(self.low, 4), round(self.high, 4)]


def summary(errors: np.ndarray, pck_px: Sequence[float] = (10.0,)) -> dict[str, float]:
    """RMSE, median and PCK@px of the labelled (non-NaN) entries of ``errors`` (any shape); NaN when none."""
    d = np.asarray(errors, np.float64).ravel()
    d = d[~np.isnan(d)]
    if d.size == 0:
        return {k: float("nan") for k in (*SUMMARY_KEYS, *(pck_key(p) for p in pck_px))}
    px = error_summary(d, pck_px)
    return {"rmse": px["rmse_px"], "median": px["median_px"], **{pck_key(p): px[f"{pck_key(p)}_px"] for p in pck_px}}


def _draws(repeats: Sequence[Repeat], n_boot: int, seed: int) -> list[list[tuple[int, np.ndarray]]]:
    """``n_boot`` draws, each a list of (repeat, frame positions)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        reps = rng.integers(0, len(repeats), len(repeats)) if len(repeats) > 1 else np.zeros(1, np.int64)
        out.append([(int(r), rng.integers(0, repeats[r].num_frames, repeats[r].num_frames)) for r in reps])
    return out


def _stack(repeats: Sequence[Repeat], draw: list[tuple[int, np.ndarray]]) -> np.ndarray:
    return np.concatenate([repeats[r].errors[repeats[r].rows(f)] for r, f in draw])


def _interval(point: float, values: np.ndarray) -> Interval:
    lo, hi = np.nanpercentile(values, [2.5, 97.5]) if np.isfinite(values).any() else (np.nan, np.nan)
    return Interval(point, float(lo), float(hi))


def bootstrap(repeats: Sequence[Repeat], *, pck_px: Sequence[float] = (10.0,), n_boot: int = 1000, seed: int = 0) -> dict[str, Interval]:
    """:func:`summary` over every repeat's test errors with its 95 % interval (see the module)."""
    if not repeats:
        raise ValueError("no repeats to summarise")
    point = summary(np.concatenate([r.errors for r in repeats]), pck_px)
    boots = [summary(_stack(repeats, d), pck_px) for d in _draws(repeats, n_boot, seed)]
    return {k: _interval(v, np.array([b[k] for b in boots])) for k, v in point.items()}


def paired_difference(method: Sequence[Repeat], baseline: Sequence[Repeat], *, pck_px: Sequence[float] = (10.0,), n_boot: int = 1000,
                      seed: int = 0) -> dict[str, Interval]:
    """``summary(method) − summary(baseline)`` with its paired 95 % interval: both were tested on
    the same frames of the same repeats (checked), and each draw takes the same repeats and
    frames of both. Negative RMSE / median and positive PCK differences favour ``method``.

    Raises:
        ValueError: the two were not tested on the same repeats and frames.
    """
    if len(method) != len(baseline):
        raise ValueError(f"{len(method)} repeats against {len(baseline)}: a paired difference needs the same splits")
    for i, (a, b) in enumerate(zip(method, baseline)):
        if a.errors.shape != b.errors.shape or not np.array_equal(a.frames, b.frames):
            raise ValueError(f"repeat {i}: the two were not tested on the same frames")
    pa = summary(np.concatenate([r.errors for r in method]), pck_px)
    pb = summary(np.concatenate([r.errors for r in baseline]), pck_px)
    diffs: dict[str, list[float]] = {k: [] for k in pa}
    for d in _draws(baseline, n_boot, seed):
        sa, sb = summary(_stack(method, d), pck_px), summary(_stack(baseline, d), pck_px)
        for k in diffs:
            diffs[k].append(sa[k] - sb[k])
    return {k: _interval(pa[k] - pb[k], np.array(v)) for k, v in diffs.items()}
