"""The DeepLabCut table: written and read back the same, Windows paths, paths that leave the
project, an image listed twice, --val-every checked."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from semipose.cli import main
from semipose.data.formats.dlc import read_dlc_csv, write_dlc_table
from semipose.data.importers import import_project, split_project
from semipose.errors import DataFormatError

NAMES = ["nose", "ear"]


def _png(path):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((40, 50, 3), 90, np.uint8))
    return path


def test_written_tables_read_back(tmp_path):
    rows = [("labeled-data/a.png", [[[1.5, 2.0], [np.nan, np.nan]]]), ("labeled-data/b.png", [None])]
    write_dlc_table(tmp_path / "CollectedData.csv", [(r, [None if i is None else np.array(i[0]) for i in per]) for r, per in rows], NAMES)
    labels = read_dlc_csv(tmp_path / "CollectedData.csv")
    assert labels.keypoints == NAMES and labels.individuals == [""]
    assert [f for f, _ in labels.frames] == ["labeled-data/a.png", "labeled-data/b.png"]
    assert labels.frames[0][1][0][0] == (1.5, 2.0) and all(math.isnan(v) for v in labels.frames[0][1][0][1])
    # predictions of several persons: likelihood columns and an individuals row, read back per individual
    write_dlc_table(tmp_path / "pred.csv", [(0, [np.array([[1, 2, 0.9], [3, 4, 0.8]]), np.array([[5, 6, 0.7], [7, 8, 0.6]])])],
                    NAMES, individuals=["person1", "person2"], likelihood=True)
    pred = read_dlc_csv(tmp_path / "pred.csv")
    assert pred.individuals == ["person1", "person2"] and pred.frames[0][1][1] == [(5.0, 6.0), (7.0, 8.0)]


def _csv(path, images, labels=None):
    labels = labels or [["1", "2", "3", "4"]] * len(images)
    text = "scorer,me,me,me,me\nbodyparts,nose,nose,ear,ear\ncoords,x,y,x,y\n"
    text += "".join(f"{img},{','.join(lab)}\n" for img, lab in zip(images, labels))
    path.write_text(text)
    return path


def test_windows_paths_are_read(tmp_path):
    _png(tmp_path / "proj/labeled-data/img01.png")
    src = _csv(tmp_path / "proj/CollectedData.csv", [r"labeled-data\img01.png"])
    s = import_project(src, "dlc", tmp_path / "out")
    assert s.images == 1 and (tmp_path / "out/images/labeled-data/img01.png").is_file()


def test_paths_that_leave_the_project_are_refused_and_nothing_outside_is_touched(tmp_path):
    victim = _png(tmp_path / "b/victim.png")
    before = victim.read_bytes()
    (tmp_path / "proj/sub").mkdir(parents=True)
    for bad in ("../../../b/victim.png", "/etc/passwd", "C:/x/y.png", r"..\b\victim.png"):
        src = _csv(tmp_path / "proj/sub/CollectedData.csv", [bad])
        with pytest.raises(DataFormatError, match=r"CollectedData\.csv: row 4: image path .* leaves the project folder"):
            import_project(src, "dlc", tmp_path / "proj/out", images=str(tmp_path / "proj/sub"))
    assert victim.read_bytes() == before and not victim.is_symlink()


def test_an_image_listed_twice(tmp_path, caplog):
    _png(tmp_path / "proj/labeled-data/img01.png")
    src = _csv(tmp_path / "proj/CollectedData.csv", ["labeled-data/img01.png"] * 2, [["1", "2", "3", "4"], ["1", "2", "3", "9"]])
    with pytest.raises(DataFormatError, match=r"rows 4 and 5: image labeled-data/img01.png is listed twice with different labels"):
        read_dlc_csv(src)
    src = _csv(tmp_path / "proj/CollectedData.csv", ["labeled-data/img01.png"] * 2)
    assert len(read_dlc_csv(src).frames) == 1 and "repeat an image with the same labels" in caplog.text


def test_val_every_is_checked(tmp_path, capsys):
    for i in range(4):
        _png(tmp_path / f"proj/labeled-data/img{i}.png")
    src = _csv(tmp_path / "proj/CollectedData.csv", [f"labeled-data/img{i}.png" for i in range(4)])
    assert main(["data", "import", str(src), "--format", "dlc", "--out", str(tmp_path / "o"), "--val-every", "-3"]) == 2
    assert "--val-every -3: expected a whole number ≥ 0" in capsys.readouterr().err
    assert main(["data", "import", str(src), "--format", "dlc", "--out", str(tmp_path / "o"), "--val-every", "0"]) == 0
    assert "--val-every 0: nothing held out" in capsys.readouterr().out
    assert split_project(tmp_path / "o/annotations.json", 2)[3] == 2
    assert os.path.isfile(tmp_path / "o/config.yaml")


def test_multi_animal_deeplabcut_imports_one_instance_per_individual(tmp_path, caplog):
    """A maDLC CollectedData file in the real layout (newer DeepLabCut: the image path split over
    three columns; four header rows; two mice and the arena's unique body parts under 'single'):
    one instance per individual, the unique body parts left out and said, empty cells unlabelled."""
    import json

    for name in ("img001.png", "img002.png"):
        _png(tmp_path / f"proj/labeled-data/video1/{name}")
    head = ("scorer,,,me,me,me,me,me,me,me,me,me,me\n"
            "individuals,,,mouse1,mouse1,mouse1,mouse1,mouse2,mouse2,mouse2,mouse2,single,single\n"
            "bodyparts,,,snout,snout,tail,tail,snout,snout,tail,tail,corner,corner\n"
            "coords,,,x,y,x,y,x,y,x,y,x,y\n")
    rows = ("labeled-data,video1,img001.png,10,12,20,22,30,32,,,1,1\n"
            "labeled-data,video1,img002.png,11,13,21,23,31,33,41,43,1,1\n")
    (tmp_path / "proj/CollectedData_me.csv").write_text(head + rows)
    labels = read_dlc_csv(tmp_path / "proj/CollectedData_me.csv")
    assert labels.keypoints == ["snout", "tail"] and labels.individuals == ["mouse1", "mouse2"]
    assert "unique body part(s) of the 'single' individual (corner)" in caplog.text
    assert labels.frames[0][0] == "labeled-data/video1/img001.png" and labels.frames[0][1][1][0] == (30.0, 32.0)
    assert all(math.isnan(v) for v in labels.frames[0][1][1][1])  # mouse2's tail not labelled in frame 1
    assert main(["data", "import", str(tmp_path / "proj/CollectedData_me.csv"), "--format", "dlc", "--out", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out/annotations.json").read_text())
    assert len(doc["images"]) == 2 and len(doc["annotations"]) == 4
    assert doc["categories"][0]["keypoints"] == ["snout", "tail"]
    first = [a for a in doc["annotations"] if a["image_id"] == doc["images"][0]["id"]]
    assert sorted(a["num_keypoints"] for a in first) == [1, 2] and sorted(a["individual"] for a in first) == ["mouse1", "mouse2"]
    # the one-keypoint mouse: a box of at least half the others' (not a 4-px zoom), around its snout
    one, two = sorted(first, key=lambda a: a["num_keypoints"])
    assert one["bbox"][2] >= two["bbox"][2] / 2 - 1e-6 and one["bbox"][3] >= two["bbox"][3] / 2 - 1e-6
    assert abs(one["bbox"][0] + one["bbox"][2] / 2 - 30) < 1e-6 and abs(one["bbox"][1] + one["bbox"][3] / 2 - 32) < 1e-6
    assert (tmp_path / "out/finder.yaml").is_file()  # several animals a frame: their instance finder's config
