"""Custom keypoint sets on real files: a CrowdPose file in its real layout (COCO's edges in a
14-joint skeleton, crowdIndex per image) trains and is scored with AP(easy/medium/hard); a
COCO-17 model is refused on PoseTrack's 17 joints; `eval --results` scores with the model's
sigmas, as `eval --checkpoint` does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import make_model_file
from semipose.cli import main
from semipose.evaluation.coco import evaluate_coco_keypoints, load_coco_gt
from semipose.skeletons import COCO17, CROWDPOSE14, POSETRACK17

CROWD_INDEX = [0.05, 0.45, 0.92, 0.1]  # easy, medium, hard, and the easy/medium bound (counts in both)


def _crowdpose_file(sample_data: Path, path: Path) -> Path:
    """The sample COCO persons in CrowdPose's layout: its 14 keypoints (COCO's 12 limbs' joints,
    head = the nose, neck = between the shoulders), COCO's 1-based skeleton left in the
    category as the real files have it, and a crowdIndex per image."""
    d = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    d["categories"] = [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(CROWDPOSE14.keypoints),
                        "skeleton": [[a + 1, b + 1] for a, b in COCO17.edges]}]
    for im, ci in zip(sorted(d["images"], key=lambda m: m["id"]), CROWD_INDEX):
        im["crowdIndex"] = ci
    for a in d["annotations"]:
        k = [a["keypoints"][3 * i : 3 * i + 3] for i in range(17)]
        ls, rs = k[5], k[6]
        neck = [(ls[0] + rs[0]) / 2, (ls[1] + rs[1]) / 2, 2] if ls[2] and rs[2] else [0, 0, 0]
        a["keypoints"] = sum([*k[5:17], k[0], neck], [])
        a["num_keypoints"] = sum(1 for i in range(14) if a["keypoints"][3 * i + 2] > 0)
    path.write_text(json.dumps(d))
    return path


def _perfect_results(ann: Path) -> list[dict]:
    d = json.loads(ann.read_text())
    return [{"image_id": a["image_id"], "category_id": 1, "score": 1.0,
             "keypoints": [v if i % 3 < 2 else float(v > 0) for i, v in enumerate(a["keypoints"])]}
            for a in d["annotations"] if a["num_keypoints"] > 0]


def test_crowdpose_file_is_read_trained_and_scored_by_crowd_index(sample_data, tmp_path, capsys):
    ann = _crowdpose_file(sample_data, tmp_path / "crowdpose.json")
    (tmp_path / "results.json").write_text(json.dumps(_perfect_results(ann)))
    assert main(["eval", "--results", str(tmp_path / "results.json"), "--gt", str(ann), "--out", str(tmp_path / "e")]) == 0
    out = capsys.readouterr().out
    assert "AP (E) | AP (M) | AP (H)" in out and "crowdpose14" in out  # the file's names pick the built-in set and its sigmas
    m = json.loads((tmp_path / "e/metrics.json").read_text())
    assert [m["AP"], m["AP_easy"], m["AP_medium"], m["AP_hard"]] == pytest.approx([1.0] * 4)

    # a wrong prediction on the hard image lowers AP(hard) only
    d = json.loads(ann.read_text())
    hard = sorted(d["images"], key=lambda im: im["id"])[2]["id"]
    bad = [dict(r, keypoints=[v + 40.0 if i % 3 < 2 else v for i, v in enumerate(r["keypoints"])]) if r["image_id"] == hard else r
           for r in _perfect_results(ann)]
    gt = load_coco_gt(ann)
    m2 = evaluate_coco_keypoints(gt, bad, sigmas=CROWDPOSE14.sigmas)
    assert m2["AP_hard"] < 0.5 and m2["AP_easy"] == pytest.approx(1.0) and m2["AP_medium"] == pytest.approx(1.0)

    # it trains: the COCO edges in its category no longer block anything
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"name: cp\noutput_dir: {tmp_path / 'runs'}\n"
        f"data: {{train: {{ann_file: {ann}, image_dir: {sample_data / 'coco/images'}}}, "
        f"val: {{ann_file: {ann}, image_dir: {sample_data / 'coco/images'}}}, input_size: [64, 64], workers: 0}}\n"
        "model: {arch: resnet18, deconv_filters: [16, 16, 16]}\ntrain: {epochs: 1, batch_size: 4, max_iters_per_epoch: 1}\n"
    )
    assert main(["train", str(cfg), "--no-progress"]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "runs/cp/skeleton.json").read_text())["name"] == "crowdpose14"
    assert "AP_hard" in json.loads((tmp_path / "runs/cp/eval/metrics.json").read_text())


def test_coco_model_is_refused_on_posetrack_joints(model_file, sample_data, tmp_path, capsys):
    d = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    d["categories"][0]["keypoints"] = list(POSETRACK17.keypoints)
    (tmp_path / "pt.json").write_text(json.dumps(d))
    rc = main(["eval", "--checkpoint", str(model_file), f"data.val.ann_file={tmp_path / 'pt.json'}",
               f"data.val.image_dir={sample_data / 'coco/images'}", "--out", str(tmp_path / "e"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "keypoint names differ: the model's coco17 has 'left_eye' where the data's posetrack17 has 'head_bottom'" in err
    assert "Traceback" not in err
    # the same through eval --results, with the model named
    (tmp_path / "r.json").write_text(json.dumps(_perfect_results(tmp_path / "pt.json")))
    assert main(["eval", "--results", str(tmp_path / "r.json"), "--gt", str(tmp_path / "pt.json"), "--checkpoint", str(model_file)]) == 2
    assert "keypoint names differ" in capsys.readouterr().err


def test_eval_results_scores_with_the_models_sigmas(sample_data, tmp_path, capsys):
    names = [f"marker_{i}" for i in range(17)]
    sigmas = [0.2] * 17  # far from the 0.07 default (data.default_sigma) a file without sigmas gets
    model = make_model_file(tmp_path / "m.pt", skeleton={"name": "markers", "keypoints": names, "sigmas": sigmas})
    d = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    d["categories"] = [{"id": 1, "name": "person", "keypoints": names}]  # no sigmas in the file
    (tmp_path / "gt.json").write_text(json.dumps(d))
    out = tmp_path / "p"
    assert main(["predict", str(model), str(sample_data / "coco/images"), "--boxes", str(tmp_path / "gt.json"), "--out", str(out),
                 "--no-progress", "--no-draw"]) == 0
    capsys.readouterr()
    assert (out / "image_info.json").is_file()
    # near-perfect results in the folder predict wrote (a random model scores 0 with any sigma)
    near = [dict(r, keypoints=[v + 6.0 if i % 3 < 2 else v for i, v in enumerate(r["keypoints"])]) for r in _perfect_results(tmp_path / "gt.json")]
    (out / "predictions.json").write_text(json.dumps(near))
    assert main(["eval", "--results", str(out / "predictions.json"), "--gt", str(tmp_path / "gt.json"), "--out", str(tmp_path / "e")]) == 0
    printed = capsys.readouterr().out
    assert f"OKS sigmas: the model's keypoint set, from {out / 'image_info.json'}" in printed
    got = json.loads((tmp_path / "e/metrics.json").read_text())
    results = json.loads((out / "predictions.json").read_text())
    gt = load_coco_gt(tmp_path / "gt.json")
    assert got["AP"] == pytest.approx(evaluate_coco_keypoints(gt, results, sigmas=sigmas)["AP"], abs=1e-6)
    assert got["AP"] != pytest.approx(evaluate_coco_keypoints(gt, results, sigmas=[0.07] * 17)["AP"], abs=1e-6)
    # --checkpoint names the model directly, with the same sigmas
    assert main(["eval", "--results", str(out / "predictions.json"), "--gt", str(tmp_path / "gt.json"), "--checkpoint", str(model)]) == 0
    assert f"OKS sigmas: the model card of {model}" in capsys.readouterr().out
