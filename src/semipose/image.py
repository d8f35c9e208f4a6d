"""Images in and out: the one reader of image files, the one crop warp, the normalisation
constants, and OpenCV's thread setting for DataLoader workers.

Every floor that reads an image (training crops, evaluation, prediction, drawings) reads it
with :func:`read_image`, so a picture is always drawn on the pixels the network saw. No torch.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import cv2
import numpy as np

from .errors import ImageReadError, MissingImageError
from .video import VIDEO_EXTS, parse_frame_ref, read_video_frame

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "read_image",
    "image_problem",
    "check_image_file",
    "warp_crop",
    "normalize_crop",
    "ImageCache",
    "single_threaded_cv2",
    "VIDEO_EXTS",
    "video_frame_ref",
    "read_video_frame",
]

#: the one frame naming rule lives in :mod:`semipose.video`; this name is kept for callers of 0.4
video_frame_ref = parse_frame_ref

#: ImageNet channel statistics in RGB order on the 0..1 pixel scale (the order the torchvision
#: backbones were trained in). Inputs are normalised ``(pixel / 255 - mean) / std``.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_JPEG_EOI_WINDOW = 4096  # bytes at the end of a JPEG searched for its end-of-image marker


def image_problem(data: bytes | np.ndarray) -> str | None:
    """Why encoded image bytes are not a complete image, or None when they look complete.

    A JPEG must start with SOI (FF D8) and have its EOI marker (FF D9) in its last 4 KB (0xFF
    is always escaped inside entropy-coded data, so the marker cannot appear there); a PNG must
    end with its IEND chunk. Other formats are left to the decoder."""
    if len(data) == 0:
        return "empty file"
    b, tail = bytes(data[:4]), bytes(data[-_JPEG_EOI_WINDOW:])
    if b[:2] == b"\xff\xd8":
        return None if b"\xff\xd9" in tail else "truncated JPEG (no end-of-image marker: the file was cut short)"
    if b == b"\x89PNG":
        return None if b"IEND" in tail[-64:] else "truncated PNG (no IEND chunk: the file was cut short)"
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR chunk, or None for other files."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def check_image_file(path: str | os.PathLike[str]) -> str | None:
    """A fast pre-flight check of one image file (exists, not empty, not cut short), reading
    only its first and last bytes (a video frame ``clip.mp4#12``: its video is there and not
    empty); the problem as text, or None."""
    p = os.fspath(path)
    frame = parse_frame_ref(p, must_exist=False) if not os.path.isfile(p) else None
    if frame is not None:  # a frame of a video (clip.mp4#12): the video must be there; its frames are checked when decoded
        if not os.path.isfile(frame[0]):
            return f"video file {frame[0]} not found"
        return None if os.path.getsize(frame[0]) > 0 else f"video file {frame[0]} is empty"
    try:
        size = os.path.getsize(p)
        with open(p, "rb") as f:
            head = f.read(4)
            f.seek(max(0, size - _JPEG_EOI_WINDOW))
            tail = f.read()
    except FileNotFoundError:
        return "image file not found"
    except OSError as e:
        return f"cannot read ({e.strerror or e})"
    if size == 0:
        return "empty file"
    if size <= 4:
        return "not an image (4 bytes or fewer)"
    return image_problem(head + tail)  # the magic from the head, the end marker from the tail


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image as ``(H, W, 3)`` uint8 **BGR** (EXIF orientation ignored, as in COCO).

    A JPEG or PNG cut short (which OpenCV would decode with the missing part grey, saying only
    "Premature end of JPEG file" on stderr) is an error, not an image.

    Raises:
        ImageReadError: naming the file, if it is missing, empty, truncated or not a decodable
            image.
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        frame = parse_frame_ref(p)
        if frame is not None:
            return read_video_frame(*frame)
        raise MissingImageError(f"{p}: image file not found")
    with open(p, "rb") as f:
        data = f.read()
    problem = image_problem(data)
    if problem:
        raise ImageReadError(f"{p}: {problem}")
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as e:  # e.g. a header claiming more pixels than OpenCV decodes (CV_IO_MAX_IMAGE_PIXELS)
        size = _png_size(data)
        claim = f"its header claims {size[0]}x{size[1]} pixels, " if size else ""
        why = "more than OpenCV decodes" if "CV_IO_MAX_IMAGE_PIXELS" in str(e) else str(e).strip().splitlines()[-1][:160]
        raise ImageReadError(f"{p}: cannot decode image ({claim}{why})") from None
    if img is None:
        raise ImageReadError(f"{p}: cannot decode image ({len(data)} bytes; corrupt or unsupported format)")
    return img


def warp_crop(image: np.ndarray, mat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 crop of ``image`` through the 2×3 image → crop matrix ``mat``
    (bilinear, black outside the image); ``size`` is ``(W, H)``. The one crop of training,
    evaluation and prediction."""
    return cv2.warpAffine(image, mat, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def normalize_crop(crop: np.ndarray, mean: np.ndarray, std: np.ndarray, *, reverse_channels: bool) -> np.ndarray:
    """``(3, H, W)`` float32 network input ``(crop - mean) / std`` of an ``(H, W, 3)`` uint8 crop.

    One pass per channel straight into the channel-first output (no float copy of the whole
    crop, no transpose copy); the values are those of the plain NumPy expression.

    Args:
        crop: ``(H, W, 3)`` uint8.
        mean, std: ``(3,)`` float32 statistics on the 0..255 scale, in output channel order.
        reverse_channels: output channel ``c`` is crop channel ``2 - c`` (BGR crop → RGB).
    """
    h, w = crop.shape[:2]
    out = np.empty((3, h, w), np.float32)
    m, s = np.asarray(mean, np.float32).reshape(3), np.asarray(std, np.float32).reshape(3)
    for c in range(3):
        np.subtract(crop[:, :, 2 - c if reverse_channels else c], m[c], out=out[c], dtype=np.float32)
        np.divide(out[c], s[c], out=out[c])
    return out


class ImageCache:
    """Decoded images of one process, least recently used first out, within a byte budget.

    Evaluation visits the persons of one image one after another (with detector boxes, 20 per
    COCO image), and a small training set may fit whole; both then decode each file once
    instead of once per person. The arrays handed out are read-only, so no caller can change
    a cached picture. Each DataLoader worker has its own cache.

    Args:
        max_mb: budget in MiB (0: no caching, every call decodes).
    """

    def __init__(self, max_mb: float = 0) -> None:
        if not max_mb >= 0:
            raise ValueError(f"image cache budget must be >= 0 MiB, got {max_mb}")
        self._empty(int(max_mb * 2**20))

    def _empty(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._images: OrderedDict[str, np.ndarray] = OrderedDict()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._images)

    def __getstate__(self) -> dict[str, int]:  # a pickled cache (a spawned worker's copy) starts empty
        return {"max_bytes": self.max_bytes}

    def __setstate__(self, state: dict[str, int]) -> None:
        self._empty(int(state["max_bytes"]))

    def read(self, path: str | os.PathLike[str]) -> np.ndarray:
        """:func:`read_image` of ``path``, from the cache when it holds it (read-only array)."""
        p = os.fspath(path)
        img = self._images.get(p)
        if img is not None:
            self._images.move_to_end(p)
            self.hits += 1
            return img
        self.misses += 1
        img = read_image(p)
        if img.nbytes <= self.max_bytes:
            img.flags.writeable = False
            self._images[p] = img
            self.nbytes += img.nbytes
            while self.nbytes > self.max_bytes:
                _, old = self._images.popitem(last=False)
                self.nbytes -= old.nbytes
        return img


def single_threaded_cv2() -> None:
    """Run OpenCV single-threaded in this process and in the DataLoader workers forked from it
    (call it before creating a DataLoader with workers; parallelism comes from the workers)."""
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)
