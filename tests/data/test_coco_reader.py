"""COCO-format reader on the real sample files (COCO and AI Challenger) and on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semipose.data.coco import DataFormatError, load_coco_keypoints, load_detections, skeleton_from_coco_file
from semipose.data.records import PIXEL_STD, box_to_center_scale
from semipose.skeletons import AIC14, COCO17


def test_read_coco_sample(sample_data):
    s = load_coco_keypoints(sample_data / "coco/person_keypoints_sample.json", sample_data / "coco/images")
    assert s.skeleton is COCO17 and s.num_images == 4
    assert len(s) == 12 and s.skipped["no labelled keypoint"] == 2  # 14 persons, 2 without keypoints
    r = s.records[0]
    assert r.image_id == 785 and r.ann_id == 442619 and r.keypoints.shape == (17, 3)
    assert (sample_data / "coco/images/000000000785.jpg").samefile(r.image_path)
    # box sanitised (w - 1), padded to 3:4 and ×1.25 (spec §2.3)
    x, y, w, h = 280.79, 44.73, 218.7 - 1, 346.68 - 1
    assert r.center == pytest.approx([x + w / 2, y + h / 2], abs=1e-3)
    assert r.scale == pytest.approx([h * 0.75 / PIXEL_STD * 1.25, h / PIXEL_STD * 1.25], rel=1e-5)
    # file order of images, then annotations
    ids = [rec.image_id for rec in s.records]
    order = [im["id"] for im in json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())["images"]]
    assert ids == sorted(ids, key=order.index)
    assert len(load_coco_keypoints(sample_data / "coco/person_keypoints_sample.json", sample_data / "coco/images", max_instances=5)) == 5


def test_read_aic_sample_without_area_and_iscrowd(sample_data):
    s = load_coco_keypoints(sample_data / "aic/aic_sample.json", sample_data / "aic/images")
    assert s.skeleton is AIC14 and len(s) == 9
    assert all(r.keypoints.shape == (14, 3) for r in s.records)
    assert skeleton_from_coco_file(sample_data / "aic/aic_sample.json") is AIC14


def test_detections(sample_data):
    recs, skipped = load_detections(
        sample_data / "coco/person_detections_sample.json", sample_data / "coco/person_keypoints_sample.json",
        sample_data / "coco/images", num_keypoints=17, score_thr=0.3,
    )
    dets = json.loads((sample_data / "coco/person_detections_sample.json").read_text())
    assert len(recs) == sum(d["score"] >= 0.3 for d in dets) and skipped["low score"] == 118 - len(recs)
    assert all(r.box_score >= 0.3 and r.ann_id == -1 and not r.keypoints.any() for r in recs)


def test_box_to_center_scale_pads_to_aspect():
    c, s = box_to_center_scale(np.array([[0, 0, 100, 100], [0, 0, 30, 200]]), 0.75, 1.0)
    assert s[0] * PIXEL_STD == pytest.approx([100, 100 / 0.75]) and s[1] * PIXEL_STD == pytest.approx([150, 200])
    assert c[0] == pytest.approx([50, 50])


def _write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_bad_files(tmp_path, sample_data):
    with pytest.raises(DataFormatError, match="missing.json: file not found"):
        load_coco_keypoints(tmp_path / "missing.json", tmp_path)
    bad = _write(tmp_path / "bad.json", '{"images": [1, 2')
    with pytest.raises(DataFormatError, match=r"bad.json: malformed JSON"):
        load_coco_keypoints(bad, tmp_path)
    data = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    data["annotations"][3]["keypoints"] = data["annotations"][3]["keypoints"][:-3]
    short = _write(tmp_path / "short.json", data)
    ann_id = data["annotations"][3]["id"]
    with pytest.raises(DataFormatError, match=rf"short.json: annotation {ann_id} has 48 keypoint numbers, expected 51"):
        load_coco_keypoints(short, tmp_path)
    # wrong skeleton for the file
    with pytest.raises(DataFormatError, match="17 keypoints but skeleton 'aic14' has 14"):
        load_coco_keypoints(sample_data / "coco/person_keypoints_sample.json", tmp_path, skeleton="aic14")
    noann = _write(tmp_path / "noann.json", {"images": [], "categories": []})
    with pytest.raises(DataFormatError, match="noann.json: missing 'annotations'"):
        load_coco_keypoints(noann, tmp_path)
    empty = _write(tmp_path / "empty.json", {**data, "annotations": []})
    with pytest.raises(DataFormatError, match="no usable person instances"):
        load_coco_keypoints(empty, tmp_path)
