"""The instance finder's data on the real two-fly clip: one whole-frame record per frame with
every fly's anchor, and one target channel with a peak at each."""

from __future__ import annotations

import numpy as np
import pytest

from semipose.cli import main
from semipose.config import load_config
from semipose.data.finder import FinderDataset, build_finder_data, frame_records, instance_anchor
from semipose.data.records import PoseRecord
from semipose.errors import DataFormatError


@pytest.fixture(scope="module")
def flies(sample_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("flies")
    assert main(["data", "import", str(sample_data / "sleap-flies/clip.slp"), "--format", "sleap", "--out", str(out)]) == 0
    return out


def test_anchor_is_the_centre_of_the_labelled_extent():
    kp = np.array([[10, 20, 2], [30, 60, 2], [500, 500, 0]], np.float32)  # the unlabelled one does not count
    np.testing.assert_allclose(instance_anchor(kp), [20, 40])
    assert instance_anchor(np.zeros((3, 3), np.float32)) is None


def test_frames_with_every_fly_and_one_channel_with_a_peak_at_each(flies):
    from semipose.engine.build import build_codec

    cfg = load_config(flies / "finder.yaml", ["data.max_train_instances=20", "data.workers=0"])
    codec = build_codec(cfg)
    data, val, skeleton = build_finder_data(cfg, codec)
    assert skeleton.num_keypoints == 1  # what the network predicts
    ds = data.labelled
    assert isinstance(ds, FinderDataset) and data.mixed is None
    assert len(ds) == 10  # 20 labelled instances are the 10 frames they lie on, both flies of each
    assert all(int((r.keypoints[:, 2] > 0).sum()) == 2 and list(r.bbox) == [0, 0, 1024, 1024] for r in ds.records)
    assert val.metric == "finder" and val.score_key == "F1" and len(val.records) == 150
    item = val.dataset[0]  # the plain crop (no augmentation): the peaks where the anchors fall
    ftrain = ds[0]
    assert ftrain["target"].shape == (1, 128, 128) and ftrain["target_weight"].tolist() == [1.0]
    rec = val.records[0]
    joints = item["joints"].numpy()
    assert joints.shape == (2, 3)
    heat = FinderDataset(val.records, val.dataset.transform)[0]["target"][0].numpy()
    for x, y, _ in joints:  # crop pixels / 2 (stride 2) = heatmap pixels
        assert heat[int(round(y / 2)), int(round(x / 2))] > 0.9
    assert np.isclose(heat.max(), 1.0) and rec.image_size == (1024, 1024)


def test_a_frame_of_unknown_size_is_one_line():
    r = PoseRecord("f.png", 1, np.array([0, 0, 10, 10], np.float32), np.array([[1, 1, 2]], np.float32))
    with pytest.raises(DataFormatError, match="f.png: frame size unknown"):
        frame_records([r])
    r.image_size = (64, 48)
    recs, m = frame_records([r, PoseRecord("g.png", 2, r.bbox, np.zeros((1, 3), np.float32), image_size=(64, 48))])
    assert m == 1 and recs[1].keypoints[0, 2] == 0  # a frame with no labelled instance: no anchor, still a frame (background)
