"""An instance finder trained end to end on the real two-fly clip by `semipose train finder.yaml`
(a few steps at a small size): its run folder, its validation (instances found, F1), its model
file opened as a detector, and `semipose predict` with it on the clip (one block per instance,
tracks)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from semipose.cli import main
from semipose.models.finder import CentroidFinder, open_instance_detector


@pytest.fixture(scope="module")
def finder_run(sample_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("finder")
    proj = root / "flies"
    assert main(["data", "import", str(sample_data / "sleap-flies/clip.slp"), "--format", "sleap", "--out", str(proj)]) == 0
    small = ["model.pretrained=null", "data.input_size=[128,128]", "model.deconv_filters=[32,32,32,32]", "data.workers=0",
             "train.batch_size=4", "train.max_steps=12", "train.max_iters_per_epoch=6", "train.lr_step_iters=[]", "train.val_every=2",
             "data.max_train_instances=20", "eval.num_vis_images=2", "finder.threshold=0.05", f"output_dir={root / 'runs'}"]
    assert main(["train", str(proj / "finder.yaml"), *small, "--no-progress"]) == 0
    return proj, root / "runs" / "flies-finder"


def test_the_finder_trains_and_validates_on_whole_frames(finder_run):
    _, run = finder_run
    assert (run / "checkpoints" / "best.pt").is_file() and (run / "val_predictions.png").is_file()
    metrics = json.loads((run / "eval" / "metrics_net.json").read_text())
    assert {"F1", "found_frames", "matched", "missed", "extra"} <= set(metrics)
    assert metrics["matched"] + metrics["missed"] == 300  # the 150 validation frames' two flies each
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == 2 and "F1" in rows[-1]


def test_eval_scores_a_finder_file_on_whole_frames(finder_run, tmp_path, capsys):
    proj, run = finder_run
    capsys.readouterr()
    assert main(["eval", str(proj / "finder.yaml"), "data.input_size=[128,128]", "model.deconv_filters=[32,32,32,32]",
                 "--checkpoint", str(run / "checkpoints" / "best.pt"), "--out", str(tmp_path / "ev"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "150 frames, 300 instances" in printed and "frames found" in printed
    assert "F1" in json.loads((tmp_path / "ev" / "metrics.json").read_text())


def test_its_model_file_is_a_detector_of_fixed_size_boxes(finder_run):
    proj, run = finder_run
    finder = open_instance_detector(str(run / "checkpoints" / "best.pt"))
    assert isinstance(finder, CentroidFinder)
    from semipose.video import read_video_frame

    frame = read_video_frame(str(proj / "images" / "clip.mp4"), 0)
    boxes, scores = finder(frame)
    assert boxes.shape[1] == 4 and len(boxes) == len(scores)
    if len(boxes):
        assert np.allclose(boxes[:, 2:], finder.crop)


def test_predict_runs_the_finder_then_the_pose_model_on_the_clip(finder_run, tmp_path, capsys):
    """The documented command: pose model + --detector FINDER on the video; its CSV has a block per
    instance found (a pose model trained 4 steps: what is checked is the plumbing, not accuracy)."""
    proj, run = finder_run
    small = ["model.pretrained=null", "model.arch=resnet18", "data.input_size=[64,64]", "model.deconv_filters=[32,32,32]",
             "data.workers=0", "train.batch_size=4", "train.max_steps=4", "train.max_iters_per_epoch=4", "train.lr_step_iters=[]",
             "data.max_train_instances=8", "eval.num_vis_images=0", f"output_dir={tmp_path / 'runs'}"]
    assert main(["train", str(proj / "config.yaml"), *small, "--no-progress"]) == 0
    pose = tmp_path / "runs" / "flies" / "checkpoints" / "best.pt"
    out = tmp_path / "pred"
    capsys.readouterr()
    code = main(["predict", str(pose), str(proj / "images" / "clip.mp4"), "--detector", str(run / "checkpoints" / "best.pt"),
                 "--max-frames", "6", "--out", str(out), "--no-progress", "--det-score-thr", "0.01"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "instance finder" in printed and "6 video frames" in printed
    results = json.loads((out / "predictions.json").read_text())
    assert all("track_id" in r for r in results)


def test_eval_scores_the_pipeline_beside_the_label_boxes(finder_run, tmp_path, capsys):
    """`semipose eval CONFIG --checkpoint POSE --detector FINDER`: two rows on the validation
    frames (the finder's boxes, the label boxes), the labelled flies counted once in each."""
    proj, run = finder_run
    small = ["model.pretrained=null", "data.input_size=[64,64]", "model.deconv_filters=[32,32,32]", "data.workers=0",
             "train.batch_size=4", "train.max_steps=2", "train.max_iters_per_epoch=2", "train.lr_step_iters=[]",
             "data.max_train_instances=4", "eval.num_vis_images=0", f"output_dir={tmp_path / 'runs'}"]
    assert main(["train", str(proj / "config.yaml"), "model.arch=resnet10", *small, "--no-progress"]) == 0
    pose = tmp_path / "runs" / "flies" / "checkpoints" / "last.pt"
    capsys.readouterr()
    assert main(["eval", str(proj / "config.yaml"), "--checkpoint", str(pose), "--detector", str(run / "checkpoints" / "best.pt"),
                 "--det-score-thr", "0.01", "--out", str(tmp_path / "ev"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    rows = json.loads((tmp_path / "ev" / "pipeline.json").read_text())
    assert [r["boxes"] for r in rows][1] == "label boxes" and "instance finder" in rows[0]["boxes"]
    assert all(r["matched"] + r["missed"] == 300 and r["frames"] == 150 for r in rows)  # both flies of the 150 validation frames
    assert rows[1]["missed"] == 0  # a box per labelled fly: each is matched
    assert "300 labelled instances on 150 frames" in printed and "label boxes" in printed
