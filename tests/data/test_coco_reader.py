"""COCO-format reader on the real sample files (COCO and AI Challenger) and on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semipose.data.coco import load_coco_keypoints, load_detections
from semipose.data.cocojson import skeleton_from_coco_file
from semipose.errors import DataFormatError
from semipose.geometry import PIXEL_STD, box_to_center_scale
from semipose.skeletons import AIC14, COCO17


def test_read_coco_sample(sample_data):
    s = load_coco_keypoints(sample_data / "coco/person_keypoints_sample.json", sample_data / "coco/images")
    assert s.skeleton is COCO17 and s.num_images == 4
    assert len(s) == 12 and s.skipped["no labelled keypoint"] == 2  # 14 persons, 2 without keypoints
    r = s.records[0]
    assert r.image_id == 785 and r.ann_id == 442619 and r.keypoints.shape == (17, 3)
    assert (sample_data / "coco/images/000000000785.jpg").samefile(r.image_path)
    # the record keeps the sanitised box (w - 1); the crop pads it to 3:4 and ×1.25
    x, y, w, h = 280.79, 44.73, 218.7 - 1, 346.68 - 1
    assert r.bbox == pytest.approx([x, y, w, h], abs=1e-3)
    center, scale = r.crop_box(0.75, 1.25)
    assert center == pytest.approx([x + w / 2, y + h / 2], abs=1e-3)
    assert scale == pytest.approx([h * 0.75 / PIXEL_STD * 1.25, h / PIXEL_STD * 1.25], rel=1e-5)
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


# ---------------------------------------------------------------- bad input on real sample files


def _sample_copy(sample_data, tmp_path, edit):
    ann = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    edit(ann)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(ann))
    return path


def test_duplicate_ids_are_refused(sample_data, tmp_path):
    def dup_ann(a):
        a["annotations"][3]["id"] = a["annotations"][1]["id"]

    def dup_img(a):
        a["images"][2]["id"] = a["images"][0]["id"]

    first = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    with pytest.raises(DataFormatError, match=rf"edited.json: 1 duplicate annotation id\(s\), e.g. \[{first['annotations'][1]['id']}\]"):
        load_coco_keypoints(_sample_copy(sample_data, tmp_path, dup_ann), "")
    with pytest.raises(DataFormatError, match="edited.json: 1 duplicate image id"):
        load_coco_keypoints(_sample_copy(sample_data, tmp_path, dup_img), "")


def test_non_finite_boxes_are_a_counted_skip(sample_data, tmp_path):
    def nan_box(a):
        a["annotations"][0]["bbox"][0] = float("nan")
        a["annotations"][1]["bbox"][2] = float("inf")

    data = load_coco_keypoints(_sample_copy(sample_data, tmp_path, nan_box), "")
    assert data.skipped["non-finite box"] == 2 and len(data) == 10  # 12 usable persons before
    assert "2 non-finite box" in data.summary()


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("keypoints", ["abc"] * 51, r"annotation \d+: 'keypoints' must be 51 numbers, got \['abc'"),
        ("bbox", ["1", "2", "3", "4"], r"annotation \d+: 'bbox' must be 4 numbers, got \['1'"),
        ("image_id", "785", r"annotation \d+: 'image_id' must be an integer, got '785'"),
    ],
)
def test_wrong_types_name_the_file_record_and_field(sample_data, tmp_path, field, value, message):
    def edit(a):
        a["annotations"][0][field] = value

    with pytest.raises(DataFormatError, match=rf"edited.json: {message}"):
        load_coco_keypoints(_sample_copy(sample_data, tmp_path, edit), "")


def test_detector_boxes_are_used_raw_like_the_reference(sample_data, tmp_path):
    """The first box of the sample detections: centre and scale of the reference's _box2cs of the
    raw box (the ground-truth clipping rule made it 1 px narrower and shorter)."""
    coco = sample_data / "coco"
    det = json.loads((coco / "person_detections_sample.json").read_text())
    records, skipped = load_detections(coco / "person_detections_sample.json", coco / "person_keypoints_sample.json", "",
                                       num_keypoints=17)
    assert len(records) == len(det) == 118 and not any(skipped.values())
    first = next(r for r in records if np.allclose(r.bbox, det[0]["bbox"]))
    center, scale = first.crop_box(192 / 256, 1.25)
    np.testing.assert_allclose(center, [389.66394875, 212.47980043], rtol=1e-6)
    np.testing.assert_allclose(scale, [1.56356378, 2.08475166], rtol=1e-6)
    bad = [dict(det[0], score="high"), dict(det[1], bbox=[float("nan"), 1, 2, 3])]
    (tmp_path / "d.json").write_text(json.dumps(bad[:1]))
    with pytest.raises(DataFormatError, match=r"d.json: entry 0: 'score' must be a number, got 'high'"):
        load_detections(tmp_path / "d.json", coco / "person_keypoints_sample.json", "", num_keypoints=17)
    (tmp_path / "d.json").write_text(json.dumps(bad[1:]).replace("NaN", "NaN"))
    recs, skipped = load_detections(tmp_path / "d.json", coco / "person_keypoints_sample.json", "", num_keypoints=17)
    assert not recs and skipped["non-finite box"] == 1
