"""The 24-joint union: MPII-labelled + AIC-unlabelled training, union → dataset order before
scoring, on the real sample files."""

from __future__ import annotations

import numpy as np
import pytest

from semipose.config import load_config
from semipose.data.sources import build_eval_data, build_skeleton, build_train_data
from semipose.engine.build import build_codec
from semipose.evaluation.coco import evaluate_predictions
from semipose.skeletons import get_union_mapping


def union_config(sample_data, tmp_path, *extra):
    return load_config(None, [
        "name=u", f"output_dir={tmp_path / 'runs'}", f"data.root={sample_data}", "data.skeleton=union24",
        "data.train.ann_file=mpii/mpii_sample.json", "data.train.image_dir=mpii/images", "data.train.format=mpii",
        "data.unlabeled.ann_file=aic/aic_sample.json", "data.unlabeled.image_dir=aic/images",
        "data.val.ann_file=coco/person_keypoints_sample.json", "data.val.image_dir=coco/images",
        "data.input_size=[64,64]", "data.workers=0", "model.arch=resnet18", "model.deconv_filters=[32,32,32]",
        "train.batch_size=2", "train.epochs=1", "train.max_iters_per_epoch=2", "train.lr_steps=[100]",
        "eval.batch_size=8", "eval.num_vis_images=1", "ssl.method=posedual", "ssl.paths=[JC]", *extra,
    ])


def test_mpii_labelled_aic_unlabelled_in_union_order(sample_data, tmp_path):
    cfg = union_config(sample_data, tmp_path)
    skeleton = build_skeleton(cfg)
    assert skeleton.name == "union24"
    data = build_train_data(cfg, skeleton, build_codec(cfg))
    mpii = get_union_mapping("mpii16")
    lab = data.labelled.records
    assert len(lab) == 5 and all(r.keypoints.shape == (24, 3) for r in lab)
    unmapped = ~mpii.supervised
    assert all((r.keypoints[unmapped] == 0).all() for r in lab)
    assert any((r.keypoints[mpii.supervised, 2] > 0).sum() >= 12 for r in lab)
    mixed = data.mixed
    assert mixed is not None and mixed.num_unlabelled == 9  # the AIC persons, labels ignored
    assert all((r.keypoints == 0).all() for r in mixed.unlabelled.records)
    w = mixed[0]["weight"]
    assert w.shape == (24,) and np.array_equal(w.numpy() > 0, mpii.supervised)  # MPII's 16 channels


def test_union_predictions_scored_in_coco_order(sample_data, tmp_path):
    cfg = union_config(sample_data, tmp_path)
    skeleton = build_skeleton(cfg)
    ev = build_eval_data(cfg, skeleton, build_codec(cfg))
    assert ev.eval_skeleton.name == "coco17" and ev.mapping is not None
    # ground truth scattered into union order and gathered back scores AP 1 with COCO sigmas
    union_kp = np.stack([r.keypoints for r in ev.records])
    assert union_kp.shape[1] == 24
    coco_kp = ev.mapping.from_union(union_kp, axis=1)
    conf = np.where(coco_kp[..., 2] > 0, 1.0, 0.0)
    centers, scales = ev.crop_boxes()
    m = evaluate_predictions(ev.records, coco_kp[..., :2], conf, ev.ann_file, centers=centers, scales=scales, skeleton=ev.eval_skeleton)
    assert m["AP"] == pytest.approx(1.0)


def test_union_posedual_trains_end_to_end(sample_data, tmp_path):
    from semipose.engine.trainer import train

    res = train(union_config(sample_data, tmp_path), progress=False)
    assert (res.run_dir / "eval" / "keypoints_ensemble_results.json").is_file()
    assert res.best_epoch == 1


def test_mismatched_keypoint_sets_need_the_union(sample_data, tmp_path):
    from semipose.errors import ConfigError

    cfg = union_config(sample_data, tmp_path, "data.skeleton=coco17")
    with pytest.raises(ConfigError, match="union24"):
        build_train_data(cfg, build_skeleton(cfg), build_codec(cfg))


def _write_gt_mat(sample_data, path):
    """A gt_valid.mat for the MPII sample (which has no head boxes: upper neck → head top)."""
    import json

    from scipy.io import savemat

    from semipose.evaluation.pckh import MPII_GT_JOINT_NAMES, MPIIGroundTruth

    raw = json.loads((sample_data / "mpii/mpii_sample.json").read_text())
    joints = np.array([e["joints"] for e in raw], dtype=np.float64)
    vis = np.array([e["joints_vis"] for e in raw])
    gt = MPIIGroundTruth.from_arrays(joints, vis, np.stack([joints[:, 8], joints[:, 9]], axis=1))
    names = np.empty((1, 16), dtype=object)
    names[0, :] = list(MPII_GT_JOINT_NAMES)
    savemat(str(path), {"dataset_joints": names, "jnt_missing": gt.jnt_missing, "pos_gt_src": gt.pos_gt_src,
                        "headboxes_src": gt.headboxes_src})


def test_union_net_on_mpii_with_pckh(sample_data, tmp_path, capsys):
    """A union-24 PoseDual run validated on MPII with PCKh (union → MPII order), then
    `semipose eval` prints the PCKh table for net 1, net 2 and the ensemble."""
    from semipose.cli import main
    from semipose.engine.trainer import train

    _write_gt_mat(sample_data, tmp_path / "gt_valid.mat")
    cfg = union_config(
        sample_data, tmp_path, "data.val.ann_file=mpii/mpii_sample.json", "data.val.image_dir=mpii/images",
        "data.val.format=mpii", f"data.val.gt_file={tmp_path / 'gt_valid.mat'}",
    )
    res = train(cfg, progress=False)
    assert set(res.best_metrics) >= {"Head", "Shoulder", "Mean", "Mean@0.1"}
    rc = main(["eval", str(res.run_dir / "config.yaml"), "--checkpoint", str(res.run_dir / "checkpoints/last.pt"),
               "--out", str(tmp_path / "ev"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "PCKh@0.5" in out
    assert "| Arch | Head | Shoulder |" in out and "| resnet18 ensemble |" in out
