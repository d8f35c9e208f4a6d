"""COCO keypoint evaluation (semipose.evaluation.coco) on the real sample files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from conftest import crops
from semipose.data.records import PoseRecord
from semipose.evaluation import (
    METRIC_DISPLAY_NAMES,
    METRIC_KEYS,
    build_coco_results,
    evaluate_coco_keypoints,
    evaluate_predictions,
    format_metrics_table,
    load_coco_gt,
    rescore,
    write_results_json,
)
from semipose.skeletons import AIC14, COCO17

COCO_JSON = "coco/person_keypoints_sample.json"
AIC_JSON = "aic/aic_sample.json"


def _gt_predictions(ann_file: Path, with_empty: bool = False):
    """Records, coords (N, K, 2) and maxvals (N, K) that reproduce the GT exactly."""
    data = json.loads(ann_file.read_text())
    recs, coords, maxvals = [], [], []
    for a in data["annotations"]:
        kp = np.asarray(a["keypoints"], dtype=np.float32).reshape(-1, 3)
        if not with_empty and not (kp[:, 2] > 0).any():
            continue
        bbox = np.asarray(a["bbox"], dtype=np.float32)
        recs.append(PoseRecord("img.jpg", int(a["image_id"]), bbox, kp, 1.0, int(a["id"])))
        coords.append(kp[:, :2])
        maxvals.append((kp[:, 2] > 0).astype(np.float32))
    return recs, np.stack(coords), np.stack(maxvals)


# ------------------------------------------------------------------ GT fed back as predictions


def test_coco_gt_as_predictions_gives_perfect_ap(sample_data):
    ann = sample_data / COCO_JSON
    recs, coords, maxvals = _gt_predictions(ann)
    assert len(recs) == 12  # 14 persons, two with num_keypoints 0
    results = build_coco_results(recs, coords, maxvals, **crops(recs), sigmas=COCO17.sigmas)
    assert len(results) == len(recs), "OKS-NMS at 0.9 must not merge distinct people"
    assert all(r["score"] == 1.0 for r in results)
    assert all(len(r["keypoints"]) == 51 and r["category_id"] == 1 for r in results)
    metrics = evaluate_coco_keypoints(load_coco_gt(ann, skeleton=COCO17), results, sigmas=COCO17.sigmas)
    assert list(metrics) == list(METRIC_KEYS)
    assert metrics["AP"] == 1.0 and metrics["AR"] == 1.0
    assert metrics["AP50"] == 1.0 and metrics["AP75"] == 1.0


def test_empty_gt_instances_are_ignored(sample_data):
    # Predictions on the two num_keypoints-0 instances (score 0) do not lower AP.
    ann = sample_data / COCO_JSON
    recs, coords, maxvals = _gt_predictions(ann, with_empty=True)
    assert len(recs) == 14
    results = build_coco_results(recs, coords, maxvals, **crops(recs), sigmas=COCO17.sigmas)
    metrics = evaluate_coco_keypoints(load_coco_gt(ann), results, sigmas=COCO17.sigmas)
    assert metrics["AP"] == 1.0 and metrics["AR"] == 1.0


def test_aic_without_area_and_iscrowd_gives_perfect_ap(sample_data):
    ann = sample_data / AIC_JSON
    raw = json.loads(ann.read_text())
    assert all("area" not in a and "iscrowd" not in a for a in raw["annotations"])
    gt = load_coco_gt(ann, skeleton=AIC14)
    for a in gt.dataset["annotations"]:
        assert a["iscrowd"] == 0 and a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3])
        assert a["num_keypoints"] == sum(v > 0 for v in a["keypoints"][2::3])
    recs, coords, maxvals = _gt_predictions(ann)
    results = build_coco_results(recs, coords, maxvals, **crops(recs), sigmas=AIC14.sigmas)
    assert len(results) == len(recs) == 9
    metrics = evaluate_coco_keypoints(gt, results, sigmas=AIC14.sigmas)
    assert metrics["AP"] == 1.0 and metrics["AR"] == 1.0


def test_perturbed_predictions_lower_ap_and_file_roundtrip(sample_data, tmp_path):
    ann = sample_data / COCO_JSON
    gt = load_coco_gt(ann)
    recs, coords, maxvals = _gt_predictions(ann)
    rng = np.random.default_rng(0)
    noisy = coords + rng.normal(0.0, 4.0, size=coords.shape)
    conf = np.clip(maxvals * rng.uniform(0.5, 1.0, size=maxvals.shape), 0, 1)
    results = build_coco_results(recs, noisy, conf, **crops(recs), sigmas=COCO17.sigmas)
    m1 = evaluate_coco_keypoints(gt, results, sigmas=COCO17.sigmas)
    assert 0.0 < m1["AP"] < 1.0
    assert 0.0 < m1["AR"] < 1.0
    assert m1["AP50"] >= m1["AP75"]
    # same input → same numbers; the results file (rounded) evaluates the same
    m2 = evaluate_coco_keypoints(gt, results, sigmas=COCO17.sigmas)
    assert m2 == m1
    path = write_results_json(tmp_path / "sub" / "res.json", results)
    loaded = json.loads(path.read_text())
    assert len(loaded) == len(results)
    m3 = evaluate_coco_keypoints(gt, loaded, sigmas=COCO17.sigmas)
    for k in METRIC_KEYS:
        assert m3[k] == pytest.approx(m1[k], abs=1e-3)
    # pycocotools' loadRes must not have modified our results
    assert "id" not in results[0] and "area" not in results[0]


def test_detection_boxes_rescored_and_nms(sample_data):
    """Duplicate predictions with lower box scores are removed by OKS-NMS."""
    ann = sample_data / COCO_JSON
    recs, coords, maxvals = _gt_predictions(ann)
    dups = [
        PoseRecord(r.image_path, r.image_id, r.bbox, r.keypoints, 0.5, -1) for r in recs
    ]
    all_recs = recs + dups
    all_coords = np.concatenate([coords, coords + 0.5])
    all_max = np.concatenate([maxvals, maxvals])
    res = build_coco_results(all_recs, all_coords, all_max, **crops(all_recs), sigmas=COCO17.sigmas)
    assert len(res) == len(recs)
    assert all(r["score"] == 1.0 for r in res)
    res_no_nms = build_coco_results(all_recs, all_coords, all_max, **crops(all_recs), sigmas=COCO17.sigmas, use_nms=False)
    assert len(res_no_nms) == 2 * len(recs)
    gt = load_coco_gt(ann)
    m_nms = evaluate_coco_keypoints(gt, res, sigmas=COCO17.sigmas)
    m_raw = evaluate_coco_keypoints(gt, res_no_nms, sigmas=COCO17.sigmas)
    assert m_nms["AP"] == 1.0
    assert m_raw["AR"] == 1.0  # duplicates are ranked last (score 0.5) and only cost precision


def test_evaluate_predictions_writes_files_and_format_only(sample_data, tmp_path, capsys):
    ann = sample_data / AIC_JSON
    recs, coords, maxvals = _gt_predictions(ann)
    metrics = evaluate_predictions(recs, coords, maxvals, ann, **crops(recs), skeleton="aic14", out_dir=tmp_path, name="net1")
    assert metrics["AP"] == 1.0
    assert capsys.readouterr().out == ""  # pycocotools' prints are suppressed
    saved = json.loads((tmp_path / "metrics_net1.json").read_text())
    assert saved == pytest.approx(metrics)
    res = json.loads((tmp_path / "keypoints_net1_results.json").read_text())
    assert len(res) == 9 and len(res[0]["keypoints"]) == 42

    out2 = tmp_path / "testdev"
    assert evaluate_predictions(recs, coords, maxvals, None, **crops(recs), skeleton=AIC14, out_dir=out2) == {}
    assert (out2 / "keypoints_net_results.json").is_file()
    assert not (out2 / "metrics_net.json").exists()


def test_verbose_prints_summary(sample_data, capsys):
    ann = sample_data / AIC_JSON
    recs, coords, maxvals = _gt_predictions(ann)
    res = build_coco_results(recs, coords, maxvals, **crops(recs), sigmas=AIC14.sigmas)
    evaluate_coco_keypoints(load_coco_gt(ann), res, sigmas=AIC14.sigmas, verbose=True)
    assert "Average Precision" in capsys.readouterr().out


def test_empty_results_are_zero_with_warning(sample_data, caplog):
    gt = load_coco_gt(sample_data / COCO_JSON)
    with caplog.at_level(logging.WARNING, logger="semipose.evaluation.coco"):
        metrics = evaluate_coco_keypoints(gt, [], sigmas=COCO17.sigmas)
    assert metrics == dict.fromkeys(METRIC_KEYS, 0.0)
    assert "no results" in caplog.text


def test_keypoint_count_mismatch_in_evaluation(sample_data):
    ann = sample_data / AIC_JSON
    gt = load_coco_gt(ann)
    recs, coords, maxvals = _gt_predictions(ann)
    res = build_coco_results(recs, coords, maxvals, **crops(recs), sigmas=AIC14.sigmas)
    with pytest.raises(ValueError, match="14 keypoints but 17 sigmas"):
        evaluate_coco_keypoints(gt, res, sigmas=COCO17.sigmas)
    bad = [dict(res[0], image_id=123456789)]
    with pytest.raises(ValueError, match="not in the ground truth"):
        evaluate_coco_keypoints(gt, bad, sigmas=AIC14.sigmas)


# ------------------------------------------------------------------ loading errors


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_coco_gt(missing)


def test_malformed_json(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"images": [')
    with pytest.raises(ValueError, match="broken.json"):
        load_coco_gt(bad)


def test_missing_sections(tmp_path):
    p = tmp_path / "noanns.json"
    p.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match=r"noanns\.json.*'annotations'"):
        load_coco_gt(p)


def test_wrong_keypoint_count_names_file_and_annotation(sample_data, tmp_path):
    data = json.loads((sample_data / COCO_JSON).read_text())
    data["annotations"][3]["keypoints"] = data["annotations"][3]["keypoints"][:-3]
    ann_id = data["annotations"][3]["id"]
    p = tmp_path / "short_kpts.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"short_kpts\.json: annotation {ann_id} has 48 keypoint numbers, expected 51"):
        load_coco_gt(p)
    # a skeleton that does not fit the file is reported too
    with pytest.raises(ValueError, match=r"person_keypoints_sample\.json.*17 keypoints.*'aic14' has 14"):
        load_coco_gt(sample_data / COCO_JSON, skeleton=AIC14)


# ------------------------------------------------------------------ small pieces


def test_rescore_hand_example():
    maxvals = np.array(
        [
            [0.9, 0.1, 0.5, 0.2],  # 0.9 and 0.5 count (0.2 is not > 0.2): mean 0.7
            [0.1, 0.0, 0.2, 0.15],  # none above: 0
            [1.0, 1.0, 1.0, 1.0],
        ]
    )
    out = rescore(maxvals, np.array([0.5, 1.0, 0.8]), in_vis_thr=0.2)
    np.testing.assert_allclose(out, [0.35, 0.0, 0.8])
    np.testing.assert_allclose(rescore(maxvals[..., None], np.ones(3)), [0.7, 0.0, 1.0])


def test_format_metrics_table():
    m = {k: i / 10 for i, k in enumerate(METRIC_KEYS)}
    table = format_metrics_table({"net1": m, "ensemble": m}, title_col="Arch")
    lines = table.splitlines()
    assert len(lines) == 4
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["Arch", *METRIC_DISPLAY_NAMES] and len(METRIC_DISPLAY_NAMES) == 10
    assert lines[1] == "|" + "---|" * 11
    assert lines[2].startswith("| net1 | 0.0000 | 0.1000 |") and lines[2].endswith("| 0.9000 |")
    assert lines[3].startswith("| ensemble |")


def test_results_carry_the_person_box_for_the_area_ranges(tmp_path):
    """A false positive whose box is large (150x150) but whose keypoints span a medium area
    (40x40): with the person box in the results (the reference's and mmpose's way) it counts
    against AP(L); from the keypoint extent (semipose before) it counted against AP(M)."""
    from semipose.data.records import PoseRecord
    from semipose.evaluation.coco import build_coco_results, evaluate_coco_keypoints, evaluate_predictions
    from semipose.skeletons import COCO17

    rng = np.random.default_rng(0)

    def person(x, y, w, h):
        return np.stack([rng.uniform(x + 2, x + w - 2, 17), rng.uniform(y + 2, y + h - 2, 17)], 1)

    gt_l, gt_m = person(100, 100, 200, 300), person(600, 600, 50, 60)
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 100, 200, 300], "area": 60000.0, "iscrowd": 0, "num_keypoints": 17,
         "keypoints": np.concatenate([gt_l, np.full((17, 1), 2)], 1).ravel().tolist()},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [600, 600, 50, 60], "area": 3000.0, "iscrowd": 0, "num_keypoints": 17,
         "keypoints": np.concatenate([gt_m, np.full((17, 1), 2)], 1).ravel().tolist()},
    ]
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 1000, "height": 1000}], "annotations": anns,
          "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints), "skeleton": []}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    boxes = [[100, 100, 200, 300], [600, 600, 50, 60], [700, 20, 150, 150]]
    coords = np.stack([gt_l, gt_m, person(780, 60, 40, 40)]).astype(np.float32)
    maxvals = np.array([[0.8] * 17, [0.8] * 17, [0.9] * 17], np.float32)  # the false positive ranks first
    records = []
    for b in boxes:
        records.append(PoseRecord("a.jpg", 1, np.asarray(b, np.float32), np.zeros((17, 3), np.float32)))
    m = evaluate_predictions(records, coords, maxvals, tmp_path / "gt.json", **crops(records), skeleton=COCO17, use_nms=False)
    assert m["AP"] == pytest.approx(0.6667, abs=1e-3)
    assert m["APm"] == pytest.approx(1.0) and m["APl"] == pytest.approx(0.5)
    # the official keypoint result format without a box: the area comes from the keypoints
    res = build_coco_results(records, coords, maxvals, **crops(records), sigmas=COCO17.sigmas, use_nms=False)
    assert all(r["bbox"] == b for r, b in zip(res, boxes))
    old = evaluate_coco_keypoints(tmp_path / "gt.json", [{k: v for k, v in r.items() if k != "bbox"} for r in res], sigmas=COCO17.sigmas)
    assert old["AP"] == pytest.approx(m["AP"]) and old["APm"] == pytest.approx(0.5) and old["APl"] == pytest.approx(1.0)


def test_ground_truth_with_duplicate_ids_is_refused(sample_data, tmp_path):
    """Duplicate annotation ids made ground truth fed back as predictions score AP 0.894 instead of 1."""
    ann = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    ann["annotations"][5]["id"] = ann["annotations"][2]["id"]
    (tmp_path / "dup.json").write_text(json.dumps(ann))
    with pytest.raises(ValueError, match=rf"dup.json: 1 duplicate annotation id\(s\), e.g. \[{ann['annotations'][2]['id']}\]; ids must be unique"):
        load_coco_gt(tmp_path / "dup.json")


def test_results_carry_the_files_raw_box(sample_data):
    """As the reference: each result's bbox is the annotation's own box, not the sanitised crop
    box (1 px smaller per side), so an unmatched person stays in its AP(M)/AP(L) bin."""
    from semipose.data.coco import load_coco_keypoints

    ann = sample_data / COCO_JSON
    raw = {a["id"]: a["bbox"] for a in json.loads(ann.read_text())["annotations"]}
    recs = load_coco_keypoints(ann, sample_data / "coco/images", skeleton=COCO17).records
    assert any(not np.allclose(r.bbox, raw[r.ann_id]) for r in recs)  # sanitised boxes differ from the file's
    kp = np.stack([r.keypoints[:, :2] for r in recs])
    results = build_coco_results(recs, kp, np.ones(kp.shape[:2], np.float32), **crops(recs), sigmas=COCO17.sigmas, use_nms=False)
    assert [r["bbox"] for r in results] == [pytest.approx(raw[r.ann_id]) for r in recs]
