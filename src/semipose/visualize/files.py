"""Pictures written to files: the prediction grid of a run folder (images read from disk)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .._typing import PathLike
from ..image import read_image
from ..skeletons import Skeleton
from .draw import _IMAGE_EXTS, _as_boxes, _as_image, _as_keypoints, _letterbox, _put_caption, draw_pose, make_image_grid

# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def _write_image(path: Path, img: np.ndarray) -> None:
    ext = path.suffix.lower()
    if ext not in _IMAGE_EXTS:
        raise ValueError(f"unsupported image extension {path.suffix!r} for {path}; use .png or .jpg")
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise OSError(f"could not encode image for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf.tofile(str(path))


def _auto_tile(sizes: Sequence[tuple[int, int]], max_side: int) -> tuple[int, int]:
    """(W, H) tile: the largest width and height, scaled so the longer side is <= max_side."""
    tw, th = max(s[0] for s in sizes), max(s[1] for s in sizes)
    s = min(1.0, max_side / max(tw, th))
    return max(1, int(round(tw * s))), max(1, int(round(th * s)))


def save_prediction_grid(
    path: PathLike,
    items: Sequence[tuple[Any, ...]],
    skeleton: Skeleton,
    *,
    ncols: int = 4,
    max_items: int = 16,
    score_thr: float = 0.2,
    tile_size: tuple[int, int] | None = None,
    captions: Sequence[str] | None = None,
) -> Path:
    """Draw predicted poses on images, tile them and write the picture.

    Args:
        path: output file, ``.png`` or ``.jpg``/``.jpeg`` (parent folders are created).
        items: ``(image, keypoints, boxes)`` tuples (``boxes`` may be omitted or None).
            ``image`` is a file path (read with OpenCV) or an ``(H, W, 3)`` uint8 BGR array;
            ``keypoints`` is ``(P, K, 3)`` ``(x, y, score)`` in that image's pixels (``(K, 3)``
            for one person, ``(0, K, 3)`` for none); ``boxes`` is ``(P, 4)`` ``(x, y, w, h)``.
        skeleton: the keypoint set.
        ncols: grid columns.
        max_items: only the first ``max_items`` items are drawn.
        score_thr: joints scoring below it are not drawn.
        tile_size: ``(W, H)`` of each tile; default the largest image size scaled so that its
            longer side is at most 480 pixels. Poses are drawn after resizing, so line widths
            suit the tile.
        captions: one caption per item; default the image file name (none for arrays).

    Returns:
        the written path.

    Raises:
        FileNotFoundError / ValueError naming the image file if an image cannot be read;
        ValueError if ``items`` is empty.
    """
    out = Path(path)
    if out.suffix.lower() not in _IMAGE_EXTS:
        raise ValueError(f"unsupported image extension {out.suffix!r} for {out}; use .png or .jpg")
    items = list(items)[: max(0, int(max_items))]
    if not items:
        raise ValueError("save_prediction_grid needs at least one item")
    if captions is not None and len(captions) < len(items):
        raise ValueError(f"{len(captions)} captions for {len(items)} items")

    images: list[np.ndarray] = []
    names: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise ValueError(f"items[{i}] must be (image, keypoints[, boxes])")
        src = item[0]
        if isinstance(src, np.ndarray):
            images.append(_as_image(src, f"items[{i}] image"))
            names.append("")
        else:
            images.append(read_image(src))
            names.append(Path(src).name)
    if captions is not None:
        names = [str(c) for c in captions[: len(items)]]

    if tile_size is None:
        tile_size = _auto_tile([(im.shape[1], im.shape[0]) for im in images], 480)
    tiles = []
    for item, img, name in zip(items, images, names):
        tile, s, (ox, oy) = _letterbox(img, tile_size)
        kp = _as_keypoints(item[1], skeleton.num_keypoints).copy()
        kp[:, :, 0] = kp[:, :, 0] * s + ox
        kp[:, :, 1] = kp[:, :, 1] * s + oy
        boxes = item[2] if len(item) == 3 else None
        if boxes is not None:
            b = _as_boxes(boxes).copy()
            b[:, 0] = b[:, 0] * s + ox
            b[:, 1] = b[:, 1] * s + oy
            b[:, 2:] *= s
            boxes = b
        tile = draw_pose(tile, kp, skeleton, score_thr=score_thr, boxes=boxes)
        _put_caption(tile, name)
        tiles.append(tile)
    _write_image(out, make_image_grid(tiles, ncols=ncols, tile_size=tile_size, pad=2))
    return out


# --------------------------------------------------------------------------------------------
