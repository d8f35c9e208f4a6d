"""Frame tuples for the temporal term: each unlabelled crop of frame t comes with frames t ± gap
of the same (real) video, cropped by the same draw; the ends of the video clamp; still images
stand for their own neighbours and are counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semipose.codec import HeatmapCodec
from semipose.data.context import FrameTupleDataset, video_lengths
from semipose.data.records import PoseRecord
from semipose.data.topdown import TopDownDataset, TopDownTransform
from semipose.image import read_image
from semipose.params import AugmentConfig
from semipose.skeletons import get_skeleton


@pytest.fixture(scope="module")
def video(sample_data):
    return str(sample_data / "mirror-mouse/videos/test_vid.mp4")


def _record(path: str) -> PoseRecord:
    return PoseRecord(image_path=path, image_id=1, bbox=np.array([0, 0, 396, 406], np.float32),
                      keypoints=np.zeros((17, 3), np.float32))


def _transform(train: bool = True) -> TopDownTransform:
    return TopDownTransform(HeatmapCodec((64, 64), (16, 16), 2.0), get_skeleton("coco17"), train=train,
                            aug=AugmentConfig(rot_prob=1.0, flip_prob=0.5), padding=1.0)


def test_neighbours_are_cropped_like_the_centre(video):
    recs = [_record(f"{video}#{i}") for i in (0, 10, 993)]
    ds = FrameTupleDataset(recs, _transform(), gap=3, seed=4)
    assert video_lengths(recs) == {video: 994} and ds.stills == 0
    assert ds.neighbours(0) == (f"{video}#0", f"{video}#3") and ds.neighbours(2) == (f"{video}#990", f"{video}#993")
    plain = TopDownDataset(recs, _transform(), seed=4)
    for i in range(3):
        s, p = ds[i], plain[i]
        torch.testing.assert_close(s["image"], p["image"])  # the same draw as without neighbours
        assert s["context"].shape == (2, 3, 64, 64)
        params = {k: (s[k].numpy() if k in ("center", "scale") else s[k].item()) for k in ("center", "scale", "rotation", "flip")}
        if s["flip"].item():  # the sample states the mirrored centre; the transform mirrors the one it is given
            params["center"] = params["center"].copy()
            params["center"][0] = 396 - 1 - params["center"][0]
        before, after = ds.neighbours(i)
        torch.testing.assert_close(s["context"][0], _transform()(read_image(before), recs[i], params=params)["image"])
        torch.testing.assert_close(s["context"][1], _transform()(read_image(after), recs[i], params=params)["image"])
    assert not torch.equal(ds[1]["context"][0], ds[1]["image"])  # the mouse moved between frames 7 and 10
    torch.testing.assert_close(ds[2]["context"][1], ds[2]["image"])  # the last frame is its own next one


def test_still_images_are_their_own_neighbours(sample_data):
    img = str(sample_data / "mirror-mouse/labeled-data")
    path = next(p for p in sorted(__import__("pathlib").Path(img).rglob("*.png")))
    ds = FrameTupleDataset([_record(str(path))], _transform(train=False), gap=1)
    s = ds[0]
    assert ds.stills == 1 and ds.neighbours(0) is None
    torch.testing.assert_close(s["context"][0], s["image"])
    with pytest.raises(Exception, match="frame gap"):
        FrameTupleDataset([_record(str(path))], _transform(), gap=0)
