"""One checker of COCO-format JSON: the top-down reader and the evaluator refuse the same files
with the same message."""

from __future__ import annotations

import json

import pytest

from semipose.data.coco import load_coco_keypoints
from semipose.data.cocojson import read_coco_file
from semipose.errors import DataFormatError, MissingJsonError
from semipose.evaluation.coco import load_coco_gt

COCO_JSON = "coco/person_keypoints_sample.json"


def _edits(data):
    """(edit, the message both readers give)."""
    a0, a1 = data["annotations"][0], data["annotations"][1]
    return [
        (lambda d: d["annotations"].__setitem__(1, dict(a1, id=a0["id"])), rf"1 duplicate annotation id\(s\), e.g. \[{a0['id']}\]"),
        (lambda d: d["images"].__setitem__(1, dict(d["images"][1], id=d["images"][0]["id"])), r"duplicate image id"),
        (lambda d: d["annotations"][0].__setitem__("image_id", "785"), r"'image_id' must be an integer, got '785'"),
        (lambda d: d["annotations"][0].__setitem__("keypoints", a0["keypoints"][:-3]),
         rf"annotation {a0['id']} has 48 keypoint numbers, expected 51"),
        (lambda d: d["annotations"][0].__setitem__("bbox", [1, 2, "w", 4]), r"'bbox' must be 4 numbers"),
        (lambda d: d["annotations"][0].__setitem__("image_id", 999999), r"1 annotation\(s\) refer to unknown image ids, e.g. \[999999\]"),
        (lambda d: d.pop("annotations"), r"missing 'annotations' list"),
        # values pycocotools computes with, checked when the file is read (it would crash later, or
        # count the string "no" as a crowd)
        (lambda d: d["annotations"][0].__setitem__("area", "big"), rf"annotation {a0['id']}: 'area' must be a finite number, got 'big'"),
        (lambda d: d["annotations"][0].__setitem__("iscrowd", "no"), rf"annotation {a0['id']}: 'iscrowd' must be 0 or 1, got 'no'"),
        (lambda d: d["annotations"][0].__setitem__("num_keypoints", 2.5), r"'num_keypoints' must be an integer, got 2.5"),
        (lambda d: d["images"][0].__setitem__("file_name", 785), r"'file_name' must be a string \(a path relative to the image folder\), got 785"),
    ]


def test_reader_and_evaluator_refuse_alike(sample_data, tmp_path):
    original = json.loads((sample_data / COCO_JSON).read_text())
    for i, (edit, message) in enumerate(_edits(original)):
        data = json.loads(json.dumps(original))
        edit(data)
        path = tmp_path / f"edit{i}.json"
        path.write_text(json.dumps(data))
        with pytest.raises(DataFormatError, match=rf"edit{i}.json: .*{message}") as reader:
            load_coco_keypoints(path, sample_data / "coco/images")
        with pytest.raises(DataFormatError, match=rf"edit{i}.json: .*{message}") as evaluator:
            load_coco_gt(path)
        assert str(reader.value) == str(evaluator.value)


def test_missing_file_is_both_kinds(tmp_path):
    with pytest.raises(MissingJsonError, match="nope.json: file not found") as e:
        read_coco_file(tmp_path / "nope.json")
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, DataFormatError)


def test_checked_file(sample_data):
    cf = read_coco_file(sample_data / COCO_JSON)
    assert cf.skeleton is not None and cf.skeleton.name == "coco17" and len(cf.images) == 4
    assert sum(len(v) for v in cf.by_image.values()) == 14
