"""Videos as the unlabelled set: their frames become records whose image is ``video#index``
(decoded by :func:`semipose.image.read_image` in the loader workers, nothing written to disk),
each with a whole-frame box (a single-instance project), or one per person a detector finds in
the frame (``data.unlabeled.detector``: a multi-person project).

The frames are every ``frame_stride``-th, or a diverse subset: k-means on small grey
thumbnails of those frames, keeping the frame nearest each centre (as labelling tools pick
frames to label).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..detect.base import Detector, as_detections
from ..errors import DataFormatError
from ..video import VIDEO_EXTS, frame_ref, iter_frames, open_video
from .records import PoseRecord

__all__ = ["VideoFrames", "video_files", "scan_video", "video_frame_records"]

log = logging.getLogger(__name__)
#: side of the grey thumbnails the diverse subset clusters
THUMB = 24


def video_files(specs: Sequence[str], root: str = "") -> list[Path]:
    """Video files of ``specs`` (files, or folders searched for videos), relative paths under ``root``.

    Raises:
        DataFormatError: a spec names nothing, or a folder holds no video.
    """
    out: list[Path] = []
    for spec in specs:
        p = Path(root) / spec if root and not os.path.isabs(spec) else Path(spec)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTS)
            if not found:
                raise DataFormatError(f"data.unlabeled.videos: {p}: the folder holds no video ({', '.join(VIDEO_EXTS)})")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise DataFormatError(f"data.unlabeled.videos: {p}: no such video file or folder")
    return out


@dataclass
class VideoFrames:
    """One video scanned: its frame size and count, and the thumbnails of the kept frames."""

    path: Path
    width: int
    height: int
    frames: int
    kept: list[int]
    thumbs: np.ndarray | None = None


def scan_video(path: Path, stride: int, thumbs: bool, frame_range: Sequence[int] | None = None) -> VideoFrames:
    """Decode ``path`` once: count its frames, keep every ``stride``-th (of those in
    ``frame_range`` = ``[start, stop)``, when given), and (``thumbs``) their ``THUMB × THUMB``
    grey thumbnails.

    Raises:
        DataFormatError: the file cannot be opened as a video or no frame decodes.
    """
    cap = open_video(path, what=f"data.unlabeled.videos: {path}", error=DataFormatError)
    n, kept, small = 0, [], []
    w = h = 0
    try:
        for i, frame in iter_frames(cap):
            n = i + 1
            if i % stride == 0 and (frame_range is None or frame_range[0] <= i < frame_range[1]):
                kept.append(i)
                h, w = frame.shape[:2]
                if thumbs:
                    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
                    small.append(cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).reshape(-1))
    finally:
        cap.release()
    if n == 0:
        raise DataFormatError(f"data.unlabeled.videos: {path}: no frame could be decoded (empty or corrupt video)")
    return VideoFrames(path, w, h, n, kept, np.stack(small).astype(np.float32) if thumbs else None)


def _diverse(thumbs: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Indices (into ``thumbs``) of the frames nearest ``k`` k-means centres, sorted."""
    from scipy.cluster.vq import kmeans2

    x = (thumbs - thumbs.mean(0)) / (thumbs.std(0) + 1e-6)
    centres, labels = kmeans2(x, k, seed=seed, minit="++")
    picks = set()
    for c in range(len(centres)):
        members = np.flatnonzero(labels == c)
        if members.size:
            picks.add(int(members[np.argmin(((x[members] - centres[c]) ** 2).sum(1))]))
    return np.array(sorted(picks), np.int64)


def video_frame_records(specs: Sequence[str], num_keypoints: int, *, root: str = "", stride: int = 1, num_frames: int = 0,
                        seed: int = 0, detector: Detector | None = None,
                        frame_range: Sequence[int] | None = None) -> tuple[list[PoseRecord], str]:
    """The unlabelled records of the videos' frames, and a description.

    Args:
        specs: video files or folders (relative to ``root``).
        num_keypoints: K of the records' (empty) keypoints.
        stride: every this-many-th frame.
        frame_range: ``[start, stop)``: only frames in it (0-based), e.g. none of a test block.
        num_frames: > 0: a diverse subset of this many of those frames over all videos.
        seed: the k-means seed.
        detector: ``(H, W, 3)`` BGR frame → ``((P, 4)`` xywh boxes, ``(P,)`` scores``): one
            record per box, run once per chosen frame here (frames without a box are counted
            and left out); None: one whole-frame box per frame (a single-instance project).
    """
    scans = [scan_video(p, stride, num_frames > 0, frame_range) for p in video_files(specs, root)]
    refs = [(s, i) for s in scans for i in s.kept]
    span = f", frames {frame_range[0]}-{frame_range[1] - 1}" if frame_range else ""
    what = f"{len(refs)} frames (every {stride}{span}) of {len(scans)} video(s)"
    if num_frames and num_frames < len(refs):
        chosen = _diverse(np.concatenate([s.thumbs for s in scans if s.thumbs is not None]), num_frames, seed)
        refs = [refs[i] for i in chosen]
        what = f"{len(refs)} diverse frames (k-means of every {stride}) of {len(scans)} video(s)"
    if detector is None:
        records = [
            PoseRecord(frame_ref(s.path, i), 1_000_000_000 + n, np.array([0.0, 0.0, s.width, s.height], np.float32),
                       np.zeros((num_keypoints, 3), np.float32), image_size=(s.width, s.height))
            for n, (s, i) in enumerate(refs)
        ]
        return records, what
    return _detected_records(refs, num_keypoints, detector, what)


def _detected_records(refs: list[tuple[VideoFrames, int]], num_keypoints: int, detector: Detector, what: str) -> tuple[list[PoseRecord], str]:
    """One record per detected person in each frame (frames read once, here)."""
    from ..image import read_image

    records: list[PoseRecord] = []
    empty = 0
    for n, (s, i) in enumerate(refs):
        ref = frame_ref(s.path, i)
        boxes, scores = as_detections(detector(read_image(ref)), "data.unlabeled.detector")
        if len(boxes) == 0:
            empty += 1
        for b, sc in zip(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32).reshape(-1)):
            records.append(PoseRecord(ref, 1_000_000_000 + n, b.copy(), np.zeros((num_keypoints, 3), np.float32),
                                      box_score=float(sc), ann_id=len(records), image_size=(s.width, s.height)))
    log.info("unlabelled video frames: the detector found %d persons in %d frames (%d frames without one, left out)",
             len(records), len(refs) - empty, empty)
    return records, f"{len(records)} detected persons in {what}; {empty} frames without a person left out"
