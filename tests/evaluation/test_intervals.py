"""Bootstrap intervals over frames and repeats, and paired differences: they cover the truth of
a known distribution, shrink with more frames, see a real gain that an unpaired look would miss,
keep a frame's instances together, and refuse unpaired data."""

from __future__ import annotations

import numpy as np
import pytest

from semipose.evaluation.intervals import Repeat, bootstrap, paired_difference, summary


def _repeat(rng, n, k=4, scale=5.0, frames_per=1):
    err = np.abs(rng.normal(0, scale, (n * frames_per, k)))
    err[rng.random(err.shape) < 0.1] = np.nan  # unlabelled keypoints
    return Repeat(err, np.repeat(np.arange(n), frames_per))


def test_summary_counts_only_labelled_keypoints():
    e = np.array([[3.0, np.nan], [4.0, 20.0]])
    s = summary(e, (5.0, 10.0))
    assert s["rmse"] == pytest.approx(np.sqrt((9 + 16 + 400) / 3)) and s["median"] == 4.0
    assert s["pck5"] == pytest.approx(2 / 3) and s["pck10"] == pytest.approx(2 / 3)
    assert np.isnan(summary(np.full((2, 2), np.nan))["rmse"])


def test_intervals_cover_and_shrink():
    rng = np.random.default_rng(0)
    small = bootstrap([_repeat(rng, 30) for _ in range(3)], n_boot=300)
    large = bootstrap([_repeat(rng, 300) for _ in range(3)], n_boot=300)
    true_rmse = 5.0  # RMS of |N(0, 5)|
    for iv in (small["rmse"], large["rmse"]):
        assert iv.low < iv.value < iv.high
    assert large["rmse"].low < true_rmse < large["rmse"].high
    assert (large["rmse"].high - large["rmse"].low) < 0.5 * (small["rmse"].high - small["rmse"].low)


def test_a_paired_gain_is_seen_where_frames_vary_a_lot():
    """Per-frame difficulty varies 10x between frames; the method is 10 % better on every frame.
    The paired interval excludes 0; each method's own intervals overlap."""
    rng = np.random.default_rng(1)
    base, meth = [], []
    for _ in range(3):
        hard = rng.uniform(1, 10, 40)[:, None] * np.ones((1, 5))
        noise = np.abs(rng.normal(1, 0.05, hard.shape))
        base.append(Repeat(hard * noise, np.arange(40)))
        meth.append(Repeat(0.9 * hard * noise, np.arange(40)))
    d = paired_difference(meth, base, n_boot=400)
    a, b = bootstrap(meth, n_boot=400), bootstrap(base, n_boot=400)
    assert d["rmse"].high < 0 and d["rmse"].excludes_zero()
    assert a["rmse"].high > b["rmse"].low  # unpaired, the two overlap
    assert d["pck10"].value >= 0


def test_instances_of_a_frame_are_drawn_together():
    r = Repeat(np.arange(12, dtype=float).reshape(6, 2), np.array([7, 7, 3, 3, 9, 9]))
    assert r.num_frames == 3
    rows = r.rows(np.array([2, 0, 2]))
    assert r.frames[rows].tolist() == [9, 9, 3, 3, 9, 9]


def test_unpaired_data_are_refused():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match="same splits"):
        paired_difference([_repeat(rng, 10)], [_repeat(rng, 10), _repeat(rng, 10)])
    with pytest.raises(ValueError, match="same frames"):
        paired_difference([_repeat(rng, 10)], [_repeat(rng, 11)])
