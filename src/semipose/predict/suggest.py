"""``semipose suggest``: which unlabelled frames to label next, ranked by the model's own
uncertainty, spread so that the chosen frames are not neighbours.

Per frame (one person per frame, a whole-frame box: a single-instance project):

* **disagreement** (px): the mean distance between the keypoints of the two networks of a
  two-network model (PoseDual, SSPCM: networks 1 and 2), or, for one network, between its
  prediction and its prediction on the mirrored frame mapped back;
* **confidence**: the mean heatmap peak (low = unsure);
* **jump** (px, videos): the mean distance the keypoints move from the previous sampled frame.

The score is the sum of the three, each divided by its median over the frames (so none
dominates by its units): ``disagreement / med + (1 − confidence) / med + jump / med``. Frames
are then taken best first, skipping any within ``min_gap`` frames of one already taken from the
same video. Written to ``OUT``: ``frames/`` (the chosen frames as PNG), ``scores.csv`` (every
frame's numbers and whether it was chosen), ``labeled-data/suggested/`` with an empty
``CollectedData_semipose.csv`` (the DeepLabCut layout ``semipose data import --format dlc``
reads back), ``label_studio_tasks.json`` (a Label Studio task list) and ``contact_sheet.jpg``
(the chosen frames with both predictions drawn).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import SourceError
from ..image import read_image
from ..video import count_frames, frame_ref, parse_frame_ref
from ..visualize import draw_pose, make_image_grid
from .estimator import PoseEstimator, PoseResult
from .sources import Source

__all__ = ["FrameScore", "SuggestResult", "frame_refs", "score_frames", "choose", "suggest"]


@dataclass
class FrameScore:
    """One frame's numbers (see the module docstring)."""

    ref: str
    source: str
    index: int
    disagreement: float
    confidence: float
    jump: float = 0.0
    score: float = 0.0
    chosen: bool = False
    kp_a: np.ndarray | None = field(default=None, repr=False)
    kp_b: np.ndarray | None = field(default=None, repr=False)


@dataclass
class SuggestResult:
    out_dir: Path
    frames: list[FrameScore]
    chosen: list[FrameScore]
    how: str


def frame_refs(sources: Sequence[Source], stride: int) -> list[tuple[str, str, int]]:
    """``(reference, source name, frame index)`` of every image, and of every ``stride``-th
    frame of every video (``video.mp4#i`` references, :func:`semipose.image.read_image`)."""
    out: list[tuple[str, str, int]] = []
    for s in sources:
        if s.kind == "image":
            out.append((s.path, s.rel, 0))
        elif s.kind == "video":
            n = count_frames(s.path, error=SourceError)
            out += [(frame_ref(s.path, i), s.rel, i) for i in range(0, n, stride)]
    return out


def _mirror_back(kp: np.ndarray, width: int, flip_index: np.ndarray) -> np.ndarray:
    """Keypoints predicted on a mirrored frame, in the frame's own coordinates and order."""
    out = kp[flip_index].copy()
    out[:, 0] = width - 1 - out[:, 0]
    return out


def _one(est: PoseEstimator, image: np.ndarray) -> PoseResult:
    """The one person of ``image`` (a whole-frame box)."""
    res = est(image)
    assert isinstance(res, PoseResult)
    return res


def score_frames(est_a: PoseEstimator, est_b: PoseEstimator | None, refs: Sequence[tuple[str, str, int]], *,
                 progress: bool = True) -> list[FrameScore]:
    """Predict every frame with ``est_a`` and (two networks) ``est_b``, or with ``est_a`` on the
    mirrored frame; the disagreement, confidence and jump of each."""
    from tqdm.auto import tqdm

    flip = est_a.skeleton.flip_index
    out: list[FrameScore] = []
    prev: dict[str, np.ndarray] = {}
    for ref, src, idx in tqdm(refs, desc="suggest", unit="frame", disable=not progress, dynamic_ncols=True):
        img = read_image(ref)
        ra = _one(est_a, img)
        if est_b is not None:
            rb = _one(est_b, img)
            kb = rb.keypoints[0]
        else:
            rb = _one(est_a, np.ascontiguousarray(img[:, ::-1]))
            kb = _mirror_back(rb.keypoints[0], img.shape[1], flip)
        ka = ra.keypoints[0]
        fs = FrameScore(ref, src, idx, float(np.linalg.norm(ka - kb, axis=1).mean()),
                        float((ra.scores[0].mean() + rb.scores[0].mean()) / 2), kp_a=ka, kp_b=kb)
        mean = (ka + kb) / 2
        if src in prev and parse_frame_ref(ref) is not None:
            fs.jump = float(np.linalg.norm(mean - prev[src], axis=1).mean())
        prev[src] = mean
        out.append(fs)
    return out


def choose(frames: list[FrameScore], n: int, min_gap: int) -> list[FrameScore]:
    """Score every frame (see the module docstring) and take ``n`` best first, none within
    ``min_gap`` frames of another from the same source."""
    def med(v: np.ndarray) -> float:
        m = float(np.median(v))
        return m if m > 1e-9 else 1.0

    d = np.array([f.disagreement for f in frames])
    c = 1.0 - np.array([f.confidence for f in frames])
    j = np.array([f.jump for f in frames])
    score = d / med(d) + c / med(c) + (j / med(j) if j.any() else 0.0)
    for f, s in zip(frames, score):
        f.score = float(s)
    chosen: list[FrameScore] = []
    for i in np.argsort(-score, kind="stable"):
        f = frames[int(i)]
        if any(g.source == f.source and abs(g.index - f.index) < min_gap for g in chosen):
            continue
        f.chosen = True
        chosen.append(f)
        if len(chosen) == n:
            break
    return chosen


def _name(f: FrameScore) -> str:
    return f"{Path(f.source).with_suffix('').as_posix().replace('/', '_')}_{f.index:06d}.png"


def suggest(est_a: PoseEstimator, est_b: PoseEstimator | None, sources: Sequence[Source], out_dir: str | Path, *, n: int = 10,
            stride: int = 1, min_gap: int = 10, progress: bool = True) -> SuggestResult:
    """Rank the frames of ``sources`` and write the ``n`` chosen ones (see the module docstring)."""
    out = Path(out_dir)
    refs = frame_refs(sources, stride)
    frames = score_frames(est_a, est_b, refs, progress=progress)
    chosen = choose(frames, n, min_gap)
    names = list(est_a.skeleton.keypoints)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    lab = out / "labeled-data" / "suggested"
    lab.mkdir(parents=True, exist_ok=True)
    pics = []
    for f in chosen:
        img = read_image(f.ref)
        cv2.imwrite(str(out / "frames" / _name(f)), img)
        cv2.imwrite(str(lab / _name(f)), img)
        assert f.kp_a is not None and f.kp_b is not None
        pic = draw_pose(img, f.kp_a, est_a.skeleton, color_by_side=False)  # network 1 (or the frame): one colour
        pic = draw_pose(pic, f.kp_b, est_a.skeleton, color_by_side=True)  # network 2 (or the mirrored frame): by side
        caption = f"{f.source} #{f.index}  {f.disagreement:.0f}px"
        scale = max(0.4, pic.shape[1] / 800)
        for color, width in (((0, 0, 0), 4), ((255, 255, 255), 1)):
            cv2.putText(pic, caption, (6, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, color, width, cv2.LINE_AA)
        pics.append(pic)
    if pics:
        cv2.imwrite(str(out / "contact_sheet.jpg"), make_image_grid(pics, ncols=min(5, len(pics))), [cv2.IMWRITE_JPEG_QUALITY, 90])
    with open(out / "scores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "frame", "disagreement_px", "confidence", "jump_px", "score", "chosen", "file"])
        for f in sorted(frames, key=lambda f: -f.score):
            w.writerow([f.source, f.index, f"{f.disagreement:.3f}", f"{f.confidence:.4f}", f"{f.jump:.3f}", f"{f.score:.4f}",
                        int(f.chosen), _name(f) if f.chosen else ""])
    with open(lab / "CollectedData_semipose.csv", "w", newline="") as fh:  # the DeepLabCut layout, cells empty: to be labelled
        w = csv.writer(fh)
        w.writerow(["scorer", *["semipose"] * (2 * len(names))])
        w.writerow(["bodyparts", *[k for k in names for _ in range(2)]])
        w.writerow(["coords", *["x", "y"] * len(names)])
        for f in chosen:
            w.writerow([f"labeled-data/suggested/{_name(f)}", *[""] * (2 * len(names))])
    tasks = [{"id": i + 1, "data": {"img": f"frames/{_name(f)}"}, "meta": {"source": f.source, "frame": f.index, "score": round(f.score, 4)}}
             for i, f in enumerate(chosen)]
    (out / "label_studio_tasks.json").write_text(json.dumps(tasks, indent=1))
    how = "two networks' disagreement" if est_b is not None else "disagreement with the mirrored frame"
    return SuggestResult(out, frames, chosen, how)
