"""Temporal smoothing of keypoint trajectories (Kalman + RTS, confidence-weighted) and
`semipose predict --smooth` on a video."""

from __future__ import annotations

import csv

import cv2
import numpy as np

from semipose.cli import main
from semipose.predict.smooth import smooth_tracks


def test_smoothing_removes_noise_and_trusts_confident_points():
    rng = np.random.default_rng(0)
    t = np.arange(300)
    truth = np.stack([100 + 40 * np.sin(t / 25.0), 80 + 0.3 * t], -1)[:, None, :].repeat(3, axis=1)  # (T, K=3, 2)
    noisy = truth + rng.normal(0, 4.0, truth.shape)
    conf = np.full(truth.shape[:2], 0.9)
    noisy[::37, 1] += 60.0  # outliers the network was unsure of
    conf[::37, 1] = 0.05
    noisy[100:110, 2] = np.nan  # a keypoint lost for ten frames
    out = smooth_tracks(noisy, conf)
    err = lambda a: np.sqrt(np.nanmean((a - truth) ** 2))  # noqa: E731
    assert err(out) < 0.6 * err(noisy) and np.isfinite(out).all()
    assert np.abs(out[100:110, 2] - truth[100:110, 2]).max() < 8.0  # the gap is bridged
    assert np.isnan(smooth_tracks(np.full((5, 1, 2), np.nan))).all()  # never seen: stays missing


def test_predict_smooth_writes_a_second_table(model_file, sample_data, tmp_path, capsys):
    frames = [cv2.resize(cv2.imread(str(p)), (320, 240)) for p in sorted((sample_data / "coco/images").glob("*.jpg"))]
    w = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    for f in frames * 2:
        w.write(f)
    w.release()
    assert main(["predict", str(model_file), str(tmp_path / "clip.mp4"), "--smooth", "--no-draw", "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "clip_smoothed.csv" in out
    raw = list(csv.reader(open(tmp_path / "o/clip.csv")))
    smooth = list(csv.reader(open(tmp_path / "o/clip_smoothed.csv")))
    assert len(raw) == len(smooth) == 3 + 8 and smooth[2] == raw[2]
    assert smooth[3][3::3] == raw[3][3::3]  # the likelihoods are kept
    assert all(np.isfinite(float(v)) for row in smooth[3:] for v in row[1:])
