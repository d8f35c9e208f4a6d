"""What ``semipose predict`` reads: image files, folders, globs, video files and cameras.

:func:`expand_sources` turns the command-line SOURCE arguments into a list of
:class:`Source` entries (images in a stable order, each video or camera as one entry);
:func:`read_frames` yields the frames of a video or camera.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..video import VIDEO_EXTS, iter_frames
from ..video import open_video as _open_video

__all__ = ["IMAGE_EXTS", "VIDEO_EXTS", "Source", "expand_sources", "open_video", "read_frames"]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Source:
    """One input: ``kind`` is ``image``, ``video`` or ``camera``; ``path`` the file (or the
    camera index as text); ``root`` the folder it was found under (the folder argument, a
    glob's fixed part, or the file's own folder)."""

    kind: str
    path: str
    root: str = ""

    @property
    def name(self) -> str:
        return f"camera{self.path}" if self.kind == "camera" else Path(self.path).name

    @property
    def rel(self) -> str:
        """The path relative to its input root, with ``/`` separators (``val/vid/000000.jpg``
        for a folder argument ``posetrack/images``); what outputs are keyed by."""
        if self.kind == "camera":
            return self.name
        return Path(os.path.relpath(self.path, self.root or os.path.dirname(self.path) or ".")).as_posix()


def _glob_root(pattern: str) -> str:
    """The fixed folder part of a glob pattern (``data/*/x.jpg`` → ``data``)."""
    parts = Path(pattern).parts
    fixed = list(parts[: next((i for i, p in enumerate(parts) if any(ch in p for ch in "*?[")), len(parts))])
    return str(Path(*fixed)) if fixed else "."


def _kind(path: str) -> str | None:
    ext = os.path.splitext(path)[1].lower()
    return "image" if ext in IMAGE_EXTS else "video" if ext in VIDEO_EXTS else None


def expand_sources(args: Sequence[str]) -> list[Source]:
    """Image files, folders (their images and videos, sorted, sub-folders included), globs,
    video files and camera indices (``0``, ``1`` …), in the order given, duplicates dropped.

    Raises:
        SourceError: an argument matches nothing (named), or nothing at all was found.
    """
    out: list[Source] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, path: str, root: str = "") -> None:
        key = (kind, os.path.abspath(path) if kind != "camera" else path)
        if key not in seen:
            seen.add(key)
            out.append(Source(kind, path, root))

    for arg in args:
        if arg.isdigit() and not os.path.exists(arg):
            add("camera", arg)
        elif os.path.isdir(arg):
            found = sorted((str(p) for p in Path(arg).rglob("*") if p.is_file() and _kind(str(p))), key=lambda f: Path(f).parts)
            if not found:
                raise SourceError(f"{arg}: folder holds no images or videos ({', '.join(IMAGE_EXTS + VIDEO_EXTS)})")
            for f in found:
                add(_kind(f) or "image", f, arg)
        elif os.path.isfile(arg):
            add(_kind(arg) or "image", arg)  # an unknown extension is tried as an image (and reported if it is not one)
        elif any(ch in arg for ch in "*?["):
            found = sorted(f for f in glob.glob(arg, recursive=True) if os.path.isfile(f) and _kind(f))
            if not found:
                raise SourceError(f"{arg}: the pattern matches no images or videos")
            for f in found:
                add(_kind(f) or "image", f, _glob_root(arg))
        else:
            raise SourceError(f"{arg}: no such file, folder or camera")
    if not out:
        raise SourceError("no inputs given")
    return out


def open_video(src: Source):  # -> cv2.VideoCapture
    """An opened ``cv2.VideoCapture`` for a video file or camera (:func:`semipose.video.open_video`);
    :class:`SourceError` naming it when it cannot be opened."""
    return _open_video(int(src.path) if src.kind == "camera" else src.path, error=SourceError)


def read_frames(cap, max_frames: int | None = None) -> Iterator[np.ndarray]:  # noqa: ANN001 - cv2.VideoCapture
    """BGR frames of an opened capture, at most ``max_frames``."""
    for _, frame in iter_frames(cap, max_frames=max_frames):
        yield frame
