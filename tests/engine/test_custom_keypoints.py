"""A custom COCO-format keypoint set (K=5, sigmas and names only in the JSON) through the whole
pipeline: reading, flip pairs, training, flip-test evaluation with its own OKS sigmas."""

from __future__ import annotations

import json

from semipose.config import load_config
from semipose.engine.trainer import train

KEEP = [0, 5, 6, 11, 12]  # nose, shoulders, hips of the COCO-17 synthetic people
NAMES = ["head", "left_shoulder", "right_shoulder", "left_hip", "right_hip"]
SIGMAS = [0.05, 0.08, 0.08, 0.1, 0.1]


def _subset(src, dst, sigmas=True):
    d = json.loads(src.read_text())
    d["categories"] = [{"id": 1, "name": "person", "keypoints": NAMES, "skeleton": [[1, 2], [1, 3], [2, 4], [3, 5]], "sigmas": SIGMAS}]
    if not sigmas:
        del d["categories"][0]["sigmas"]
    for a in d["annotations"]:
        k = a["keypoints"]
        a["keypoints"] = sum((k[3 * i : 3 * i + 3] for i in KEEP), [])
        a["num_keypoints"] = sum(1 for i in KEEP if k[3 * i + 2] > 0)
    d["annotations"] = [a for a in d["annotations"] if a["num_keypoints"] > 0]
    dst.write_text(json.dumps(d))


def test_custom_keypoint_set_end_to_end(synth_dir, tmp_path):
    _subset(synth_dir / "annotations/person_keypoints_train.json", tmp_path / "train5.json")
    _subset(synth_dir / "annotations/person_keypoints_val.json", tmp_path / "val5.json")
    cfg = load_config(
        None,
        [
            "name=k5", f"output_dir={tmp_path / 'runs'}", f"data.root={tmp_path}",
            "data.train.ann_file=train5.json", f"data.train.image_dir={synth_dir / 'images/train'}",
            "data.val.ann_file=val5.json", f"data.val.image_dir={synth_dir / 'images/val'}",
            "data.input_size=[64,64]", "data.workers=0", "data.augment.flip_prob=1.0",
            "model.arch=resnet18", "model.deconv_filters=[16,16,16]",
            "train.epochs=1", "train.batch_size=4", "train.max_iters_per_epoch=2",
            "eval.flip_test=true", "eval.batch_size=8", "eval.num_vis_images=1",
        ],
    )
    assert cfg.data.skeleton is None  # read from the training file's category
    result = train(cfg, progress=False)
    sk = json.loads((result.run_dir / "skeleton.json").read_text())
    assert sk["keypoints"] == NAMES and sk["sigmas"] == SIGMAS
    assert sk["flip_pairs"] == [[1, 2], [3, 4]] and sk["edges"] == [[0, 1], [0, 2], [1, 3], [2, 4]]
    res = json.loads((result.run_dir / "eval/keypoints_net_results.json").read_text())
    assert res and all(len(r["keypoints"]) == 15 for r in res)
    metrics = json.loads((result.run_dir / "eval/metrics.json").read_text())
    assert {"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"} <= set(metrics)
    # a custom set is also scored in pixels: overall and per keypoint
    assert {"rmse_px", "median_px", "pck5_px", "pck10_px", "pck20_px", "labelled_px"} <= set(metrics)
    assert {f"rmse_px/{n}" for n in NAMES} <= set(metrics)
    assert (result.run_dir / "val_predictions.png").is_file()


def test_custom_keypoint_set_without_sigmas_trains_with_a_warning(synth_dir, tmp_path, caplog):
    _subset(synth_dir / "annotations/person_keypoints_train.json", tmp_path / "train5.json", sigmas=False)
    _subset(synth_dir / "annotations/person_keypoints_val.json", tmp_path / "val5.json", sigmas=False)
    cfg = load_config(
        None,
        [
            "name=k5", f"output_dir={tmp_path / 'runs'}", f"data.root={tmp_path}", "data.default_sigma=0.06",
            "data.train.ann_file=train5.json", f"data.train.image_dir={synth_dir / 'images/train'}",
            "data.val.ann_file=val5.json", f"data.val.image_dir={synth_dir / 'images/val'}",
            "data.input_size=[64,64]", "data.workers=0", "model.arch=resnet18", "model.deconv_filters=[16,16,16]",
            "train.epochs=1", "train.batch_size=4", "train.max_iters_per_epoch=1", "eval.batch_size=8", "eval.num_vis_images=0",
        ],
    )
    with caplog.at_level("WARNING", logger="semipose"):
        result = train(cfg, progress=False)
    assert "has no OKS sigmas; using data.default_sigma = 0.06 for all 5 keypoints" in caplog.text and "not comparable" in caplog.text
    assert json.loads((result.run_dir / "skeleton.json").read_text())["sigmas"] == [0.06] * 5
    assert set(json.loads((result.run_dir / "eval/metrics.json").read_text())) >= {"AP", "AR"}
