"""MPII PCKh (semipose.evaluation.pckh): the reference's rules on the real sample and by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import savemat

from semipose.data.mpii import load_mpii
from semipose.evaluation.pckh import (
    MEAN_AT_01_EXACT,
    MPII_GT_JOINT_NAMES,
    PCKH_KEYS,
    MPIIGroundTruth,
    evaluate_pckh,
    format_pckh_table,
    load_mpii_gt,
)
from semipose.skeletons import get_union_mapping

MPII_JSON = "mpii/mpii_sample.json"


def _sample(sample_data):
    """Records (0-based predictions) and a ground truth built from the same JSON, with head boxes
    of known diagonal (the sample carries none): a box from the upper neck to the head top."""
    raw = json.loads((sample_data / MPII_JSON).read_text())
    recs = load_mpii(sample_data / MPII_JSON, sample_data / "mpii/images").records
    joints = np.array([e["joints"] for e in raw], dtype=np.float64)  # 1-based, as gt_valid.mat
    vis = np.array([e["joints_vis"] for e in raw])
    headboxes = np.stack([joints[:, 8], joints[:, 9]], axis=1)  # (N, 2, 2)
    gt = MPIIGroundTruth.from_arrays(joints, vis, headboxes)
    preds = np.stack([r.keypoints[:, :2] for r in recs]).astype(np.float64)
    head = 0.6 * np.linalg.norm(joints[:, 9] - joints[:, 8], axis=1)  # (N,) head size × SC_BIAS
    return preds, gt, head, vis


def test_gt_as_predictions_is_100(sample_data):
    preds, gt, _, vis = _sample(sample_data)
    assert gt.num_persons == 5 and vis.sum() == 76
    m = evaluate_pckh(preds, gt)
    assert list(m) == [*PCKH_KEYS, MEAN_AT_01_EXACT]
    assert all(v == 100.0 for v in m.values())
    # the +1 matters: the same predictions read as 1-based miss by one pixel, still within 0.5 head
    m1 = evaluate_pckh(preds, gt, zero_based=False)
    assert m1["Mean"] == 100.0 and m1["Mean@0.1"] == 100.0
    # union-order predictions are mapped back to MPII order
    union = get_union_mapping("mpii16").to_union(preds)
    assert evaluate_pckh(union, gt) == m


def test_known_offsets(sample_data):
    preds, gt, head, vis = _sample(sample_data)
    d = head[:, None, None] * np.array([1.0, 0.0])  # one head size along x, per person
    assert evaluate_pckh(preds + 0.4 * d, gt)["Mean"] == 100.0
    far = evaluate_pckh(preds + 0.6 * d, gt)
    assert all(far[k] == 0.0 for k in PCKH_KEYS)
    # right joints (and pelvis/thorax, which do not count) 0.6 head sizes away, left joints and
    # neck/head 0.35: each left/right part is 50 %. Visible counts: ankles 3 each, others 5; the
    # Mean counts 14 joints (66 visible), 38 of them correct.
    mixed = preds.copy()
    right, centre = [0, 1, 2, 10, 11, 12, 6, 7], [8, 9]
    mixed[:, right] += 0.6 * d[:, :, :]
    mixed[:, [3, 4, 5, 13, 14, 15] + centre] += 0.35 * d
    m = evaluate_pckh(mixed, gt)
    assert m["Head"] == 100.0
    for part in ("Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle"):
        assert m[part] == pytest.approx(50.0)
    assert m["Mean"] == pytest.approx(100 * 38 / 66)
    assert m["Mean@0.4"] == pytest.approx(100 * 38 / 66) and m["Mean@0.3"] == 0.0


def test_mean_at_01_is_threshold_011(sample_data):
    preds, gt, head, _ = _sample(sample_data)
    d = head[:, None, None] * np.array([0.6, 0.8])  # unit direction
    m = evaluate_pckh(preds + 0.105 * d, gt)
    assert m["Mean@0.1"] == 100.0  # the reference's grid index 11 = 0.11
    assert m[MEAN_AT_01_EXACT] == 0.0
    assert m["Mean@0.2"] == 100.0 and m["Mean"] == 100.0
    # sc_bias and threshold are honoured
    assert evaluate_pckh(preds + 0.105 * d, gt, threshold=0.1)["Mean"] == 0.0
    assert evaluate_pckh(preds + 0.55 * d, gt, sc_bias=0.6 * 1.2)["Mean"] == 100.0


def test_gt_valid_mat_layout_roundtrip(sample_data, tmp_path):
    preds, gt, head, _ = _sample(sample_data)
    names = np.empty((1, 16), dtype=object)
    for i, n in enumerate(MPII_GT_JOINT_NAMES):
        names[0, i] = n
    path = tmp_path / "gt_valid.mat"
    savemat(str(path), {
        "dataset_joints": names, "jnt_missing": gt.jnt_missing, "pos_gt_src": gt.pos_gt_src,
        "headboxes_src": gt.headboxes_src,
    })
    loaded = load_mpii_gt(path)
    assert loaded.joint_names == MPII_GT_JOINT_NAMES
    np.testing.assert_array_equal(loaded.pos_gt_src, gt.pos_gt_src)
    noisy = preds + np.random.default_rng(0).normal(0, 0.3, preds.shape) * head[:, None, None]
    assert evaluate_pckh(noisy, path) == evaluate_pckh(noisy, gt)
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        evaluate_pckh(preds, tmp_path / "missing.mat")
    savemat(str(tmp_path / "partial.mat"), {"jnt_missing": gt.jnt_missing})
    with pytest.raises(ValueError, match=r"partial\.mat: missing \['dataset_joints'"):
        load_mpii_gt(tmp_path / "partial.mat")
    with pytest.raises(ValueError, match="4 predictions but 5"):
        evaluate_pckh(preds[:4], gt)


def test_format_pckh_table():
    m = {k: 90.0 + i for i, k in enumerate(PCKH_KEYS)}
    lines = format_pckh_table({"pose_resnet_18": m, "ensemble": m}).splitlines()
    assert lines[0] == "| Arch | " + " | ".join(PCKH_KEYS) + " |"
    assert lines[1] == "|" + "---|" * 13
    assert lines[2].startswith("| pose_resnet_18 | 90.0000 | 91.0000 |") and lines[2].endswith("| 101.0000 |")
    assert format_pckh_table({"x": {}}, columns=("Mean", MEAN_AT_01_EXACT)).splitlines()[2] == "| x | - | - |"
