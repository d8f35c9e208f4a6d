"""`semipose data import` on the real DeepLabCut project in shared/data/mirror-mouse (90 frames,
17 keypoints, empty cells), trained on end to end; bad CSVs are one line naming the row and
column; a COCO file passes through the checker."""

from __future__ import annotations

import json
import shutil

import pytest

from semipose.cli import main
from semipose.config import load_config
from semipose.data.coco import load_coco_keypoints
from semipose.data.formats.dlc import read_dlc_csv


def test_the_real_dlc_project(sample_data, tmp_path, capsys):
    csv_file = sample_data / "mirror-mouse/CollectedData.csv"
    assert main(["data", "import", str(csv_file), "--format", "dlc", "--out", str(tmp_path / "mm")]) == 0
    out = capsys.readouterr().out
    assert "90 images, 90 instances (90 with labels), 17 keypoints" in out and "1396 of 1530 keypoints labelled" in out
    doc = json.loads((tmp_path / "mm/annotations.json").read_text())
    names = doc["categories"][0]["keypoints"]
    assert len(names) == 17 and names[0] == "paw1LH_top" and doc["categories"][0]["skeleton"] == []
    img01 = next(im for im in doc["images"] if im["file_name"] == "labeled-data/img01.png")
    assert (img01["width"], img01["height"]) == (396, 406)
    ann = next(a for a in doc["annotations"] if a["image_id"] == img01["id"])
    assert ann["keypoints"][:3] == [77.25, 36.25, 2] and ann["bbox"] == [0.0, 0.0, 396.0, 406.0]
    tail = names.index("tailBase_top")
    assert ann["keypoints"][3 * tail : 3 * tail + 3] == [0.0, 0.0, 0]  # an empty cell: not labelled
    assert (tmp_path / "mm/images/labeled-data/img01.png").is_file()
    ks = load_coco_keypoints(tmp_path / "mm/annotations.json", tmp_path / "mm/images")
    assert len(ks.records) == 90 and ks.skeleton is not None and ks.skeleton.keypoints == tuple(names)

    # the written config: whole frames at the frames' aspect, flips off (no flip pairs), every
    # 10th frame held out; the printed way to train works (small and offline here)
    assert "9 frames held out for validation (every 10th: val.json), 81 to train on" in out
    line = out.split("to train on it", 1)[1].splitlines()[1].split()
    assert line[:2] == ["semipose", "train"] and line[2] == str((tmp_path / "mm/config.yaml").resolve())
    cfg = load_config(line[2])
    assert cfg.data.input_size == [256, 256] and cfg.data.augment.flip_prob == 0.0 and cfg.model.pretrained == "imagenet"
    assert cfg.ssl.method == "supervised" and cfg.ssl.augment.size_relative_to == "crop" and cfg.train.max_steps == 2000
    val = {im["file_name"] for im in json.loads((tmp_path / "mm/val.json").read_text())["images"]}
    train = {im["file_name"] for im in json.loads((tmp_path / "mm/train.json").read_text())["images"]}
    assert len(val) == 9 and len(train) == 81 and not val & train
    assert main(["train", line[2], "data.input_size=[64,64]", "model.arch=resnet18", "model.pretrained=null", "model.deconv_filters=[16,16,16]",
                 "train.max_steps=1", "train.batch_size=4", "data.workers=0", "eval.num_vis_images=1", f"output_dir={tmp_path / 'runs'}",
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "errors in pixels of the original image" in err
    for f in ("metrics.json", "metrics_net.json"):  # the run's and its network's file
        assert "rmse_px" in json.loads((tmp_path / "runs/mm/eval" / f).read_text())

    # with the project's video: the config trains on its frames
    assert main(["data", "import", str(csv_file), "--format", "dlc", "--out", str(tmp_path / "mv"), "--val-every", "0",
                 "--videos", str(sample_data / "mirror-mouse/videos")]) == 0
    assert "val.json is the training set" in capsys.readouterr().out
    cfg = load_config(tmp_path / "mv/config.yaml")
    assert cfg.data.unlabeled.videos == [str((sample_data / "mirror-mouse/videos").resolve())] and cfg.ssl.method == "supervised"
    text = (tmp_path / "mv/config.yaml").read_text()
    assert "semipose train config.yaml ssl.method=posecons ssl.teacher=ema ssl.select=ema\n" in text
    assert "ssl.temporal.weight=1e-4 ssl.pose_prior.weight=1e-3" in text and "semipose compare " in text
    assert main(["data", "import", str(csv_file), "--format", "dlc", "--out", str(tmp_path / "mx"), "--videos", str(tmp_path / "nope.mp4")]) == 2
    assert "--videos" in capsys.readouterr().err and not (tmp_path / "mx").exists()


def _csv(tmp_path, rows):
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    return path


@pytest.mark.parametrize(
    "rows,message",
    [
        ([["scorer", "me", "me"], ["bodyparts", "nose", "nose"], ["img.png", "1", "2"]], "row 3: no 'coords' header row"),
        ([["scorer", "me", "me", "me"], ["bodyparts", "nose", "nose", "ear"], ["coords", "x", "y", "x"]],
         "row 3, column 4: the coordinate columns must come in x, y pairs"),
        ([["scorer", "me", "me"], ["bodyparts", "nose", "nose"], ["coords", "x", "y"], ["img.png", "1"]], "row 4: 2 columns, the header has 3"),
        ([["scorer", "me", "me"], ["bodyparts", "nose", "nose"], ["coords", "x", "y"], ["img.png", "1", "two"]],
         "row 4, column 3 (nose y): 'two' is not a number"),
        ([["frame", "x"]], "row 1: not a DeepLabCut labels CSV"),
    ],
)
def test_bad_csv_is_one_line(tmp_path, capsys, rows, message):
    path = _csv(tmp_path, rows)
    assert main(["data", "import", str(path), "--format", "dlc", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"labels.csv: {message}" in err and "Traceback" not in err, err
    if "header" in message or "pairs" in message:
        with pytest.raises(ValueError, match=message.split(": ", 1)[-1][:20]):
            read_dlc_csv(path)


def test_a_label_for_a_missing_image(sample_data, tmp_path, capsys):
    lines = (sample_data / "mirror-mouse/CollectedData.csv").read_text().splitlines()
    (tmp_path / "labeled-data").mkdir()
    shutil.copy(sample_data / "mirror-mouse/labeled-data/img01.png", tmp_path / "labeled-data/img01.png")
    (tmp_path / "labels.csv").write_text("\n".join(lines[:5]) + "\n")  # img01 and img02; only img01 is there
    assert main(["data", "import", str(tmp_path / "labels.csv"), "--format", "dlc", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "labels.csv: row 5: image labeled-data/img02.png not found" in err and "--images ROOT" in err


def test_coco_passes_through_the_checker(sample_data, tmp_path, capsys):
    coco = sample_data / "coco"
    assert main(["data", "import", str(coco / "person_keypoints_sample.json"), "--format", "coco", "--out", str(tmp_path / "c"),
                 "--images", str(coco / "images"), "--copy"]) == 0
    assert "4 images, 14 instances (12 with labels), 17 keypoints" in capsys.readouterr().out
    assert len(list((tmp_path / "c/images").glob("*.jpg"))) == 4 and not any(p.is_symlink() for p in (tmp_path / "c/images").iterdir())


def _label_studio_export(labels, frames, size=(396, 406)):
    """A Label Studio JSON export of these frames, in its layout: tasks with the uploaded image
    (an 8-hex prefix on its name), one keypointlabels result per labelled point, in percent."""
    w, h = size
    tasks = []
    for t, (rel, per_ind) in enumerate(frames):
        results = [
            {"id": f"r{t}-{k}", "type": "keypointlabels", "from_name": "kp-1", "to_name": "img-1", "original_width": w,
             "original_height": h, "image_rotation": 0,
             "value": {"x": x / w * 100.0, "y": y / h * 100.0, "width": 0.5, "keypointlabels": [name]}}
            for k, (name, (x, y)) in enumerate(zip(labels.keypoints, per_ind[0])) if x == x
        ]
        tasks.append({"id": 100 + t, "data": {"img": f"/data/upload/7/0123abcd-{rel.split('/')[-1]}"},
                      "annotations": [{"id": t, "was_cancelled": False, "result": results}]})
    return tasks


def test_label_studio_export_gives_the_same_labels(sample_data, tmp_path, capsys):
    csv_file = sample_data / "mirror-mouse/CollectedData.csv"
    labels = read_dlc_csv(csv_file)
    (tmp_path / "ls.json").write_text(json.dumps(_label_studio_export(labels, labels.frames[:5])))
    assert main(["data", "import", str(tmp_path / "ls.json"), "--format", "label-studio", "--out", str(tmp_path / "o"),
                 "--images", str(sample_data / "mirror-mouse/labeled-data")]) == 0
    assert "5 images, 5 instances (5 with labels)" in capsys.readouterr().out
    doc = json.loads((tmp_path / "o/annotations.json").read_text())
    names = doc["categories"][0]["keypoints"]
    for im, (rel, per_ind) in zip(doc["images"], labels.frames[:5]):
        assert im["file_name"] == rel.split("/")[-1]  # the hash prefix of the upload name is gone
        kp = next(a for a in doc["annotations"] if a["image_id"] == im["id"])["keypoints"]
        for name, (x, y) in zip(labels.keypoints, per_ind[0]):
            if name in names and x == x:
                i = names.index(name)
                assert kp[3 * i : 3 * i + 3] == pytest.approx([x, y, 2], abs=1e-6)
    bad = _label_studio_export(labels, labels.frames[:1])
    del bad[0]["annotations"][0]["result"][0]["value"]["x"]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(["data", "import", str(tmp_path / "bad.json"), "--format", "label-studio", "--out", str(tmp_path / "b")]) == 2
    assert "bad.json: task 100, result r0-0: a keypoint needs value.x, value.y" in capsys.readouterr().err
