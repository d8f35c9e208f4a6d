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
    assert [f.index for f in chosen] == [1, 5, 9]  # scores 10, 9, 8, 2 …: frame 2 is frame 1's neighbour, 8 is 3 from 5
    assert all(abs(a.index - b.index) > 3 for a in chosen for b in chosen if a is not b)
    assert frames[1].score > frames[0].score and sum(f.chosen for f in frames) == 3


def test_min_gap_holds_at_the_stride():
    """Every 10th frame scored and --min-gap 10: frames 710 and 720 are not both chosen (they were)."""
    frames = [FrameScore(f"v#{i}", "v.mp4", i, d, 0.5) for i, d in zip(range(700, 760, 10), [1, 9, 8, 1, 1, 1])]
    chosen = choose(frames, 3, min_gap=10)
    assert [f.index for f in chosen] == [710, 730, 750]


def test_the_diverse_mode_takes_one_frame_per_pose_cluster():
    """Frames of three kinds of pose (stretched, folded, turned), the most uncertain all of one
    kind: uncertainty takes three of that kind, diverse one of each (the best of each), random
    is a seeded draw."""
    rng = np.random.default_rng(0)
    base = {"stretched": np.array([[0, 0], [10, 0], [20, 0], [30, 0]], float), "folded": np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float),
            "turned": np.array([[0, 0], [0, 10], [0, 20], [0, 30]], float)}
    frames, kinds = [], []
    for i in range(60):
        kind = list(base)[i % 3]
        kp = base[kind] * rng.uniform(0.8, 1.2) + rng.normal(0, 0.3, (4, 2)) + rng.uniform(0, 300, 2)
        d = 9.0 + rng.random() if kind == "stretched" else 1.0 + rng.random()
        frames.append(FrameScore(f"v#{i * 20}", "v.mp4", i * 20, d, 0.5, kp_a=kp, kp_b=kp))
        kinds.append(kind)
    unc = choose([*frames], 3, min_gap=10)
    assert {kinds[frames.index(f)] for f in unc} == {"stretched"}
    for f in frames:
        f.chosen = False
    div = choose(frames, 3, min_gap=10, mode="diverse")
    assert sorted(kinds[frames.index(f)] for f in div) == ["folded", "stretched", "turned"]
    best_folded = max((f for f, k in zip(frames, kinds) if k == "folded"), key=lambda f: f.score)
    assert best_folded in div
    r1 = choose(frames, 3, min_gap=10, mode="random", seed=1)
    r2 = choose(frames, 3, min_gap=10, mode="random", seed=1)
    assert [f.index for f in r1] == [f.index for f in r2] and len(r1) == 3
    with pytest.raises(Exception, match="--mode"):
        choose(frames, 3, min_gap=10, mode="entropy")


@pytest.mark.parametrize("nets", [2, 1])
def test_suggest_on_the_shared_video(sample_data, tmp_path, capsys, nets):
    model = make_model_file(tmp_path / "m.pt", num_nets=nets, input_size=(64, 64),
                            skeleton={"name": "mouse", "keypoints": NAMES, "sigmas": [0.05] * 17})
    video = sample_data / "mirror-mouse/videos/test_vid.mp4"
    out = tmp_path / "s"
    assert main(["suggest", str(model), str(video), "--n", "4", "--stride", "100", "--min-gap", "150", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "10 frames scored (every 100th of each video) by" in printed
    assert ("two networks' disagreement" if nets == 2 else "mirrored frame") in printed
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
    if nets == 1:  # the diverse mode from the command line
        assert main(["suggest", str(model), str(video), "--n", "3", "--stride", "100", "--min-gap", "150", "--out", str(tmp_path / "d"),
                     "--mode", "diverse", "--no-progress"]) == 0
        assert "the best of each of 3 pose clusters" in capsys.readouterr().out
        assert sum(int(r["chosen"]) for r in csv.DictReader(open(tmp_path / "d/scores.csv"))) == 3


def _video(path, frames):
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(frames):
        w.write(np.full((48, 64, 3), 40 + 20 * i, np.uint8))
    w.release()
    return path


def test_suggest_bad_videos_one_frame_and_a_second_run(tmp_path, capsys):
    from semipose.errors import SourceError
    from semipose.predict.suggest import suggest_from_file

    model = make_model_file(tmp_path / "m.pt", input_size=(64, 64))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    empty = _video(tmp_path / "empty.mp4", 0)
    for bad in (corrupt, empty):
        with pytest.raises(SourceError, match=rf"{bad.name}: (cannot open the video|no such video file|no frame could be decoded)"):
            suggest_from_file(model, [str(bad)], tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()  # nothing claimed to be written
    one = _video(tmp_path / "one.mp4", 1)
    r = suggest_from_file(model, [str(one)], tmp_path / "o", n=3, progress=False)
    assert [f.index for f in r.frames] == [0] and len(r.chosen) == 1 and (tmp_path / "o/contact_sheet.jpg").is_file()
    # a second run into the same folder is refused (its frames may be being labelled), or replaces the first one whole
    with pytest.raises(SourceError, match="already holds a suggestion.*--overwrite"):
        suggest_from_file(model, [str(one)], tmp_path / "o", progress=False)
    five = _video(tmp_path / "five.mp4", 5)
    r = suggest_from_file(model, [str(five)], tmp_path / "o", n=2, min_gap=0, progress=False, overwrite=True)
    pngs = sorted(p.name for p in (tmp_path / "o/frames").glob("*.png"))
    assert len(pngs) == 2 and all(p.startswith("five_") for p in pngs)
    assert sorted(p.name for p in (tmp_path / "o/labeled-data/suggested").glob("*.png")) == pngs


def test_auto_stride_scores_at_most_200_frames(sample_data):
    from semipose.predict.sources import expand_sources
    from semipose.predict.suggest import AUTO_FRAMES, auto_stride, frame_refs

    srcs = expand_sources([str(sample_data / "mirror-mouse/videos/test_vid.mp4")])
    stride = auto_stride(srcs)
    n = len(frame_refs(srcs, stride))
    assert stride == 5 and AUTO_FRAMES // 2 < n <= AUTO_FRAMES  # 994 frames
