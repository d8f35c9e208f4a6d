"""The tracker keeps the identities of the real two-fly clip (labelled tracks "female" / "male",
the flies often touching) from the labelled poses, frame by frame; tracks end after a gap and
restart; crossing paths follow the motion; nothing crashes on empty frames."""

from __future__ import annotations

import numpy as np
import pytest

from semipose.evaluation.tracking import identity_switches, match_instances
from semipose.predict.tracking import Tracker, pose_distance


@pytest.fixture(scope="module")
def flies(sample_data):
    sio = pytest.importorskip("sleap_io")
    labels = sio.load_slp(str(sample_data / "sleap-flies/clip.slp"), open_videos=False)
    frames = sorted(labels.labeled_frames, key=lambda lf: lf.frame_idx)
    poses = [np.stack([inst.numpy() for inst in lf.instances]) for lf in frames]
    tracks = [[inst.track.name for inst in lf.instances] for lf in frames]
    return poses, tracks


def test_the_two_flies_keep_their_identities(flies):
    poses, tracks = flies
    rng = np.random.default_rng(0)
    tracker = Tracker(max_distance=60, max_gap=5)
    pred_poses, pred_ids = [], []
    for t, p in enumerate(poses):
        order = rng.permutation(len(p))  # the finder's order says nothing
        noisy = p[order] + rng.normal(0, 1.0, p[order].shape)
        pred_poses.append(noisy)
        pred_ids.append(tracker.update(t, noisy))
    score = identity_switches(pred_poses, pred_ids, poses, tracks)
    assert score.matched == 3000 and score.missed == 0
    assert score.switches < 10, score  # the goal on this clip
    assert len({i for ids in pred_ids for i in ids}) <= 2 + score.switches


def test_a_gap_ends_the_tracks_and_they_restart(flies):
    poses, _ = flies
    tracker = Tracker(max_gap=10)
    first = tracker.update(0, poses[0])
    for t in range(1, 101):  # nothing found for 100 frames
        assert tracker.update(t, np.zeros((0, 13, 2))) == []
    again = tracker.update(101, poses[101])
    assert len(tracker.ended) == 2 and set(again).isdisjoint(first)


def test_crossing_paths_follow_the_motion():
    """Two animals pass each other between frames 4 and 5 (each 10 px closer to where the other
    was than to where it was itself): with motion the tracker keeps them apart, without it swaps."""
    def pose(x, y):
        return np.array([[x, y], [x + 1, y]], float)

    for motion, keeps in ((1.0, True), (0.0, False)):
        tr = Tracker(motion=motion)
        ids = []
        for t in range(11):
            a, b = pose(10 * t + 5, 50), pose(95 - 10 * t, 50)
            ids.append(tr.update(t, np.stack([a, b])))
        assert (ids[-1] == ids[0]) == keeps, (motion, ids)


def test_distances_and_matching_skip_missing_keypoints():
    a = np.array([[[0, 0], [np.nan, np.nan]]], float)
    b = np.array([[[3, 4], [9, 9]], [[np.nan, np.nan], [0, 0]]], float)
    d = pose_distance(a, b)
    assert d[0, 0] == 5.0 and np.isinf(d[0, 1])
    assert match_instances(a, b) == [(0, 0)] and match_instances(a, b, max_distance=4) == []
    with pytest.raises(ValueError):
        Tracker(max_gap=-1)


def test_instances_are_matched_scored_and_counted(flies):
    """The two-fly labels against themselves shifted by 3 px, with one fly dropped in frame 0 and
    an extra one added in frame 1: matched errors, one missed, one extra, overlapping flies paired right."""
    from semipose.evaluation.tracking import score_instances

    poses, _ = flies
    gt = poses[:50]
    pred = [p + np.array([3.0, 0.0]) for p in gt]
    pred[0] = pred[0][:1]
    pred[1] = np.concatenate([pred[1], pred[1][:1] + 400.0])
    s = score_instances(pred, gt)
    assert s.missed == 1 and s.extra == 1 and s.frames == 50 and s.frames_found == 49
    summary = s.summary()
    assert summary["matched"] == 99 and abs(summary["median_px"] - 3.0) < 1e-6 and summary["pck5_px"] == 1.0
    assert score_instances([np.zeros((0, 13, 2))], [gt[0]]).missed == 2


def test_predict_tracks_the_two_flies_through_the_clip(sample_data, tmp_path, capsys):
    """`semipose predict` on the real two-fly clip with a box per fly per frame (from the labels):
    each instance gets a track id, the per-frame CSV has one block per track, --smooth smooths each
    track, and the drawn video is written."""
    import csv
    import json

    from conftest import make_model_file
    from semipose.cli import main

    pytest.importorskip("sleap_io")
    assert main(["data", "import", str(sample_data / "sleap-flies/clip.slp"), "--format", "sleap", "--out", str(tmp_path / "fl")]) == 0
    doc = json.loads((tmp_path / "fl/annotations.json").read_text())
    names = doc["categories"][0]["keypoints"]
    files = {im["id"]: im["file_name"] for im in doc["images"]}
    boxes: dict[str, list] = {}
    for a in doc["annotations"]:
        boxes.setdefault(files[a["image_id"]], []).append(a["bbox"])
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    model = make_model_file(tmp_path / "m.pt", input_size=(64, 64), skeleton={"name": "fly", "keypoints": names, "sigmas": [0.05] * 13})
    capsys.readouterr()
    assert main(["predict", str(model), str(sample_data / "sleap-flies/clip.mp4"), "--boxes", str(tmp_path / "boxes.json"),
                 "--max-frames", "40", "--smooth", "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    rows = list(csv.reader(open(tmp_path / "o/clip.csv")))
    assert rows[1][0] == "individuals" and rows[1][1].startswith("track") and len(rows) == 4 + 40
    tracks = sorted(set(rows[1][1:]))
    assert len(tracks) >= 2 and len(rows[0]) == 1 + 3 * 13 * len(tracks)
    filled = [sum(1 for j in range(len(tracks)) if row[1 + 39 * j] != "") for row in rows[4:]]
    assert all(n == 2 for n in filled)  # two flies in every frame, each in its own track's block
    smooth = list(csv.reader(open(tmp_path / "o/clip_smoothed.csv")))
    assert smooth[1] == rows[1] and len(smooth) == len(rows)
    assert any(p.name.startswith("clip_pose") for p in (tmp_path / "o").iterdir())
    assert main(["predict", str(model), str(sample_data / "sleap-flies/clip.mp4"), "--whole-image", "--track-gap", "-1",
                 "--out", str(tmp_path / "o2"), "--no-progress"]) == 2
    assert "--track-gap must be ≥ 0" in capsys.readouterr().err


def test_a_finder_that_finds_nothing_for_100_frames(sample_data, tmp_path):
    """Predict on the real clip with a detector that finds both flies, then nothing for 100 frames,
    then both again: the gap's frames have no instance, the tracks end and new ones start after it,
    nothing fails."""
    import json

    from conftest import make_model_file
    from semipose.predict.boxes import DetectorBoxes
    from semipose.predict.estimator import PoseEstimator
    from semipose.predict.run import run_predict
    from semipose.predict.sources import expand_sources

    pytest.importorskip("sleap_io")
    import sleap_io as sio

    labels = sio.load_slp(str(sample_data / "sleap-flies/clip.slp"), open_videos=False)
    boxes = []
    for lf in sorted(labels.labeled_frames, key=lambda f: f.frame_idx)[:120]:
        pts = [inst.numpy() for inst in lf.instances]
        boxes.append(np.array([[*np.nanmin(p, 0) - 10, *(np.nanmax(p, 0) - np.nanmin(p, 0) + 20)] for p in pts], np.float32))
    calls = [0]

    def finder(image):
        i = calls[0]
        calls[0] += 1
        if 10 <= i < 110:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return boxes[i], np.ones(len(boxes[i]), np.float32)

    model = make_model_file(tmp_path / "m.pt", input_size=(64, 64), skeleton={"name": "fly", "keypoints": [f"k{i}" for i in range(13)],
                                                                              "sigmas": [0.05] * 13})
    est = PoseEstimator.from_file(model)
    s = run_predict(est, expand_sources([str(sample_data / "sleap-flies/clip.mp4")]), DetectorBoxes(finder, aspect=1.0, padding=1.25),
                    tmp_path / "o", draw=False, max_frames=120, progress=False, track_gap=10)
    assert s.frames == 120 and not s.failed
    res = json.loads((tmp_path / "o/predictions.json").read_text())
    info = {im["id"]: int(im["file_name"].split("#")[1]) for im in json.loads((tmp_path / "o/image_info.json").read_text())["images"]}
    frames = {}
    for r in res:
        frames.setdefault(info[r["image_id"]], []).append(r["track_id"])
    assert not any(10 <= f < 110 for f in frames)  # nothing found: no instance
    before, after = set(frames[9]), set(frames[110])
    assert len(before) == 2 and len(after) == 2 and not before & after  # the tracks ended; two new ones started
