"""``semipose predict`` on the real sample photos: box sources, evaluation of its JSON, videos,
and bad input."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from semipose.cli import main


def _eval_metrics(capsys, argv) -> dict:
    assert main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    out = argv[argv.index("--out") + 1]
    import pathlib

    return json.loads((pathlib.Path(out) / "metrics.json").read_text())


@pytest.mark.parametrize("boxes", ["gt", "det"])
def test_predictions_evaluate_like_the_checkpoint(model_file, sample_data, tmp_path, capsys, boxes):
    coco = sample_data / "coco"
    ann, det = coco / "person_keypoints_sample.json", coco / "person_detections_sample.json"
    # eval's COCO protocol scores every detection; predict's default keeps score ≥ 0.3, so the same boxes need --det-score-thr 0
    box_args = ["--boxes", str(ann)] + (["--det-file", str(det), "--det-score-thr", "0"] if boxes == "det" else [])
    flip = ["--flip-test"] if boxes == "det" else []
    assert main(["predict", str(model_file), str(coco / "images"), *box_args, *flip, "--out", str(tmp_path / "p"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    preds = json.loads((tmp_path / "p/predictions.json").read_text())
    assert f"4 images, {len(preds)} persons" in out and "images/s" in out
    assert len(preds) == 12 if boxes == "gt" else 12 < len(preds) <= 118  # 118 detections before OKS-NMS
    info = json.loads((tmp_path / "p/image_info.json").read_text())
    assert {im["id"] for im in info["images"]} == {im["id"] for im in json.loads(ann.read_text())["images"]}
    assert len(list((tmp_path / "p/vis").glob("*.jpg"))) == 4
    assert {"image_id", "keypoints", "score", "bbox", "box_score"} <= set(preds[0])

    scored = _eval_metrics(capsys, ["eval", "--results", str(tmp_path / "p/predictions.json"), "--gt", str(ann), "--out", str(tmp_path / "s")])
    direct = _eval_metrics(capsys, [
        "eval", "--checkpoint", str(model_file), f"data.val.ann_file={ann}", f"data.val.image_dir={coco / 'images'}",
        *(["--det-file", str(det)] if boxes == "det" else []), *flip, "--out", str(tmp_path / "d"), "--no-progress",
    ])
    assert scored == pytest.approx(direct, abs=1e-4)
    ev = json.loads((tmp_path / "d/keypoints_net_results.json").read_text())
    key = lambda r: (r["image_id"], round(r["score"], 4))  # noqa: E731
    assert len(ev) == len(preds)
    for a, b in zip(sorted(preds, key=key), sorted(ev, key=key)):
        np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=2e-4)


def test_whole_image_folder_glob_and_heatmaps(model_file, sample_data, tmp_path, capsys):
    imgs = sample_data / "coco/images"
    assert main(["predict", str(model_file), str(imgs / "*.jpg"), "--whole-image", "--heatmaps", "--out", str(tmp_path / "w"), "--no-progress"]) == 0
    assert "4 images, 4 persons" in capsys.readouterr().out
    preds = json.loads((tmp_path / "w/predictions.json").read_text())
    assert sorted(p["image_id"] for p in preds) == [1, 2, 3, 4]
    drawn = cv2.imread(str(next((tmp_path / "w/vis").glob("*.jpg"))))
    assert drawn is not None and drawn.ndim == 3
    # a simple per-image box file
    name = sorted(imgs.glob("*.jpg"))[0].name
    (tmp_path / "boxes.json").write_text(json.dumps({name: [[10, 10, 100, 200, 0.9], [30, 40, 80, 120, 0.8]]}))
    assert main(["predict", str(model_file), str(imgs / name), "--boxes", str(tmp_path / "boxes.json"), "--no-nms",
                 "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    assert "1 images, 2 persons" in capsys.readouterr().out


def test_video_in_drawn_video_out(model_file, sample_data, tmp_path, capsys):
    frames = [cv2.resize(cv2.imread(str(p)), (320, 240)) for p in sorted((sample_data / "coco/images").glob("*.jpg"))]
    frames = frames + frames[:2]
    video = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    for f in frames:
        w.write(f)
    w.release()
    assert main(["predict", str(model_file), str(video), "--out", str(tmp_path / "v"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "6 video frames" in out
    cap = cv2.VideoCapture(str(tmp_path / "v/clip_pose.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == len(frames) and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 320
    info = json.loads((tmp_path / "v/image_info.json").read_text())
    assert [im["file_name"] for im in info["images"]][:2] == ["clip.mp4#0", "clip.mp4#1"]
    preds = json.loads((tmp_path / "v/predictions.json").read_text())
    assert len(preds) == len(frames)
    # the per-frame table a tracker reads: DeepLabCut / lightning-pose layout, one row per frame
    import csv

    rows = list(csv.reader(open(tmp_path / "v/clip.csv")))
    assert [r[0] for r in rows[:3]] == ["scorer", "bodyparts", "coords"] and rows[2][1:4] == ["x", "y", "likelihood"]
    assert rows[1][1:4] == ["nose"] * 3 and len(rows[0]) == 1 + 3 * 17 and len(rows) == 3 + len(frames)
    first = next(p for p in preds if p["image_id"] == info["images"][0]["id"])
    assert [float(v) for v in rows[3][1:]] == pytest.approx(first["keypoints"], abs=1e-3) and rows[3][0] == "0"
    assert "keypoints per frame (DeepLabCut / lightning-pose CSV layout)" in out


def test_bad_input_is_one_line_and_the_rest_goes_on(model_file, sample_data, tmp_path, capsys):
    imgs = tmp_path / "imgs"
    shutil.copytree(sample_data / "coco/images", imgs)
    good = sorted(imgs.glob("*.jpg"))
    (imgs / "broken.jpg").write_bytes(good[0].read_bytes()[:5000])  # cut short
    rc = main(["predict", str(model_file), str(imgs), "--out", str(tmp_path / "o"), "--no-progress"])
    cap = capsys.readouterr()
    assert rc == 2 and "broken.jpg: truncated JPEG" in cap.err and "1 input(s) failed" in cap.err
    assert f"{len(good)} images" in cap.out and "Traceback" not in cap.out + cap.err
    assert len(json.loads((tmp_path / "o/predictions.json").read_text())) == len(good)

    cases = [
        ([str(tmp_path / "nothing.jpg")], "nothing.jpg: no such file, folder or camera"),
        ([str(good[0]), "--boxes", str(sample_data / "aic/aic_sample.json")], "aic_sample.json: lists none of the 1 input image(s)"),
        ([str(good[0]), "--det-file", str(sample_data / "coco/person_detections_sample.json")], "--det-file needs --boxes"),
        (["9"], "camera 9: cannot open the camera"),
    ]
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    cases.append(([str(tmp_path / "bad.mp4")], "bad.mp4: cannot open the video"))
    for args, msg in cases:
        rc = main(["predict", str(model_file), *args, "--out", str(tmp_path / "x"), "--no-progress"])
        cap = capsys.readouterr()
        assert rc == 2 and msg in cap.err + cap.out and "Traceback" not in cap.err + cap.out, (args, cap)


def test_eval_save_vis(model_file, sample_data, tmp_path, capsys):
    coco = sample_data / "coco"
    assert main(["eval", "--checkpoint", str(model_file), f"data.val.ann_file={coco / 'person_keypoints_sample.json'}",
                 f"data.val.image_dir={coco / 'images'}", "--save-vis", "--out", str(tmp_path / "e"), "--no-progress"]) == 0
    assert "drawings of 4 images" in capsys.readouterr().out
    assert len(list((tmp_path / "e/vis").glob("*.jpg"))) == 4


def test_eval_given_an_image_points_to_predict(model_file, sample_data, capsys):
    image = sorted((sample_data / "coco/images").glob("*.jpg"))[0]
    assert main(["eval", "--checkpoint", str(model_file), str(image)]) == 2
    err = capsys.readouterr().err
    assert "not a config; to predict poses on it: semipose predict MODEL" in err and "Traceback" not in err


def test_pose_csv_with_several_persons(tmp_path):
    import csv

    from semipose.predict.run import write_pose_csv

    r = lambda v, s: {"keypoints": [v, v + 1, 0.5] * 2, "score": s}  # noqa: E731
    write_pose_csv(tmp_path / "t.csv", [[r(1, 0.2), r(5, 0.9)], [r(7, 0.4)], []], ("a", "b"))
    rows = list(csv.reader(open(tmp_path / "t.csv")))
    assert [x[0] for x in rows[:4]] == ["scorer", "individuals", "bodyparts", "coords"]
    assert rows[1][1:8] == ["person1"] * 6 + ["person2"] and len(rows[0]) == 13
    assert rows[4][1:4] == ["5.0", "6.0", "0.5"] and rows[4][7:10] == ["1.0", "2.0", "0.5"]  # by score, best first
    assert rows[5][7:] == [""] * 6 and rows[6][1:] == [""] * 12  # a person missing, an empty frame
