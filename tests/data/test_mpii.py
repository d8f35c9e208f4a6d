"""MPII reader (HRNet JSON layout) on the real sample file, and its error messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semipose.data.mpii import load_mpii, mpii_entry_to_record
from semipose.errors import DataFormatError
from semipose.skeletons import MPII16

MPII_JSON = "mpii/mpii_sample.json"


def test_read_mpii_sample(sample_data):
    s = load_mpii(sample_data / MPII_JSON, sample_data / "mpii/images")
    raw = json.loads((sample_data / MPII_JSON).read_text())
    assert s.skeleton is MPII16 and len(s) == 5 and s.num_images == 5
    for i, (r, e) in enumerate(zip(s.records, raw)):
        assert r.image_path.endswith("mpii/images/" + e["image"])
        assert (sample_data / "mpii/images" / e["image"]).is_file()
        assert r.image_id == int(e["image"][:-4]) and r.ann_id == i and r.box_score == 1.0
        sc = e["scale"]
        # centre y += 15 s, scale ×1.25 (square: aspect 1), then 1-based → 0-based
        center, scale = r.crop_box(1.0, 1.25)
        np.testing.assert_allclose(center, [e["center"][0] - 1, e["center"][1] + 15 * sc - 1], rtol=1e-6)
        np.testing.assert_allclose(scale, [1.25 * sc, 1.25 * sc], rtol=1e-6)
        vis = np.asarray(e["joints_vis"]) > 0
        assert r.keypoints.shape == (16, 3) and r.keypoints.dtype == np.float32
        np.testing.assert_allclose(r.keypoints[vis, :2], np.asarray(e["joints"])[vis] - 1, rtol=1e-6)
        assert (r.keypoints[vis, 2] == 2).all() and (r.keypoints[~vis] == 0).all()
        # the box is the unpadded s·200 square around the shifted centre
        np.testing.assert_allclose(r.bbox[2:], [200 * sc, 200 * sc], rtol=1e-6)
        np.testing.assert_allclose(r.bbox[:2] + r.bbox[2:] / 2, center, rtol=1e-5)
    # two sample people lack both ankles' annotations
    assert [int((r.keypoints[:, 2] == 0).sum()) for r in s.records] == [0, 0, 2, 2, 0]
    # every labelled joint lies inside the (shifted, padded) person box
    for r in s.records:
        lab = r.keypoints[:, 2] > 0
        center, scale = r.crop_box(1.0, 1.25)
        assert (np.abs(r.keypoints[lab, :2] - center) <= scale * 100).all()


def test_options_and_test_set_entries(tmp_path):
    e = {"image": "000000001.jpg", "center": [100.0, 80.0], "scale": 1.0}  # test set: no joints
    r = mpii_entry_to_record(e, tmp_path)
    assert (r.keypoints == 0).all() and r.image_id == 1
    np.testing.assert_allclose(r.crop_box(1.0, 1.25)[0], [99.0, 94.0])
    r0 = mpii_entry_to_record(e, tmp_path, one_based=False)
    c0, s0 = r0.crop_box(0.75, 1.25)  # a 3:4 crop heightens the square
    np.testing.assert_allclose(c0, [100.0, 95.0])
    np.testing.assert_allclose(s0, [1.25, 1.25 / 0.75])
    # centre[0] == -1: no shift and no enlargement, but still the −1
    r1 = mpii_entry_to_record({"image": "x.jpg", "center": [-1, -1], "scale": 2.0}, tmp_path, index=6)
    c1, s1 = r1.crop_box(1.0, 1.25)
    np.testing.assert_allclose(c1, [-2.0, -2.0])
    np.testing.assert_allclose(s1, [2.0, 2.0])
    assert r1.image_id == 7  # non-numeric file name: position + 1


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda e: e.pop("center"), r"entry 3: missing 'center'"),
        (lambda e: e.update(scale=-1.0), r"entry 3 \(004645041\.jpg\): 'scale' must be positive"),
        (lambda e: e.update(joints=e["joints"][:15]), r"entry 3 \(004645041\.jpg\): 'joints' has shape \(15, 2\)"),
        (lambda e: e.update(joints_vis=[1] * 17), r"entry 3 .*'joints_vis' has shape \(17,\)"),
        (lambda e: e.pop("joints_vis"), r"entry 3 .*given together"),
        (lambda e: e.update(center=["a", 2]), r"entry 3 .*'center' is not numeric"),
    ],
)
def test_malformed_entries_name_file_and_entry(sample_data, tmp_path, mutate, message):
    data = json.loads((sample_data / MPII_JSON).read_text())
    mutate(data[3])
    p = tmp_path / "bad_mpii.json"
    p.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=r"bad_mpii\.json: " + message):
        load_mpii(p, tmp_path)


def test_malformed_files(tmp_path):
    with pytest.raises(DataFormatError, match="nope.json: file not found"):
        load_mpii(tmp_path / "nope.json", tmp_path)
    p = tmp_path / "obj.json"
    p.write_text(json.dumps({"images": []}))
    with pytest.raises(DataFormatError, match=r"obj\.json: expected a JSON list"):
        load_mpii(p, tmp_path)
    p.write_text("[]")
    with pytest.raises(DataFormatError, match="no MPII entries"):
        load_mpii(p, tmp_path)
    p.write_text(json.dumps([{"image": "a.jpg", "center": [1, 2], "scale": 1}]))
    assert len(load_mpii(p, tmp_path)) == 1
    with pytest.raises(DataFormatError, match=r"entry 0 \(a\.jpg\): no 'joints'"):
        load_mpii(p, tmp_path, require_joints=True)
    p.write_text(json.dumps([5]))
    with pytest.raises(DataFormatError, match="entry 0: expected an object"):
        load_mpii(p, tmp_path)
