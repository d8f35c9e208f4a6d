"""Videos: the one place that opens a video, counts and reads its frames, and names a frame.

**The frame naming rule.** A frame of a video is named ``<video>#<index>``, the index 0-based
and unpadded (``clip.mp4#0`` is the first frame): the unlabelled set, ``suggest``, the
importers and ``semipose predict``'s outputs all write it through :func:`frame_ref`, and
:func:`semipose.image.read_image` reads such a name as that frame. Earlier releases' predict
outputs named frames ``<video>#000001`` (1-based, six digits); :func:`parse_frame_ref` reads
both (an index of six digits with a leading zero is the old rule), so existing run folders and
box files keep working.

Frames are counted by decoding (:func:`count_frames`): a container's frame count
(``CAP_PROP_FRAME_COUNT``) is an estimate that can be off, or 0, for a valid file, used only for
a progress bar (:func:`frame_count_estimate`), so that a video is not decoded twice. No torch.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import ImageReadError, SemiposeError

__all__ = ["VIDEO_EXTS", "frame_ref", "parse_frame_ref", "legacy_frame_ref", "is_video", "VideoInfo", "open_video", "video_info",
           "count_frames", "frame_count_estimate", "iter_frames", "read_video_frame"]

#: video files whose frames can stand for images
VIDEO_EXTS: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a video file's extension."""
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTS


def frame_ref(video: str | os.PathLike[str], index: int) -> str:
    """The name of frame ``index`` (0-based) of ``video``: ``clip.mp4#42``."""
    return f"{os.fspath(video)}#{int(index)}"


def legacy_frame_ref(video: str | os.PathLike[str], index: int) -> str:
    """The name semipose ≤ 0.4's predict gave frame ``index`` (0-based): ``clip.mp4#000043``
    (1-based, six digits); read, never written."""
    return f"{os.fspath(video)}#{int(index) + 1:06d}"


def parse_frame_ref(ref: str, *, must_exist: bool = True) -> tuple[str, int] | None:
    """``(video, index)`` (0-based) when ``ref`` names a frame of a video file, else None.

    Reads the rule of :func:`frame_ref` and the old ``#000043`` one (:func:`legacy_frame_ref`).
    With ``must_exist`` the video must be a file.
    """
    video, sep, index = ref.rpartition("#")
    if not sep or not index.isdigit() or not is_video(video) or (must_exist and not os.path.isfile(video)):
        return None
    if len(index) == 6 and index.startswith("0") and int(index) > 0:
        return video, int(index) - 1
    return video, int(index)


@dataclass(frozen=True)
class VideoInfo:
    """A video's frame size, frame rate and frame count (counted by decoding)."""

    path: str
    width: int
    height: int
    fps: float
    frames: int


def open_video(path: str | os.PathLike[str] | int, *, what: str = "", error: type[SemiposeError] = ImageReadError) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture`` of a video file (or a camera index).

    Args:
        path: the file, or a camera index.
        what: how messages name it (default: the path, or ``camera N``).
        error: the error raised (each caller's own kind: a data file, a predict input).

    Raises:
        ``error``: one line naming the file: missing, or not openable (a missing codec, not a video).
    """
    name = what or (f"camera {path}" if isinstance(path, int) else os.fspath(path))
    if not isinstance(path, int) and not os.path.isfile(path):
        raise error(f"{name}: no such video file")
    cap = cv2.VideoCapture(path if isinstance(path, int) else os.fspath(path))
    if not cap.isOpened():
        cap.release()
        raise error(f"{name}: cannot open {'the camera' if isinstance(path, int) else 'the video (missing codec or not a video)'}")
    return cap


def iter_frames(cap: cv2.VideoCapture, *, stride: int = 1, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, (H, W, 3) uint8 BGR frame)`` of every ``stride``-th frame of an opened capture,
    from its current position, until the video ends or ``max_frames`` frames were read."""
    n = 0
    while max_frames is None or n < max_frames:
        if n % stride:
            if not cap.grab():
                return
        else:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            yield n, frame
        n += 1


def frame_count_estimate(cap: cv2.VideoCapture) -> int | None:
    """The container's frame count of an opened capture, for a progress bar only (it can be off,
    or 0 for a valid file; counting is :func:`count_frames`); None when it does not say."""
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return n if n > 0 else None


def count_frames(path: str | os.PathLike[str], *, error: type[SemiposeError] = ImageReadError) -> int:
    """The number of frames of ``path`` that decode (0 for an empty or corrupt video)."""
    cap = open_video(path, error=error)
    try:
        n = 0
        while cap.grab():
            n += 1
        return n
    finally:
        cap.release()


def video_info(path: str | os.PathLike[str], *, error: type[SemiposeError] = ImageReadError) -> VideoInfo:
    """Size, frame rate and (decoded) frame count of a video file.

    Raises:
        ``error``: the file cannot be opened, or no frame decodes.
    """
    cap = open_video(path, error=error)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        ok, first = cap.read()
        if not ok or first is None:
            raise error(f"{os.fspath(path)}: no frame could be decoded (empty or corrupt video)")
        n = 1
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return VideoInfo(os.fspath(path), int(first.shape[1]), int(first.shape[0]), fps if fps > 0 else 25.0, n)


class _Captures:
    """This process's open videos (DataLoader workers each have their own), read forward and
    re-positioned only when asked for a frame behind or far ahead."""

    def __init__(self) -> None:
        self.open: OrderedDict[str, tuple[cv2.VideoCapture, int]] = OrderedDict()
        self.pid = os.getpid()

    def frame(self, video: str, index: int) -> np.ndarray:
        if os.getpid() != self.pid:  # a forked worker: the parent's decoders are not ours to use
            self.open, self.pid = OrderedDict(), os.getpid()
        cap, pos = self.open.pop(video, (None, -1))
        img = self._read(cap, pos, video, index) if cap is not None else None
        if img is None:  # a fresh decoder: some containers cannot seek back once read to the end
            cap, pos = open_video(video), 0
            img = self._read(cap, pos, video, index)
        if img is None:
            raise ImageReadError(f"{frame_ref(video, index)}: frame {index} cannot be decoded (beyond the end, or a corrupt video)")
        return img

    def _read(self, cap: cv2.VideoCapture, pos: int, video: str, index: int) -> np.ndarray | None:
        """Frame ``index`` from ``cap`` (at ``pos``), the capture kept open; None (and released) when it fails."""
        if not pos <= index < pos + 64:  # seeking costs a keyframe decode: worth it only for a jump
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            pos = index
        ok, img = True, None
        while ok and pos <= index:
            ok, img = cap.read()
            pos += 1
        if not ok or img is None:
            cap.release()
            return None
        self.open[video] = (cap, pos)
        while len(self.open) > 8:
            _, (old, _) = self.open.popitem(last=False)
            old.release()
        return img


    def close(self) -> None:
        """Release every open video (before a fork: a decoder released in a forked child can hang
        on the parent's decoding threads, so the child must inherit none)."""
        while self.open:
            _, (cap, _) = self.open.popitem()
            cap.release()


_CAPTURES = _Captures()
os.register_at_fork(before=_CAPTURES.close)


def read_video_frame(video: str, index: int) -> np.ndarray:
    """Frame ``index`` (0-based) of ``video`` as ``(H, W, 3)`` uint8 BGR, decoded in this process.

    Raises:
        ImageReadError: naming the video and the frame.
    """
    return _CAPTURES.frame(video, index)
