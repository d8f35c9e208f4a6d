"""``semipose predict``: inputs → person boxes → batched poses → results JSON, drawings, videos.

Outputs in the output folder:

* ``predictions.json`` — COCO keypoint results (``image_id``, ``category_id``, ``keypoints``
  as 3K numbers, ``score``, the person ``bbox``; plus ``box_score`` / ``center`` / ``scale``), rescored and
  OKS-NMS-filtered as ``semipose eval`` does, so ``semipose eval --results`` scores it exactly
  as evaluating the checkpoint would;
* ``image_info.json`` — a COCO ``images`` list (id, file name, size) and the keypoint category
  of the predicted ids (frames of a video are ``<video>#<frame>``, 0-based: :func:`semipose.video.frame_ref`);
* ``<video>.csv`` — per video, each frame's keypoints in the DeepLabCut / lightning-pose table
  layout (``x``, ``y``, ``likelihood``), what a tracker or a plotting script reads;
* ``vis/<image>`` — the drawn poses (``--no-draw`` to skip), at the image's path relative to
  its input root and in its own format (``vis/val/vidA/000000.jpg``, ``vis/photo.webp``), and
  for each video ``<video>_pose.mp4`` with every frame drawn.

Images and frames are keyed by their path relative to the input root (the folder or glob
they were found under), never by base name alone. Unreadable images, images the box file does
not tell apart, and images whose drawing fails are reported one line each; the others are
still predicted, drawn and written, and the summary counts the failures.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from ..data.records import PoseRecord
from ..errors import ImageReadError, SourceError
from ..evaluation.coco import build_coco_results, write_results_json
from ..geometry import affine_matrix
from ..image import read_image
from ..skeletons import Skeleton
from ..video import frame_count_estimate, frame_ref, legacy_frame_ref
from ..visualize.draw import draw_results
from .boxes import BoxSource, ImageBoxes
from .estimator import PoseEstimator
from .sources import Source, open_video, read_frames
from .tracking import Tracker

#: the drawing of results on an image lives in :mod:`semipose.visualize` (this name is kept for 0.4 callers)
draw_prediction = draw_results

__all__ = ["PredictSummary", "run_predict", "draw_prediction", "image_info", "coco_results", "write_pose_csv", "assign_tracks",
           "draw_track_ids", "TRACK_GAP"]

#: frames a video's track may go unseen before it ends (``semipose predict --track-gap``)
TRACK_GAP = 10

log = logging.getLogger("semipose")


@dataclass
class PredictSummary:
    """What a predict run did."""

    out_dir: Path
    images: int = 0
    frames: int = 0
    persons: int = 0
    failed: list[str] = field(default_factory=list)
    no_boxes: list[str] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    results_file: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class _Item:
    """One image (or frame) waiting for its forward pass; ``file_name`` is its output key."""

    name: str
    file_name: str
    image: np.ndarray
    boxes: ImageBoxes
    image_id: int = 0
    frame: int = 0  #: a video frame's index (0-based)


def assign_tracks(tracker: Tracker, frame: int, results: list[dict[str, Any]], k: int, kpt_thr: float) -> None:
    """Give each of a frame's results its ``track_id`` (:class:`~semipose.predict.tracking.Tracker`
    on the keypoints whose confidence reaches ``kpt_thr``; all of them where none does)."""
    if not results:
        tracker.update(frame, np.zeros((0, k, 2)))
        return
    kp = np.stack([np.asarray(r["keypoints"], np.float64).reshape(k, 3) for r in results])
    xy = kp[..., :2].copy()
    sure = kp[..., 2] >= kpt_thr
    xy[~sure & sure.any(axis=1, keepdims=True)] = np.nan
    for r, tid in zip(results, tracker.update(frame, xy)):
        r["track_id"] = int(tid)


def draw_track_ids(pic: np.ndarray, results: list[dict[str, Any]]) -> None:
    """Write each result's track id (``#3``) at the top left of its box on ``pic`` (in place)."""
    for r in results:
        if "track_id" not in r or "bbox" not in r:
            continue
        x, y = int(r["bbox"][0]), int(r["bbox"][1])
        cv2.putText(pic, f"#{r['track_id'] + 1}", (x, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(pic, f"#{r['track_id'] + 1}", (x, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


class _Keys:
    """Unique output keys: a source's path relative to its root; on a clash (two folders
    holding ``x.jpg``) the root's folder name goes in front, then a counter."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, src: Source) -> str:
        key = src.rel
        if key in self.used and src.root:
            key = f"{Path(os.path.abspath(src.root)).name}/{key}"
        base, n = key, 2
        while key in self.used:
            stem, dot, ext = base.rpartition(".")
            key = f"{stem}-{n}.{ext}" if dot else f"{base}-{n}"
            n += 1
        self.used.add(key)
        return key


_WRITABLE = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _quality(path: Path) -> list[int]:
    """OpenCV's quality parameter for a drawing's format (none for lossless formats: OpenCV warns
    about a JPEG quality given to a PNG, BMP or TIFF writer)."""
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        return [cv2.IMWRITE_JPEG_QUALITY, 92]
    if suffix == ".webp":
        return [cv2.IMWRITE_WEBP_QUALITY, 92]
    return []


def _drawing_path(vis: Path, key: str) -> Path:
    """Where the drawing of the image keyed ``key`` goes: ``vis/<key>``, as JPEG when its own
    format is not one OpenCV writes."""
    p = vis / key
    return p if p.suffix.lower() in _WRITABLE else p.with_name(p.name + ".jpg")


def _heat_overlay(shape: tuple[int, ...], heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray, hm_size: tuple[int, int]) -> np.ndarray:
    """The persons' per-pixel max heatmap warped back onto the image, ``(H, W)``."""
    out = np.zeros(shape[:2], np.float32)
    for hm, c, s in zip(heatmaps, centers, scales):
        mat = affine_matrix(c.astype(np.float64), s.astype(np.float64), 0.0, hm_size)  # image → heatmap
        back = cv2.warpAffine(np.clip(hm.max(0), 0, 1), mat, (shape[1], shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        np.maximum(out, back, out=out)
    return out


def coco_results(est: PoseEstimator, items: list[_Item], outs: list[tuple[np.ndarray, np.ndarray, Any]], *, nms: bool) -> list[list[dict[str, Any]]]:
    """Per item, its COCO results after rescoring and OKS-NMS (as ``semipose eval`` builds them)."""
    per_item: list[list[dict[str, Any]]] = []
    k = est.card.num_keypoints
    for it, (kp, conf, _) in zip(items, outs):
        b = it.boxes
        records = [
            PoseRecord(it.name, it.image_id, b.boxes[i], np.zeros((k, 3), np.float32), float(b.scores[i])) for i in range(len(b.centers))
        ]
        per_item.append(
            build_coco_results(records, kp, conf, centers=b.centers, scales=b.scales, sigmas=est.skeleton.sigmas, use_nms=nms)
            if records else []
        )
    return per_item


def image_info(images: list[dict[str, Any]], skeleton: Skeleton) -> dict[str, Any]:
    """A COCO ``image_info`` document for the predicted images."""
    return {
        "info": {"description": "images predicted by semipose predict"},
        "images": images,
        "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(skeleton.keypoints),
                        "skeleton": [[a + 1, b + 1] for a, b in skeleton.edges],
                        # the model's keypoint set, so that `semipose eval --results` scores with its sigmas
                        "flip_pairs": [list(p) for p in skeleton.flip_pairs], "sigmas": [float(s) for s in skeleton.sigmas]}],
    }


def run_predict(
    est: PoseEstimator,
    sources: list[Source],
    box_source: BoxSource,
    out_dir: str | Path,
    *,
    draw: bool = True,
    kpt_thr: float = 0.3,
    heatmaps: bool = False,
    nms: bool = True,
    max_frames: int | None = None,
    progress: bool = True,
    smooth: bool = False,
    track_gap: int = TRACK_GAP,
) -> PredictSummary:
    """Predict every source; write the results JSON, image info, drawings and drawn videos (a
    video's instances tracked through its frames, :class:`~semipose.predict.tracking.Tracker`, a
    track ending after ``track_gap`` frames unseen)."""
    if track_gap < 0:
        raise SourceError(f"--track-gap must be ≥ 0 frames, got {track_gap}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = PredictSummary(out)
    t0 = time.perf_counter()
    all_results: list[dict[str, Any]] = []
    images_info: list[dict[str, Any]] = []
    used_ids: set[int] = set()
    next_id = [1]
    images = [s for s in sources if s.kind == "image"]
    if images and box_source.file and not any(box_source.knows(s.path) for s in images):
        raise SourceError(
            f"{box_source.file}: lists none of the {len(images)} input image(s) by file name (e.g. {images[0].name!r}); "
            "is it the box file of other images?"
        )

    def assign(item: _Item) -> None:
        iid = item.boxes.image_id
        if iid is None or iid in used_ids:
            while next_id[0] in used_ids:
                next_id[0] += 1
            iid = next_id[0]
        used_ids.add(iid)
        item.image_id = iid
        images_info.append({"id": iid, "file_name": item.file_name, "width": int(item.image.shape[1]), "height": int(item.image.shape[0])})

    def fail(message: str) -> None:
        summary.failed.append(message)
        tqdm.write(f"semipose: error: {message}", file=sys.stderr)  # above the progress bar, not inside it

    def flush(batch: list[_Item], writer: Any = None, tracker: Tracker | None = None) -> list[list[dict[str, Any]]]:
        """Predict, write and draw ``batch``; its per-item results (``batch`` is emptied); with a
        ``tracker`` (a video's frames, in order) each result gets its ``track_id`` first."""
        if not batch:
            return []
        outs = est.predict_crops([b.image for b in batch], [b.boxes.centers for b in batch], [b.boxes.scales for b in batch],
                                 return_heatmaps=heatmaps)
        per_item = coco_results(est, batch, outs, nms=nms)
        for it, res, (_, _, hm) in zip(batch, per_item, outs):
            if tracker is not None:
                assign_tracks(tracker, it.frame, res, est.card.num_keypoints, kpt_thr)
            all_results.extend(res)
            summary.persons += len(res)
            if draw or writer is not None:
                try:
                    heat = (_heat_overlay(it.image.shape, hm, it.boxes.centers, it.boxes.scales, est.card.heatmap_size)  # type: ignore[arg-type]
                            if hm is not None and len(hm) else None)
                    pic = draw_prediction(it.image, res, est.skeleton, kpt_thr=kpt_thr, heat=heat)
                    if tracker is not None:
                        draw_track_ids(pic, res)
                    if writer is not None:
                        writer.write(pic)
                    else:
                        path = _drawing_path(out / "vis", it.file_name)
                        path.parent.mkdir(parents=True, exist_ok=True)
                        if not cv2.imwrite(str(path), pic, _quality(path)):
                            raise OSError(f"OpenCV could not write {path}")
                except (cv2.error, OSError, ValueError) as e:  # its predictions are kept; only the drawing is lost
                    fail(f"{it.name}: drawing failed ({str(e).strip().splitlines()[-1][:160]}); its predictions are in predictions.json")
        batch.clear()
        return per_item

    if draw:
        (out / "vis").mkdir(exist_ok=True)
    bar = tqdm(total=len(images) or None, desc="predict", unit="img", disable=not progress, dynamic_ncols=True)
    pending: list[_Item] = []
    n_pending = 0
    keys = _Keys()
    for src in sources:
        if src.kind != "image":
            continue
        try:
            img = read_image(src.path)
            boxes = box_source.lookup(src.path, (img.shape[1], img.shape[0]), img)
        except (ImageReadError, SourceError) as e:
            fail(str(e))
            bar.update(1)
            continue
        if boxes is None:
            summary.no_boxes.append(src.path)
            log.warning("%s: not listed in %s; skipped", src.path, box_source.file)
            bar.update(1)
            continue
        item = _Item(src.path, keys(src), img, boxes)
        assign(item)
        pending.append(item)
        n_pending += len(boxes.centers)
        summary.images += 1
        if n_pending >= est.batch_size:
            flush(pending)
            n_pending = 0
        bar.update(1)
    flush(pending)
    bar.close()

    for src in sources:
        if src.kind == "image":
            continue
        try:
            _video(est, src, keys(src), box_source, out, summary, assign, flush, max_frames, progress, smooth, track_gap)
        except SourceError as e:
            fail(str(e))

    summary.results_file = write_results_json(out / "predictions.json", all_results)
    (out / "image_info.json").write_text(json.dumps(image_info(images_info, est.skeleton)))
    summary.seconds = time.perf_counter() - t0
    return summary


def _smoothed_table(table: Path, per_frame: list[list[dict[str, Any]]], est: PoseEstimator) -> Path:
    """``<video>_smoothed.csv``: each track's trajectories through :func:`smooth_tracks`
    (likelihoods kept; a track is smoothed over the frames it spans)."""
    from .smooth import smooth_tracks

    k = len(est.skeleton.keypoints)
    tracks = sorted({int(r.get("track_id", 0)) for f in per_frame for r in f})
    out: list[list[dict[str, Any]]] = [[] for _ in per_frame]
    for tid in tracks:
        kp = np.full((len(per_frame), k, 3), np.nan)
        for t, f in enumerate(per_frame):
            mine = [r for r in f if int(r.get("track_id", 0)) == tid]
            if mine:
                kp[t] = np.asarray(mine[0]["keypoints"], np.float64).reshape(k, 3)
        seen = np.flatnonzero(np.isfinite(kp[..., 0]).any(axis=1))
        xy = np.full((len(per_frame), k, 2), np.nan)
        xy[seen[0] : seen[-1] + 1] = smooth_tracks(kp[seen[0] : seen[-1] + 1, :, :2], kp[seen[0] : seen[-1] + 1, :, 2])
        for f_idx in seen:
            out[f_idx].append({"keypoints": np.concatenate([xy[f_idx], kp[f_idx, :, 2:]], 1).reshape(-1).tolist(), "score": 1.0,
                               "track_id": tid})
    return write_pose_csv(table.with_name(table.stem + "_smoothed.csv"), out, est.skeleton.keypoints, scorer=f"semipose-{est.card.arch}-smoothed")


def _video(est: PoseEstimator, src: Source, key: str, box_source: BoxSource, out: Path, summary: PredictSummary, assign: Any, flush: Any,
           max_frames: int | None, progress: bool, smooth: bool = False, track_gap: int = TRACK_GAP) -> None:
    cap = open_video(src)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        total = frame_count_estimate(cap) if src.kind == "video" else None  # the bar's estimate: the video is decoded once
        if max_frames:
            total = min(total or max_frames, max_frames)
        frames: Iterator[np.ndarray] = read_frames(cap, max_frames if max_frames or src.kind != "camera" else 1000)
        first = next(frames, None)
        if first is None:
            raise SourceError(f"{src.path}: no frame could be decoded (empty or corrupt video)")
        h, w = first.shape[:2]
        path = out / f"{Path(key).with_suffix('')}_pose.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps if fps > 0 else 25.0, (w, h))
        if not writer.isOpened():
            path = path.with_suffix(".avi")
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps if fps > 0 else 25.0, (w, h))
        bar = tqdm(total=total, desc=src.name, unit="frame", disable=not progress, dynamic_ncols=True)
        pending: list[_Item] = []
        per_frame: list[list[dict[str, Any]]] = []
        n = 0
        tracker = Tracker(max_gap=track_gap)
        for i, frame in enumerate(_chain(first, frames)):
            ref = frame_ref(key, i)
            boxes = (box_source.lookup(ref, (w, h), frame) or box_source.lookup(legacy_frame_ref(key, i), (w, h), frame)
                     or box_source.lookup(src.path, (w, h), frame))
            if boxes is None:
                raise SourceError(f"{src.path}: videos take --whole-image boxes (or a Detector from Python)")
            item = _Item(ref, ref, frame, boxes, frame=i)
            assign(item)
            pending.append(item)
            n += len(boxes.centers)
            summary.frames += 1
            if n >= est.batch_size:
                per_frame += flush(pending, writer, tracker)
                n = 0
            bar.update(1)
        per_frame += flush(pending, writer, tracker)
        bar.close()
        writer.release()
        summary.videos.append(path)
        table = out / f"{Path(key).with_suffix('')}.csv"
        write_pose_csv(table, per_frame, est.skeleton.keypoints, scorer=f"semipose-{est.card.arch}")
        summary.tables.append(table)
        if smooth:
            summary.tables.append(_smoothed_table(table, per_frame, est))
    finally:
        cap.release()


def write_pose_csv(path: Path, frames: list[list[dict[str, Any]]], keypoints: tuple[str, ...] | list[str], *, scorer: str = "semipose") -> Path:
    """A video's predictions in the DeepLabCut / lightning-pose table layout
    (:func:`semipose.data.formats.dlc.write_dlc_table`): header rows ``scorer``, ``bodyparts``,
    ``coords`` (``x``, ``y``, ``likelihood`` per keypoint), then one row per frame (its 0-based
    index first). Tracked results (a ``track_id`` each) get one block per track (``track1`` …,
    the ``individuals`` row) when there are several; untracked results of several persons one block
    per rank (``person1`` …, by score). An instance missing from a frame leaves its cells empty."""
    from ..data.formats.dlc import write_dlc_table

    tracks = sorted({int(r["track_id"]) for f in frames for r in f if "track_id" in r})
    if tracks:
        col = {t: j for j, t in enumerate(tracks)}
        rows: list[tuple[int, list[Any]]] = []
        for i, res in enumerate(frames):
            per: list[Any] = [None] * len(tracks)
            for r in res:
                per[col[int(r["track_id"])]] = r["keypoints"]
            rows.append((i, per))
        names = [f"track{t + 1}" for t in tracks]
    else:
        n = max((len(f) for f in frames), default=1) or 1
        rows = [(i, [r["keypoints"] for r in sorted(res, key=lambda r: -r["score"])[:n]]) for i, res in enumerate(frames)]
        names = [f"person{p + 1}" for p in range(n)]
    return write_dlc_table(path, rows, keypoints, scorer=scorer, individuals=names if len(names) > 1 else None, likelihood=True)


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest
