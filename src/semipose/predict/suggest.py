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
are then taken best first, skipping any ``min_gap`` frames or closer to one already taken from
the same video. Written to ``OUT``: ``frames/`` (the chosen frames as PNG), ``scores.csv`` (every
frame's numbers and whether it was chosen), ``labeled-data/suggested/`` with an empty
``CollectedData_semipose.csv`` (the DeepLabCut layout ``semipose data import --format dlc``
reads back, :func:`semipose.data.formats.dlc.write_dlc_table`), ``label_studio_tasks.json`` (a
Label Studio task list, :func:`semipose.data.formats.label_studio.write_label_studio_tasks`)
and ``contact_sheet.jpg`` (the chosen frames with both predictions drawn). An ``OUT`` that
already holds a suggestion is refused unless ``overwrite`` (then its old frames are removed:
labels already made in them would be lost, so it is never silent).
"""

from __future__ import annotations

import csv
import logging
import os
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

__all__ = ["SUGGEST_MODES", "pose_embedding", "FrameScore", "SuggestResult", "frame_refs", "score_frames", "choose", "suggest",
           "suggest_from_file", "auto_stride", "video_frame_counts"]

log = logging.getLogger(__name__)


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
    stride: int = 1


def video_frame_counts(sources: Sequence[Source]) -> dict[str, int]:
    """The decoded frame count of every video among ``sources`` (each video decoded once)."""
    return {s.path: count_frames(s.path, error=SourceError) for s in sources if s.kind == "video"}


def frame_refs(sources: Sequence[Source], stride: int, counts: dict[str, int] | None = None) -> list[tuple[str, str, int]]:
    """``(reference, source name, frame index)`` of every image, and of every ``stride``-th
    frame of every video (``video.mp4#i`` references, :func:`semipose.image.read_image`);
    ``counts``: :func:`video_frame_counts`, when already known."""
    counts = video_frame_counts(sources) if counts is None else counts
    out: list[tuple[str, str, int]] = []
    for s in sources:
        if s.kind == "image":
            out.append((s.path, s.rel, 0))
        elif s.kind == "video":
            out += [(frame_ref(s.path, i), s.rel, i) for i in range(0, counts[s.path], stride)]
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


#: how ``suggest`` picks among the scored frames: ``uncertainty`` (the highest scores), ``diverse``
#: (k-means of the predicted poses into ``n`` clusters, the highest score of each), ``random``
#: (a seeded draw: the control of the suggest study)
SUGGEST_MODES: tuple[str, ...] = ("uncertainty", "diverse", "random")


def pose_embedding(frames: Sequence[FrameScore]) -> np.ndarray:
    """``(F, 2K)`` each frame's predicted pose (the mean of its two predictions), centred on its
    mean keypoint and divided by its RMS spread: what the pose looks like, not where or how big."""
    import torch

    from ..ssl.video_losses import PosePriorLoss

    kp = np.stack([(f.kp_a + f.kp_b) / 2 if f.kp_a is not None and f.kp_b is not None else np.zeros((1, 2))
                   for f in frames]).astype(np.float64)
    return PosePriorLoss.normalize(torch.from_numpy(kp)).numpy()  # the pose prior's normalisation


def choose(frames: list[FrameScore], n: int, min_gap: int, *, mode: str = "uncertainty", seed: int = 0) -> list[FrameScore]:
    """Score every frame (see the module docstring) and take ``n`` of them, none ``min_gap``
    frames or closer to another from the same source, by ``mode`` (:data:`SUGGEST_MODES`)."""
    if mode not in SUGGEST_MODES:
        raise SourceError(f"--mode: expected one of {', '.join(SUGGEST_MODES)}, got {mode!r}")

    def med(v: np.ndarray) -> float:
        m = float(np.median(v))
        return m if m > 1e-9 else 1.0

    d = np.array([f.disagreement for f in frames])
    c = 1.0 - np.array([f.confidence for f in frames])
    j = np.array([f.jump for f in frames])
    score = d / med(d) + c / med(c) + (j / med(j) if j.any() else 0.0)
    for f, s in zip(frames, score):
        f.score = float(s)
    if mode == "random":
        order = np.random.default_rng(seed).permutation(len(frames))
    elif mode == "diverse" and len(frames) > n:
        from scipy.cluster.vq import kmeans2

        x = pose_embedding(frames)
        _, labels = kmeans2((x - x.mean(0)) / (x.std(0) + 1e-6), n, seed=seed, minit="++")
        # each cluster's frames by score, then round robin over the clusters: the best of every
        # cluster first, then the second best of every cluster (where min_gap ruled one out)
        ranked = [sorted(np.flatnonzero(labels == c), key=lambda i: -score[i]) for c in range(n)]
        best = sorted(range(n), key=lambda c: -score[ranked[c][0]] if ranked[c] else 0.0)
        order = np.array([r[k] for k in range(max(len(r) for r in ranked)) for c in best if len(r := ranked[c]) > k], np.int64)
    else:
        order = np.argsort(-score, kind="stable")
    chosen: list[FrameScore] = []
    for i in order:
        f = frames[int(i)]
        if any(g.source == f.source and abs(g.index - f.index) <= min_gap for g in chosen):
            continue
        f.chosen = True
        chosen.append(f)
        if len(chosen) == n:
            break
    return chosen


def _name(f: FrameScore) -> str:
    return f"{Path(f.source).with_suffix('').as_posix().replace('/', '_')}_{f.index:06d}.png"


#: frames of one video scored at most, when no stride is given (each is predicted twice)
AUTO_FRAMES = 200


def auto_stride(sources: Sequence[Source], counts: dict[str, int] | None = None) -> int:
    """The stride that scores at most :data:`AUTO_FRAMES` frames of the longest video (1 for images);
    ``counts``: :func:`video_frame_counts`, when already known."""
    counts = video_frame_counts(sources) if counts is None else counts
    return max(1, -(-max(counts.values(), default=0) // AUTO_FRAMES))


def _claim(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that holds an earlier suggestion, or (``overwrite``) remove the frames it wrote."""
    old = out / "scores.csv"
    if not old.is_file():
        return
    if not overwrite:
        raise SourceError(f"{out}: already holds a suggestion (scores.csv, frames/); give another --out, or --overwrite to replace it "
                          "(its frames are removed: labels made in labeled-data/suggested/ would be lost)")
    with open(old, newline="") as fh:
        names = [r.get("file", "") for r in csv.DictReader(fh)]
    for name in filter(None, names):
        for folder in (out / "frames", out / "labeled-data" / "suggested"):
            (folder / Path(name).name).unlink(missing_ok=True)
    for stale in (old, out / "contact_sheet.jpg", out / "label_studio_tasks.json", out / "labeled-data/suggested/CollectedData_semipose.csv"):
        stale.unlink(missing_ok=True)


def suggest(est_a: PoseEstimator, est_b: PoseEstimator | None, sources: Sequence[Source], out_dir: str | Path, *, n: int = 10,
            stride: int = 0, min_gap: int = 10, progress: bool = True, overwrite: bool = False, mode: str = "uncertainty",
            seed: int = 0) -> SuggestResult:
    """Rank the frames of ``sources`` and write the ``n`` chosen ones (see the module docstring).

    Args:
        stride: videos: score every this-many-th frame (0: :func:`auto_stride`).
        min_gap: chosen frames of one video are more than this many frames apart.
        overwrite: replace an earlier suggestion in ``out_dir``.
        mode, seed: how the frames are picked (:func:`choose`).

    Raises:
        SourceError: a video cannot be opened or has no frame, nothing to score, or ``out_dir``
            holds an earlier suggestion (without ``overwrite``).
    """
    if mode not in SUGGEST_MODES:
        raise SourceError(f"--mode: expected one of {', '.join(SUGGEST_MODES)}, got {mode!r}")
    if n < 1 or stride < 0 or min_gap < 0:
        raise SourceError(f"--n must be ≥ 1, --stride ≥ 0 and --min-gap ≥ 0, got {n}, {stride}, {min_gap}")
    out = Path(out_dir)
    counts = video_frame_counts(sources)  # each video decoded once to count its frames
    stride = stride or auto_stride(sources, counts)
    refs = frame_refs(sources, stride, counts)
    if not refs:
        raise SourceError(f"{', '.join(s.path for s in sources)}: no frame could be decoded (empty or corrupt video): nothing to score")
    _claim(out, overwrite)
    videos = sum(s.kind == "video" for s in sources)
    log.info("suggest: %d frames to score (%s), %s", len(refs), f"every {stride}th frame of {videos} video(s)" if videos else "images",
             "two networks each" if est_b is not None else "each also mirrored")
    frames = score_frames(est_a, est_b, refs, progress=progress)
    chosen = choose(frames, n, min_gap, mode=mode, seed=seed)
    _write(out, frames, chosen, est_a)
    how = "two networks' disagreement" if est_b is not None else "disagreement with the mirrored frame"
    how = {"uncertainty": how, "diverse": f"{how}, the best of each of {n} pose clusters",
           "random": f"a random draw (seed {seed}); scored by {how}"}[mode]
    return SuggestResult(out, frames, chosen, how, stride)


def _write(out: Path, frames: list[FrameScore], chosen: list[FrameScore], est_a: PoseEstimator) -> None:
    """The chosen frames, the score table, the DeepLabCut folder, the Label Studio tasks and the contact sheet."""
    from ..data.formats.dlc import write_dlc_table
    from ..data.formats.label_studio import write_label_studio_tasks

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
    # the DeepLabCut layout, cells empty: to be labelled
    write_dlc_table(lab / "CollectedData_semipose.csv", [(f"labeled-data/suggested/{_name(f)}", [None]) for f in chosen],
                    est_a.skeleton.keypoints)
    write_label_studio_tasks(out / "label_studio_tasks.json",
                             [(f"frames/{_name(f)}", {"source": f.source, "frame": f.index, "score": round(f.score, 4)}) for f in chosen])


def suggest_from_file(model: str | os.PathLike[str], sources: Sequence[str], out_dir: str | Path, *, n: int = 10, stride: int = 0,
                      min_gap: int = 10, device: str = "auto", trust: bool = False, progress: bool = True,
                      overwrite: bool = False, mode: str = "uncertainty", seed: int = 0) -> SuggestResult:
    """:func:`suggest` for a model file (read once; a two-network model scores with both networks)
    and command-line sources (videos, images, folders, globs; no cameras)."""
    from ..models.modelfile import POSE_KINDS, read_model
    from .sources import expand_sources

    srcs = expand_sources(sources)
    if any(s.kind == "camera" for s in srcs):
        raise SourceError("semipose suggest reads videos and images, not cameras")
    mf = read_model(model, trust=trust, kinds=(*POSE_KINDS, "onnx"))  # read once for both networks
    est_a = PoseEstimator.from_file(mf, device=device, net=1, flip_test=False)
    est_b = PoseEstimator.from_file(mf, device=device, net=2, flip_test=False) if "net2" in est_a.card.choices else None
    return suggest(est_a, est_b, srcs, out_dir, n=n, stride=stride, min_gap=min_gap, progress=progress, overwrite=overwrite,
                   mode=mode, seed=seed)
