"""`semipose predict` on the inputs that used to lose or mix results: an image whose header
claims 50000x50000 pixels, a box at x = 1e9, same-named photos in other formats, PoseTrack's
per-video frame folders with equal file names, skipped detections, --max-frames 0, an ONNX
file whose card does not fit its graph, and the PoseEstimator's own inputs."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from semipose.cli import main
from semipose.predict import PoseEstimator


def _huge_png(path: Path) -> None:
    """A valid small PNG whose IHDR claims 50000x50000 pixels (CRC fixed)."""
    ok, buf = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    b = bytearray(buf.tobytes())
    b[16:24] = struct.pack(">II", 50000, 50000)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
    path.write_bytes(bytes(b))


def test_one_bad_image_costs_the_others_nothing_and_formats_do_not_collide(model_file, sample_data, tmp_path, capfd):
    imgs = tmp_path / "imgs"
    shutil.copytree(sample_data / "coco/images", imgs)
    good = sorted(imgs.glob("*.jpg"))
    _huge_png(imgs / "huge.png")
    photo = cv2.imread(str(good[0]))
    for ext in (".bmp", ".webp", ".tif"):
        assert cv2.imwrite(str(imgs / f"photo{ext}"), photo)
    rc = main(["predict", str(model_file), str(imgs), "--out", str(tmp_path / "o"), "--no-progress"])
    cap = capfd.readouterr()  # OpenCV's own lines too: no WARN per drawing (a JPEG quality given to the BMP / TIFF writers)
    assert "WARN" not in cap.err, cap.err
    assert rc == 2 and "huge.png: cannot decode image (its header claims 50000x50000 pixels" in cap.err, cap.err
    assert "1 input(s) failed" in cap.err and "Traceback" not in cap.err + cap.out
    preds = json.loads((tmp_path / "o/predictions.json").read_text())
    info = json.loads((tmp_path / "o/image_info.json").read_text())
    names = sorted(im["file_name"] for im in info["images"])
    assert names == sorted([p.name for p in good] + ["photo.bmp", "photo.tif", "photo.webp"])
    assert len({p["image_id"] for p in preds}) == len(good) + 3
    vis = sorted(p.name for p in (tmp_path / "o/vis").iterdir())
    assert vis == sorted([p.name for p in good] + ["photo.bmp", "photo.tif", "photo.webp"])  # three drawings, not one


def test_a_box_far_outside_the_image_is_predicted_and_drawn(model_file, sample_data, tmp_path, capsys):
    photos = sorted((sample_data / "coco/images").glob("*.jpg"))[:2]
    boxes = {photos[0].name: [[1e9, 10, 50, 80], [10, 10, 100, 200]], photos[1].name: [[5, 5, 60, 90, 0.8]]}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    rc = main(["predict", str(model_file), *map(str, photos), "--boxes", str(tmp_path / "boxes.json"), "--no-nms",
               "--out", str(tmp_path / "o"), "--no-progress"])
    cap = capsys.readouterr()
    assert rc == 0 and "Traceback" not in cap.err, cap.err
    assert len(json.loads((tmp_path / "o/predictions.json").read_text())) == 3
    assert sorted(p.name for p in (tmp_path / "o/vis").iterdir()) == sorted(p.name for p in photos)


def _posetrack(sample_data: Path, root: Path) -> tuple[Path, dict[str, int]]:
    """Three videos' first frames in PoseTrack's layout (images/val/<video>/000000.jpg, equal
    file names) and a COCO file naming them by that relative path, each with the persons of
    the sample photo it was made from; returns the file and the persons per video."""
    coco = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    images = sorted(coco["images"], key=lambda im: im["id"])[:3]
    out_images, out_anns, counts = [], [], {}
    for i, im in enumerate(images):
        video = f"00{i}342_mpii_test"
        dst = root / "images/val" / video / "000000.jpg"
        dst.parent.mkdir(parents=True)
        shutil.copy(sample_data / "coco/images" / im["file_name"], dst)
        out_images.append({**im, "id": 1000 + i, "file_name": f"images/val/{video}/000000.jpg"})
        anns = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
        out_anns += [{**a, "image_id": 1000 + i} for a in anns]
        counts[video] = sum(any(v > 0 for v in a["keypoints"][2::3]) for a in anns)  # the reader keeps labelled persons
    path = root / "annotations/val.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**coco, "images": out_images, "annotations": out_anns}))
    return path, counts


def test_posetrack_frames_with_equal_names_get_their_own_boxes(model_file, sample_data, tmp_path, capsys):
    ann, counts = _posetrack(sample_data, tmp_path / "pt")
    assert len(set(counts.values())) > 1  # the videos differ in persons: a mix-up would show
    rc = main(["predict", str(model_file), str(tmp_path / "pt/images/val"), "--boxes", str(ann), "--no-nms",
               "--out", str(tmp_path / "o"), "--no-progress"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    preds = json.loads((tmp_path / "o/predictions.json").read_text())
    per_image = {i: sum(p["image_id"] == i for p in preds) for i in (1000, 1001, 1002)}
    assert list(per_image.values()) == list(counts.values())
    assert f"{sum(counts.values())} persons" in cap.out
    info = json.loads((tmp_path / "o/image_info.json").read_text())
    assert sorted(im["file_name"] for im in info["images"]) == sorted(f"{v}/000000.jpg" for v in counts)
    assert sorted(str(p.relative_to(tmp_path / "o/vis")) for p in (tmp_path / "o/vis").rglob("*.jpg")) == sorted(
        f"{v}/000000.jpg" for v in counts)

    # a frame outside those folders fits all three entries equally: one line, never a guess
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(tmp_path / "pt/images/val" / next(iter(counts)) / "000000.jpg", tmp_path / "elsewhere/000000.jpg")
    rc = main(["predict", str(model_file), str(tmp_path / "elsewhere/000000.jpg"), "--boxes", str(ann),
               "--out", str(tmp_path / "x"), "--no-progress"])
    cap = capsys.readouterr()
    assert rc == 2 and "3 entries of" in cap.err and "fit this file name equally well" in cap.err and "Traceback" not in cap.err


def test_skipped_detections_are_counted(model_file, sample_data, tmp_path, capsys):
    coco = sample_data / "coco"
    dets = json.loads((coco / "person_detections_sample.json").read_text())
    dets[0]["score"] = float("nan")
    dets[1]["bbox"] = [10.0, 10.0, -5.0, 20.0]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    args = ["predict", str(model_file), str(coco / "images"), "--boxes", str(coco / "person_keypoints_sample.json"),
            "--det-file", str(tmp_path / "dets.json"), "--out", str(tmp_path / "o"), "--no-progress", "--no-draw"]
    rc = main([*args, "--det-score-thr", "0"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert f"kept {len(dets) - 2} detections; skipped 1 non-finite score, 1 empty box" in cap.err
    # the default threshold is not 0.0: junk boxes (the sample's fence) are dropped, and the count is printed
    low = sum(1 for d in dets[2:] if d["score"] < 0.3)
    assert main(args) == 0
    cap = capsys.readouterr()
    assert f"(score ≥ 0.3: {len(dets) - 2 - low} kept)" in cap.out and f"{low} low score" in cap.err


def test_max_frames_zero_is_refused(model_file, tmp_path, capsys):
    assert main(["predict", str(model_file), "0", "--max-frames", "0"]) == 2
    err = capsys.readouterr().err
    assert "--max-frames: must be ≥ 1 (leave it out for every frame), got 0" in err and "Traceback" not in err


def test_estimator_inputs(model_file, sample_data):
    est = PoseEstimator.from_file(model_file)
    with pytest.raises(ValueError, match="the image is None"):
        est(None)
    with pytest.raises(ValueError, match="the image is None"):
        est([None])
    photo = cv2.imread(str(sorted((sample_data / "coco/images").glob("*.jpg"))[0]))
    grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    res = est(grey)  # a 2-D grey array is an image, not a list of rows
    np.testing.assert_array_equal(res.keypoints, est(np.repeat(grey[..., None], 3, axis=2)).keypoints)
    with pytest.raises(ValueError, match=r"got int16 array of shape \(4, 5\)"):
        est(np.zeros((4, 5), np.int16))
    with pytest.raises(ValueError, match="an image must be a file path or an .* array, got int"):
        est(5)  # one line, not a TypeError from inside


@pytest.mark.slow
def test_onnx_card_that_does_not_fit_the_graph(model_file, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import onnx

    assert main(["export", str(model_file), "-o", str(tmp_path / "m.onnx"), "--opset", "5"]) == 2
    err = capsys.readouterr().err
    assert "--opset 5: the export needs an ONNX opset from 11" in err and not list(tmp_path.glob("m.onnx*"))
    assert main(["export", str(model_file), "-o", str(tmp_path / "m.onnx"), "--no-check"]) == 0
    capsys.readouterr()
    model = onnx.load(str(tmp_path / "m.onnx"))
    entry = next(p for p in model.metadata_props if p.key == "semipose_card")
    card = json.loads(entry.value)
    card["input_size"] = [192, 256]  # a card copied from another model
    entry.value = json.dumps(card)
    onnx.save(model, str(tmp_path / "copied.onnx"))
    with pytest.raises(Exception, match=r"the model card does not fit the graph: its input 'image' is \[.*, 3, 64, 64\]"):
        PoseEstimator.from_file(tmp_path / "copied.onnx")
    rc = main(["predict", str(tmp_path / "copied.onnx"), "0", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "does not fit the graph" in err and "Traceback" not in err


@pytest.mark.slow
def test_an_onnx_file_where_a_pt_is_needed_says_so(model_file, sample_data, tmp_path, capsys):
    pytest.importorskip("onnxscript")
    assert main(["export", str(model_file), "-o", str(tmp_path / "m.onnx"), "--no-check"]) == 0
    capsys.readouterr()
    coco = sample_data / "coco"
    assert main(["eval", "--checkpoint", str(tmp_path / "m.onnx"), f"data.val.ann_file={coco / 'person_keypoints_sample.json'}",
                 f"data.val.image_dir={coco / 'images'}"]) == 2
    err = capsys.readouterr().err
    assert "m.onnx: an ONNX export: it runs through `semipose predict`" in err and "Traceback" not in err


def test_per_file_errors_print_above_the_progress_bar(model_file, sample_data, tmp_path, capfd):
    imgs = tmp_path / "imgs"
    shutil.copytree(sample_data / "coco/images", imgs)
    _huge_png(imgs / "b_huge.png")
    assert main(["predict", str(model_file), str(imgs), "--out", str(tmp_path / "o")]) == 2  # with the progress bar
    err = capfd.readouterr().err
    segments = [s for s in err.replace("\r", "\n").split("\n") if "semipose: error: " in s and "huge.png" in s]
    assert segments and all(s.startswith("semipose: error: ") for s in segments), err  # never inside the bar's line
