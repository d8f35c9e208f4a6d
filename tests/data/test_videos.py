"""The shared project's video as the unlabelled set: frames read by reference (``video#i``,
random access equal to sequential decoding), every n-th or a diverse k-means subset, corrupt
videos one line, and a PoseCons run whose loader workers decode the frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from semipose.cli import main
from semipose.data.videos import video_frame_records
from semipose.errors import DataFormatError, ImageReadError
from semipose.image import read_image, video_frame_ref


@pytest.fixture(scope="module")
def video(sample_data):
    return sample_data / "mirror-mouse/videos/test_vid.mp4"


def test_frames_by_reference_equal_sequential_decoding(video):
    cap = cv2.VideoCapture(str(video))
    frames = [cap.read()[1] for _ in range(40)]
    cap.release()
    assert video_frame_ref(f"{video}#5") == (str(video), 5) and video_frame_ref(f"{video}.png#5") is None
    for i in (5, 6, 30, 2):  # forward, the next one, a jump, and back
        np.testing.assert_array_equal(read_image(f"{video}#{i}"), frames[i])
    with pytest.raises(ImageReadError, match="frame 99999 cannot be decoded"):
        read_image(f"{video}#99999")


def test_every_nth_and_a_diverse_subset(video):
    recs, what = video_frame_records([str(video)], 17, stride=10)
    assert len(recs) == 100 and what == "100 frames (every 10) of 1 video(s)"  # 994 frames
    assert recs[0].image_path.endswith("test_vid.mp4#0") and recs[-1].image_path.endswith("#990")
    assert recs[0].bbox.tolist() == [0, 0, 396, 406] and recs[0].keypoints.shape == (17, 3)
    sub, what = video_frame_records([str(video.parent)], 17, stride=5, num_frames=12)
    idx = sorted(int(r.image_path.rsplit("#", 1)[1]) for r in sub)
    assert 8 <= len(sub) <= 12 and len(set(idx)) == len(idx) and "diverse frames (k-means of every 5)" in what
    assert idx[-1] - idx[0] > 300  # spread over the video, not neighbours
    part, what = video_frame_records([str(video)], 17, stride=5, frame_range=[10, 31])  # e.g. none of a test block
    assert [r.image_path.rsplit("#", 1)[1] for r in part] == ["10", "15", "20", "25", "30"] and "frames 10-30" in what
    from semipose.config.loader import config_from_dict
    from semipose.errors import ConfigError

    with pytest.raises(ConfigError, match="data.unlabeled.frame_range"):
        config_from_dict({"data": {"unlabeled": {"videos": ["v.mp4"], "frame_range": [30, 10]}}})


def test_bad_videos_are_one_line(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(DataFormatError, match="bad.mp4: cannot open the video|bad.mp4: no frame could be decoded"):
        video_frame_records([str(tmp_path / "bad.mp4")], 3)
    with pytest.raises(DataFormatError, match="no such video file or folder"):
        video_frame_records([str(tmp_path / "none.mp4")], 3)


def test_posecons_on_the_video(sample_data, video, tmp_path, capsys):
    assert main(["data", "import", str(sample_data / "mirror-mouse/CollectedData.csv"), "--format", "dlc", "--out", str(tmp_path / "mm")]) == 0
    capsys.readouterr()
    over = [f"data.root={tmp_path / 'mm'}", "data.skeleton=null", "data.train.ann_file=annotations.json", "data.train.image_dir=images",
            "data.val.ann_file=annotations.json", "data.val.image_dir=images", "data.val.det_file=null", f"data.unlabeled.videos=[{video}]",
            "data.unlabeled.frame_stride=50", "data.input_size=[64,64]", "data.workers=1", "model.deconv_filters=[16,16,16]",
            "ssl.method=posecons", "ssl.paths=[JOCO]", "ssl.augment.size_relative_to=instance",  # holes of the mouse's size
            "train.max_steps=2", "train.batch_size=4", "eval.num_vis_images=1",
            "data.max_train_instances=10", f"output_dir={tmp_path / 'runs'}", "name=v"]
    config = Path(__file__).resolve().parents[2] / "configs/synthetic_res10_128x96.yaml"
    assert main(["train", str(config), *over, "--no-progress"]) == 0
    log = (tmp_path / "runs/v/train.log").read_text()
    assert "20 frames (every 50) of 1 video(s)" in log and "cons" in log
    assert main(["train", str(config), *over, "ssl.augment.size_relative_to=animal", "--no-progress"]) == 2
    assert "ssl.augment.size_relative_to: expected one of crop, instance" in capsys.readouterr().err


def test_a_detector_finds_the_persons_of_each_frame(video):
    """``detector``: one record per box (its score kept), frames without a box counted and left out."""
    def detect(image):
        assert image.shape == (406, 396, 3)
        detect.calls += 1
        if detect.calls % 2 == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return np.array([[10, 20, 50, 60], [100, 120, 80, 90]], np.float32), np.array([0.9, 0.5], np.float32)

    detect.calls = 0
    recs, what = video_frame_records([str(video)], 17, stride=100, detector=detect)
    assert detect.calls == 10 and len(recs) == 10
    assert what == "10 detected persons in 10 frames (every 100) of 1 video(s); 5 frames without a person left out"
    assert recs[0].image_path.endswith("#0") and recs[1].image_path.endswith("#0") and recs[2].image_path.endswith("#200")
    assert recs[1].bbox.tolist() == [100, 120, 80, 90] and recs[1].box_score == 0.5 and len({r.ann_id for r in recs}) == 10
    assert recs[0].image_id == recs[1].image_id != recs[2].image_id


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_posecons_on_the_video_with_an_onnx_detector(sample_data, video, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    import torch

    class Dets(torch.nn.Module):  # mmdeploy's end-to-end layout: dets (1, N, 5) in letterboxed pixels, labels (1, N)
        def forward(self, x):  # noqa: ANN001, ANN201
            z = x.mean() * 0
            return (torch.tensor([[[10.0, 10.0, 200.0, 200.0, 0.9], [300.0, 300.0, 500.0, 600.0, 0.8], [0.0, 0.0, 50.0, 50.0, 0.1]]]) + z,
                    torch.zeros(1, 3, dtype=torch.int64))

    torch.onnx.export(Dets(), (torch.zeros(1, 3, 640, 640),), str(tmp_path / "det.onnx"), dynamo=False, input_names=["input"],
                      output_names=["dets", "labels"], opset_version=17)
    assert main(["data", "import", str(sample_data / "mirror-mouse/CollectedData.csv"), "--format", "dlc", "--out", str(tmp_path / "mm")]) == 0
    capsys.readouterr()
    over = [f"data.unlabeled.videos=[{video}]", "data.unlabeled.frame_stride=100", f"data.unlabeled.detector={tmp_path / 'det.onnx'}",
            "data.input_size=[64,64]", "data.workers=0", "model.arch=resnet18", "model.pretrained=null", "model.deconv_filters=[16,16,16]",
            "ssl.method=posecons", "ssl.paths=[JOCO]", "train.max_steps=2", "train.batch_size=4", "eval.num_vis_images=1",
            f"output_dir={tmp_path / 'runs'}", "name=d"]
    assert main(["train", str(tmp_path / "mm/config.yaml"), *over, "--no-progress"]) == 0
    log = (tmp_path / "runs/d/train.log").read_text()
    assert "20 detected persons in 10 frames (every 100) of 1 video(s); 0 frames without a person left out" in log
    assert main(["train", str(tmp_path / "mm/config.yaml"), *over[1:], "--no-progress"]) == 2
    assert "data.unlabeled.detector: finds the persons in the frames of data.unlabeled.videos" in capsys.readouterr().err


def test_supervised_with_the_video_terms_on_the_video(sample_data, video, tmp_path, capsys):
    """The temporal and pose-prior terms train end to end (supervised + both, no consistency):
    the loader gives frame tuples, the terms reach metrics.csv like every loss term."""
    assert main(["data", "import", str(sample_data / "mirror-mouse/CollectedData.csv"), "--format", "dlc", "--out", str(tmp_path / "mm")]) == 0
    capsys.readouterr()
    over = [f"data.root={tmp_path / 'mm'}", "data.skeleton=null", "data.train.ann_file=annotations.json", "data.train.image_dir=images",
            "data.val.ann_file=annotations.json", "data.val.image_dir=images", "data.val.det_file=null", f"data.unlabeled.videos=[{video}]",
            "data.unlabeled.frame_stride=50", "data.input_size=[64,64]", "data.workers=1", "model.deconv_filters=[16,16,16]",
            "ssl.temporal.weight=1.0", "ssl.pose_prior.weight=1.0", "ssl.temporal.frame_gap=2",
            "train.max_steps=2", "train.batch_size=4", "eval.num_vis_images=1",
            f"output_dir={tmp_path / 'runs'}", "name=v"]
    config = Path(__file__).resolve().parents[2] / "configs/synthetic_res10_128x96.yaml"
    assert main(["train", str(config), *over, "--no-progress"]) == 0
    log = (tmp_path / "runs/v/train.log").read_text()
    assert "with frames ±2" in log and "supervised + temporal (weight 1, ε 8) + pose_prior (weight 1, ε 0.1)" in log
    assert "ssl.pose_prior: " in log and "labelled poses with every keypoint" in log
    rows = (tmp_path / "runs/v/metrics.csv").read_text().splitlines()
    row = dict(zip(rows[0].split(","), rows[1].split(",")))
    assert float(row["loss_pose_prior"]) > 0 and float(row["loss_temporal"]) >= 0 and float(row["loss_sup"]) > 0
    # too few complete poses for a prior: one line that says what to do
    assert main(["train", str(config), *over, "data.max_train_instances=2", "data.augment.flip_prob=0", "data.augment.rot_prob=0",
                 "name=w", "--no-progress"]) == 2
    assert "ssl.pose_prior.weight=0" in capsys.readouterr().err
