"""Errors in pixels for custom keypoint sets: RMSE, median, PCK and per keypoint, in the
console, eval/metrics.json and a training run's metrics.csv."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import make_model_file
from semipose.cli import main
from semipose.evaluation.pixels import format_pixel_table, pixel_errors


def test_pixel_errors_by_hand():
    gt = np.array([[[10, 10, 2], [20, 20, 1], [0, 0, 0]], [[5, 5, 2], [7, 7, 2], [9, 9, 2]]], np.float64)
    pred = gt[..., :2] + np.array([[[3, 4], [0, 0], [99, 99]], [[6, 8], [0, 12], [1, 0]]])
    m = pixel_errors(pred, gt, ["a", "b", "c"])
    d = np.array([5, 0, 10, 12, 1])  # the unlabelled keypoint does not count
    assert m["rmse_px"] == pytest.approx(np.sqrt(np.mean(d**2))) and m["median_px"] == pytest.approx(5)
    assert (m["pck5_px"], m["pck10_px"], m["pck20_px"]) == pytest.approx((0.6, 0.8, 1.0)) and m["labelled_px"] == 5
    assert m["rmse_px/a"] == pytest.approx(np.sqrt((25 + 100) / 2)) and m["rmse_px/c"] == pytest.approx(1.0)
    table = format_pixel_table(m, ["a", "b", "c"])
    assert "| a | 7.91 |" in table and "| **all** |" in table
    assert pixel_errors(pred, np.zeros_like(gt), ["a", "b", "c"]) == {}


def test_custom_set_eval_reports_pixels(sample_data, tmp_path, capsys):
    names = [f"marker_{i}" for i in range(17)]
    model = make_model_file(tmp_path / "m.pt", skeleton={"name": "markers", "keypoints": names, "sigmas": [0.07] * 17})
    d = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    d["categories"] = [{"id": 1, "name": "person", "keypoints": names}]
    (tmp_path / "gt.json").write_text(json.dumps(d))
    assert main(["eval", "--checkpoint", str(model), f"data.val.ann_file={tmp_path / 'gt.json'}",
                 f"data.val.image_dir={sample_data / 'coco/images'}", "--out", str(tmp_path / "e"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "errors in pixels of the original image" in out and "| marker_0 |" in out and "| **all** |" in out
    assert "σ = 0.07 for every keypoint" in out  # the AP's sigma is a default, and it says so
    m = json.loads((tmp_path / "e/metrics.json").read_text())
    assert m["rmse_px"] > 0 and 0 <= m["pck10_px"] <= 1 and "rmse_px/marker_16" in m and "AP" in m


def test_custom_set_training_logs_pixels(synth_dir, tmp_path):
    from semipose.config import load_config
    from semipose.engine.trainer import train

    names = [f"p{i}" for i in range(17)]
    for split in ("train", "val"):
        d = json.loads((synth_dir / f"annotations/person_keypoints_{split}.json").read_text())
        d["categories"] = [{"id": 1, "name": "markers", "keypoints": names, "sigmas": [0.05] * 17}]
        (tmp_path / f"{split}.json").write_text(json.dumps(d))
    cfg = load_config(None, [
        "name=px", f"output_dir={tmp_path / 'runs'}", f"data.train.ann_file={tmp_path / 'train.json'}",
        f"data.train.image_dir={synth_dir / 'images/train'}", f"data.val.ann_file={tmp_path / 'val.json'}",
        f"data.val.image_dir={synth_dir / 'images/val'}", "data.input_size=[64,64]", "data.workers=0", "model.arch=resnet18",
        "model.deconv_filters=[16,16,16]", "train.epochs=1", "train.batch_size=4", "train.max_iters_per_epoch=1", "eval.num_vis_images=1",
    ])
    res = train(cfg, progress=False)
    row = list(csv.DictReader(open(res.run_dir / "metrics.csv")))[-1]
    assert float(row["rmse_px"]) > 0 and "rmse_px/p0" in row
    assert "errors in pixels of the original image" in (res.run_dir / "train.log").read_text()
