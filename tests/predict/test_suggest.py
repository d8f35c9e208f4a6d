"""`semipose suggest` on the shared project's video: two networks' disagreement (or one network
against its mirrored frame), confidence and jumps; N frames that are not neighbours, written
as images, a score table, a DeepLabCut labeled-data folder the importer reads back, a Label
Studio task list and a contact sheet."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import make_model_file
from semipose.cli import main
from semipose.predict.suggest import FrameScore, choose

NAMES = ["paw1LH_top", "paw2LF_top", "paw3RF_top", "paw4RH_top", "tailBase_top", "tailMid_top", "nose_top", "obs_top",
         "paw1LH_bot", "paw2LF_bot", "paw3RF_bot", "paw4RH_bot", "tailBase_bot", "tailMid_bot", "nose_bot", "obs_bot", "extra"]


def test_choose_takes_the_best_that_are_not_neighbours():
    frames = [FrameScore(f"v#{i}", "v.mp4", i, d, 0.5) for i, d in enumerate([1, 9, 8, 1, 1, 7, 1, 1, 1, 1])]
    chosen = choose(frames, 3, min_gap=3)
    assert [f.index for f in chosen] == [1, 5, 8]  # scores 10, 9, 8, 2 …: frame 2 is frame 1's neighbour
    assert all(abs(a.index - b.index) >= 3 for a in chosen for b in chosen if a is not b)
    assert frames[1].score > frames[0].score and sum(f.chosen for f in frames) == 3


@pytest.mark.parametrize("nets", [2, 1])
def test_suggest_on_the_shared_video(sample_data, tmp_path, capsys, nets):
    model = make_model_file(tmp_path / "m.pt", num_nets=nets, input_size=(64, 64),
                            skeleton={"name": "mouse", "keypoints": NAMES, "sigmas": [0.05] * 17})
    video = sample_data / "mirror-mouse/videos/test_vid.mp4"
    out = tmp_path / "s"
    assert main(["suggest", str(model), str(video), "--n", "4", "--stride", "100", "--min-gap", "150", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "10 frames scored by" in printed and ("two networks' disagreement" if nets == 2 else "mirrored frame") in printed
    rows = list(csv.DictReader(open(out / "scores.csv")))
    assert len(rows) == 10 and sum(int(r["chosen"]) for r in rows) == 4
    chosen = sorted(int(r["frame"]) for r in rows if r["chosen"] == "1")
    assert all(b - a >= 150 for a, b in zip(chosen, chosen[1:]))
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(float(r["disagreement_px"]) >= 0 for r in rows)
    assert len(list((out / "frames").glob("*.png"))) == 4 and (out / "contact_sheet.jpg").stat().st_size > 1000
    tasks = json.loads((out / "label_studio_tasks.json").read_text())
    assert len(tasks) == 4 and all((out / t["data"]["img"]).is_file() for t in tasks)
    # the DeepLabCut folder goes back in through the importer: 4 frames to label, none labelled yet
    assert main(["data", "import", str(out / "labeled-data/suggested/CollectedData_semipose.csv"), "--format", "dlc",
                 "--out", str(tmp_path / "back")]) == 0
    assert "4 images, 4 instances (0 with labels), 17 keypoints" in capsys.readouterr().out
    doc = json.loads((tmp_path / "back/annotations.json").read_text())
    assert all(a["num_keypoints"] == 0 for a in doc["annotations"])
    np.testing.assert_array_equal(sorted(int(im["file_name"].rsplit("_", 1)[1][:6]) for im in doc["images"]), chosen)
