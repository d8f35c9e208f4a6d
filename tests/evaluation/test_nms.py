"""OKS and OKS-NMS (semipose.evaluation.nms)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semipose.evaluation import oks_iou, oks_matrix, oks_nms
from semipose.skeletons import AIC14, COCO17


def _scalar_oks(a, b, area_a, area_b, sigmas, vis_thr=None):
    """Direct per-keypoint COCO OKS between two (K, 3) instances (test oracle)."""
    total, count = 0.0, 0
    for k in range(len(sigmas)):
        if vis_thr is not None and not (a[k][2] > vis_thr and b[k][2] > vis_thr):
            continue
        d2 = (a[k][0] - b[k][0]) ** 2 + (a[k][1] - b[k][1]) ** 2
        var = (2 * sigmas[k]) ** 2
        e = d2 / var / ((area_a + area_b) / 2 + np.spacing(1)) / 2
        total += math.exp(-e)
        count += 1
    return total / count if count else 0.0


def _random_poses(rng, n, k, spread=40.0):
    xy = rng.uniform(100, 300, size=(1, k, 2)) + rng.normal(0, spread, size=(n, k, 2))
    v = rng.uniform(0, 1, size=(n, k, 1))
    return np.concatenate([xy, v], axis=-1)


@pytest.mark.parametrize("vis_thr", [None, 0.3])
def test_oks_iou_matches_scalar_formula(vis_thr):
    rng = np.random.default_rng(0)
    sig = COCO17.sigmas
    p = _random_poses(rng, 8, 17)
    areas = rng.uniform(2000, 40000, size=8)
    got = oks_iou(p[0], p[1:], areas[0], areas[1:], sig, vis_thr=vis_thr)
    assert got.shape == (7,)
    want = [_scalar_oks(p[0], p[j], areas[0], areas[j], sig, vis_thr) for j in range(1, 8)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert got.min() > 0.0 and got.max() < 1.0


def test_oks_iou_single_instance_returns_float():
    p = _random_poses(np.random.default_rng(1), 2, 14)
    got = oks_iou(p[0], p[1], 5000.0, 6000.0, AIC14.sigmas)
    assert isinstance(got, float)
    assert got == pytest.approx(_scalar_oks(p[0], p[1], 5000.0, 6000.0, AIC14.sigmas))


def test_oks_iou_no_visible_keypoints_is_zero():
    p = _random_poses(np.random.default_rng(2), 2, 17)
    p[..., 2] = 0.1
    assert oks_iou(p[0], p[1:], 1e4, np.array([1e4]), COCO17.sigmas, vis_thr=0.2)[0] == 0.0


@pytest.mark.parametrize("vis_thr", [None, 0.5])
def test_oks_matrix_symmetric_unit_diagonal_and_matches_oks_iou(vis_thr):
    rng = np.random.default_rng(3)
    p = _random_poses(rng, 6, 17)
    p[..., 2] = np.maximum(p[..., 2], 0.6 * (np.arange(17) % 2))  # every instance has visible kpts
    areas = rng.uniform(2000, 40000, size=6)
    m = oks_matrix(p, areas, COCO17.sigmas, vis_thr=vis_thr)
    assert m.shape == (6, 6)
    np.testing.assert_allclose(m, m.T, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.diag(m), 1.0)
    for i in range(6):
        np.testing.assert_allclose(m[i], oks_iou(p[i], p, areas[i], areas, COCO17.sigmas, vis_thr=vis_thr))


def test_oks_sigma_count_mismatch_raises():
    p = _random_poses(np.random.default_rng(4), 3, 17)
    with pytest.raises(ValueError, match="17 keypoints but 14 sigmas"):
        oks_matrix(p, np.ones(3), AIC14.sigmas)


def test_nms_near_identical_keeps_higher_score():
    rng = np.random.default_rng(5)
    a = _random_poses(rng, 1, 17)[0]
    b = a.copy()
    b[:, :2] += rng.normal(0, 0.5, size=(17, 2))
    kpts = np.stack([a, b])
    keep = oks_nms(kpts, np.array([0.4, 0.9]), np.array([2e4, 2e4]), COCO17.sigmas, 0.9)
    assert keep.tolist() == [1]
    keep = oks_nms(kpts, np.array([0.9, 0.4]), np.array([2e4, 2e4]), COCO17.sigmas, 0.9)
    assert keep.tolist() == [0]


def test_nms_far_apart_keeps_both_in_score_order():
    rng = np.random.default_rng(6)
    a = _random_poses(rng, 1, 17)[0]
    b = a.copy()
    b[:, 0] += 400.0
    keep = oks_nms(np.stack([a, b]), np.array([0.3, 0.8]), np.array([2e4, 2e4]), COCO17.sigmas, 0.9)
    assert keep.tolist() == [1, 0]


def test_nms_greedy_chain_and_edge_cases():
    # b is close to a and c is close to b, but c is far enough from a: a suppresses b only,
    # so c survives (greedy, not transitive).
    base = np.zeros((17, 3))
    base[:, 0] = np.arange(17) * 20.0
    base[:, 2] = 1.0
    a, b, c = base.copy(), base.copy(), base.copy()
    b[:, 1] += 3.0
    c[:, 1] += 12.0
    kpts = np.stack([a, b, c])
    areas = np.full(3, 1e4)
    m = oks_matrix(kpts, areas, COCO17.sigmas)
    assert m[0, 1] > 0.9 and m[1, 2] > 0.5 and m[0, 2] <= 0.9
    keep = oks_nms(kpts, np.array([0.9, 0.8, 0.7]), areas, COCO17.sigmas, 0.9)
    assert keep.tolist() == [0, 2]
    assert oks_nms(np.zeros((0, 17, 3)), np.zeros(0), np.zeros(0), COCO17.sigmas).tolist() == []
    assert oks_nms(kpts[:1], np.array([0.1]), areas[:1], COCO17.sigmas).tolist() == [0]
    # thr = 1.0 suppresses nothing (OKS never exceeds 1)
    assert sorted(oks_nms(np.stack([a, a]), np.array([0.5, 0.5]), areas[:2], COCO17.sigmas, 1.0)) == [0, 1]
