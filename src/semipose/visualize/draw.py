"""Drawing on images: poses (colour by body side), heatmap overlays, image grids, tensors to pictures."""

from __future__ import annotations

import colorsys
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from ..image import IMAGENET_MEAN, IMAGENET_STD
from ..skeletons import Skeleton

_IMAGE_EXTS = {".png", ".jpg", ".jpeg"}
_FONT = cv2.FONT_HERSHEY_SIMPLEX

# Hue ranges (degrees) of the three colour families.
_SIDE_HUES = {
    "left": (75.0, 150.0),    # yellow-green .. green
    "right": (0.0, 40.0),     # red .. orange
    "center": (200.0, 285.0),  # azure .. violet
}


# --------------------------------------------------------------------------------------------
# colours and sides
# --------------------------------------------------------------------------------------------


def _hsv_bgr(hue_deg: float, sat: float = 1.0, val: float = 1.0) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, sat, val)
    return int(round(b * 255)), int(round(g * 255)), int(round(r * 255))


def keypoint_sides(names: Sequence[str]) -> list[str]:
    """Body side of each keypoint from its name: ``"left"``, ``"right"`` or ``"center"``.

    A name containing ``left`` / ``right`` (case-insensitive) gives that side; so does a
    separate ``l`` / ``r`` token at the start or end (``l_knee``, ``knee_R``). Anything else
    is central.
    """
    sides: list[str] = []
    for name in names:
        n = str(name).lower()
        has_l, has_r = "left" in n, "right" in n
        if has_l != has_r:
            sides.append("left" if has_l else "right")
            continue
        tokens = [t for t in re.split(r"[^a-z0-9]+", n) if t]
        ends = {tokens[0], tokens[-1]} if tokens else set()
        if "l" in ends and "r" not in ends:
            sides.append("left")
        elif "r" in ends and "l" not in ends:
            sides.append("right")
        else:
            sides.append("center")
    return sides


def _family_colors(sides: Sequence[str]) -> list[tuple[int, int, int]]:
    """One BGR colour per item: a shade of its side's family, stepping through the hue range."""
    counts = {s: sides.count(s) for s in _SIDE_HUES}
    seen = dict.fromkeys(_SIDE_HUES, 0)
    out = []
    for s in sides:
        lo, hi = _SIDE_HUES[s]
        n = counts[s]
        hue = lo if n <= 1 else lo + (hi - lo) * seen[s] / (n - 1)
        seen[s] += 1
        out.append(_hsv_bgr(hue, 0.85, 1.0))
    return out


def _person_color(i: int) -> tuple[int, int, int]:
    """Distinct colour for person ``i`` (golden-ratio hue steps)."""
    return _hsv_bgr((i * 137.508 + 30.0) % 360.0, 0.8, 1.0)


def _swap(color: tuple[int, int, int], rgb: bool) -> tuple[int, int, int]:
    return (color[2], color[1], color[0]) if rgb else color


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _as_image(image: Any, what: str = "image") -> np.ndarray:
    """Validate an image and return it as ``(H, W, 3)`` uint8 (grey / alpha images converted)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise TypeError(f"{what} must be uint8, got {img.dtype}")
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(img[:, :, :3])
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{what} must have shape (H, W, 3), got {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{what} is empty: shape {img.shape}")
    return img


def _as_keypoints(keypoints: Any, k: int) -> np.ndarray:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[2] not in (2, 3):
        raise ValueError(f"keypoints must have shape (P, K, 2|3) or (K, 2|3), got {np.shape(keypoints)}")
    if kp.shape[0] > 0 and kp.shape[1] != k:
        raise ValueError(f"keypoints have K={kp.shape[1]} but the skeleton has {k} keypoints")
    return kp


def _as_boxes(boxes: Any) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1:
        b = b[None]
    if b.size == 0:
        return np.zeros((0, 4))
    if b.ndim != 2 or b.shape[1] < 4:
        raise ValueError(f"boxes must have shape (P, 4) as (x, y, w, h), got {np.shape(boxes)}")
    return b[:, :4]


def _default_thickness(h: int, w: int) -> int:
    return max(1, int(round(max(h, w) / 250.0)))


# --------------------------------------------------------------------------------------------
# draw_pose
# --------------------------------------------------------------------------------------------

_SHIFT = 4  # fixed-point bits for sub-pixel drawing
_ONE = 1 << _SHIFT


#: drawn coordinates are clamped to ±this many pixels: far outside any image, yet small enough
#: for OpenCV's fixed-point int32 coordinates (a box at x = 1e9 is drawn, off the picture)
_FAR = 1_000_000.0


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(min(max(x, -_FAR), _FAR) * _ONE)), int(round(min(max(y, -_FAR), _FAR) * _ONE))


def draw_pose(
    image: np.ndarray,
    keypoints: np.ndarray,
    skeleton: Skeleton,
    *,
    scores: np.ndarray | None = None,
    score_thr: float = 0.2,
    boxes: np.ndarray | None = None,
    color_by_side: bool = True,
    thickness: int | None = None,
    rgb: bool = False,
) -> np.ndarray:
    """Draw limbs and joints of P people on a copy of ``image``.

    Args:
        image: ``(H, W, 3)`` uint8, BGR (or RGB with ``rgb=True``). Not modified.
        keypoints: ``(P, K, 2)`` or ``(P, K, 3)`` pixel coordinates (``(K, 2|3)`` for one
            person). A third column is a COCO visibility flag or a confidence score: a joint
            is drawn only if it is positive and ``>= score_thr`` (so ``v == 0`` is never
            drawn, ``v`` of 1 or 2 always is for ``score_thr <= 1``).
        skeleton: gives K, the limbs (``skeleton.edges``) and, from the keypoint names, the
            side of each joint.
        scores: optional ``(P, K)`` confidences; joints with ``score < score_thr`` are not
            drawn (combined with the visibility rule above when ``keypoints`` has 3 columns).
        score_thr: drawing threshold.
        boxes: optional ``(N, 4)`` ``(x, y, w, h)`` boxes to outline (extra columns ignored).
        color_by_side: left-side joints/limbs in greens, right side in reds/oranges, centre
            in blues/violets; if False each person gets one distinct colour.
        thickness: limb thickness in pixels; default scales with the image size.
        rgb: the image is RGB (colours are given in that order).

    Returns:
        ``(H, W, 3)`` uint8 copy with the drawing. A limb is drawn only when both of its
        joints are; joints with non-finite coordinates are skipped.
    """
    img = _as_image(image).copy()
    h, w = img.shape[:2]
    k = skeleton.num_keypoints
    kp = _as_keypoints(keypoints, k)
    p = kp.shape[0]

    valid = np.all(np.isfinite(kp[:, :, :2]), axis=2)
    if kp.shape[2] == 3:
        c = kp[:, :, 2]
        if scores is None:
            valid &= (c > 0) & (c >= score_thr)
        else:
            valid &= c > 0
    if scores is not None:
        sc = np.asarray(scores, dtype=np.float64)
        if sc.ndim == 1:
            sc = sc[None]
        if sc.shape != (p, k):
            raise ValueError(f"scores must have shape {(p, k)}, got {np.shape(scores)}")
        valid &= np.nan_to_num(sc, nan=-np.inf) >= score_thr

    t = int(thickness) if thickness is not None else _default_thickness(h, w)
    t = max(1, t)
    radius = max(2, int(round(t * 1.6)))
    box_t = max(1, t // 2)

    if boxes is not None:
        bx = _as_boxes(boxes)
        for i, (x, y, bw, bh) in enumerate(bx):
            if not np.all(np.isfinite((x, y, bw, bh))):
                continue
            col = _swap(_person_color(i), rgb) if not color_by_side else (235, 235, 235)
            p0, p1 = _pt(x, y), _pt(x + bw, y + bh)
            # Light line on a dark halo: visible on bright and dark backgrounds alike.
            cv2.rectangle(img, p0, p1, (30, 30, 30), box_t + 2, cv2.LINE_AA, _SHIFT)
            cv2.rectangle(img, p0, p1, col, box_t, cv2.LINE_AA, _SHIFT)

    sides = keypoint_sides(skeleton.keypoints)
    joint_cols = [_swap(c, rgb) for c in _family_colors(sides)]
    edge_sides = [sides[a] if sides[a] == sides[b] else "center" for a, b in skeleton.edges]
    edge_cols = [_swap(c, rgb) for c in _family_colors(edge_sides)]
    outline = _swap((40, 40, 40), rgb)

    for i in range(p):
        pc = _swap(_person_color(i), rgb)
        for e, (a, b) in enumerate(skeleton.edges):
            if valid[i, a] and valid[i, b]:
                col = edge_cols[e] if color_by_side else pc
                cv2.line(img, _pt(*kp[i, a, :2]), _pt(*kp[i, b, :2]), col, t, cv2.LINE_AA, _SHIFT)
        for j in range(k):
            if not valid[i, j]:
                continue
            col = joint_cols[j] if color_by_side else pc
            center = _pt(*kp[i, j, :2])
            cv2.circle(img, center, radius * _ONE, col, -1, cv2.LINE_AA, _SHIFT)
            if radius >= 3:
                cv2.circle(img, center, radius * _ONE, outline, 1, cv2.LINE_AA, _SHIFT)
    return img


# --------------------------------------------------------------------------------------------
# grids
# --------------------------------------------------------------------------------------------


def _letterbox(
    img: np.ndarray, size: tuple[int, int], fill: tuple[int, int, int] = (0, 0, 0)
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Fit ``img`` inside ``size = (W, H)`` keeping its aspect; return (tile, scale, (ox, oy))."""
    tw, th = int(size[0]), int(size[1])
    h, w = img.shape[:2]
    s = min(tw / w, th / h)
    nw, nh = max(1, min(tw, int(round(w * s)))), max(1, min(th, int(round(h * s))))
    if (nw, nh) != (w, h):
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        img = cv2.resize(img, (nw, nh), interpolation=interp)
    out = np.empty((th, tw, 3), np.uint8)
    out[:] = fill
    ox, oy = (tw - nw) // 2, (th - nh) // 2
    out[oy:oy + nh, ox:ox + nw] = img
    return out, s, (ox, oy)


def make_image_grid(
    images: Sequence[np.ndarray],
    ncols: int = 4,
    tile_size: tuple[int, int] | None = None,
    pad: int = 2,
    *,
    fill: tuple[int, int, int] = (0, 0, 0),
    pad_value: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """Tile images into one picture.

    Args:
        images: N ``(H_i, W_i, 3)`` uint8 images (grey ``(H, W)`` images are converted).
        ncols: columns; the grid has ``min(ncols, N)`` columns and ``ceil(N / ncols)`` rows.
        tile_size: ``(W, H)`` of every tile; default the largest width and largest height of
            the inputs. Each image is resized to fit its tile with its aspect ratio kept and
            centred on ``fill`` (letterboxing).
        pad: pixels of ``pad_value`` between tiles and around the border.

    Returns:
        ``(rows * H + (rows + 1) * pad, cols * W + (cols + 1) * pad, 3)`` uint8.
    """
    if len(images) == 0:
        raise ValueError("make_image_grid needs at least one image")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    imgs = [_as_image(im, f"images[{i}]") for i, im in enumerate(images)]
    if tile_size is None:
        tile_size = (max(im.shape[1] for im in imgs), max(im.shape[0] for im in imgs))
    tw, th = int(tile_size[0]), int(tile_size[1])
    if tw < 1 or th < 1:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    n = len(imgs)
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    grid = np.empty((rows * th + (rows + 1) * pad, cols * tw + (cols + 1) * pad, 3), np.uint8)
    grid[:] = pad_value
    for idx, im in enumerate(imgs):
        r, c = divmod(idx, cols)
        y0, x0 = pad + r * (th + pad), pad + c * (tw + pad)
        tile = im if im.shape[:2] == (th, tw) else _letterbox(im, (tw, th), fill)[0]
        grid[y0:y0 + th, x0:x0 + tw] = tile
    # Empty cells of the last row: fill colour, so they read as blank tiles.
    for idx in range(n, rows * cols):
        r, c = divmod(idx, cols)
        y0, x0 = pad + r * (th + pad), pad + c * (tw + pad)
        grid[y0:y0 + th, x0:x0 + tw] = fill
    return grid


def _put_caption(img: np.ndarray, text: str) -> None:
    """Write ``text`` in the top-left corner of ``img`` (in place) on a darkened band."""
    if not text:
        return
    h, w = img.shape[:2]
    scale = float(np.clip(w / 800.0, 0.4, 0.7))
    thick = 1
    (tw, tht), base = cv2.getTextSize(text, _FONT, scale, thick)
    if tw > w - 6:  # shrink to fit the width
        scale *= (w - 6) / tw
        thick = 1
        (tw, tht), base = cv2.getTextSize(text, _FONT, scale, thick)
    band_h = min(h, tht + base + 6)
    band = img[:band_h, : min(w, tw + 6)]
    band[:] = (band.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken, keep some context
    cv2.putText(img, text, (3, 3 + tht), _FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)


# --------------------------------------------------------------------------------------------
# heatmaps
# --------------------------------------------------------------------------------------------


def draw_heatmaps(
    image: np.ndarray,
    heatmaps: np.ndarray,
    skeleton: Skeleton,
    ncols: int = 6,
    *,
    alpha: float = 0.55,
    rgb: bool = False,
) -> np.ndarray:
    """Show each keypoint's heatmap over the network input crop.

    Args:
        image: ``(H, W, 3)`` uint8 crop (e.g. from :func:`to_uint8_image`), BGR unless
            ``rgb=True``.
        heatmaps: ``(K, h, w)`` float heatmaps (numpy array or CPU tensor), any resolution;
            each is resized to the crop.
        skeleton: K and keypoint names.
        ncols: grid columns.
        alpha: weight of the colour-mapped heatmap at its peak (it falls to ``0.35 * alpha``
            where the heatmap is zero, so the crop stays readable).
        rgb: the crop is RGB.

    Returns:
        uint8 grid (layout as :func:`make_image_grid`) of ``K + 1`` tiles: first the crop with
        the heatmap maxima drawn as a pose, then one tile per keypoint captioned with its name
        and peak value. Each heatmap is scaled by its own peak (negatives clipped to 0) before
        colour mapping (``cv2.COLORMAP_JET``).
    """
    img = _as_image(image, "image")
    if hasattr(heatmaps, "detach"):
        heatmaps = heatmaps.detach().cpu().numpy()
    hm = np.asarray(heatmaps, dtype=np.float32)
    k = skeleton.num_keypoints
    if hm.ndim != 3 or hm.shape[0] != k:
        raise ValueError(f"heatmaps must have shape ({k}, h, w) for skeleton {skeleton.name!r}, got {hm.shape}")
    # Small crops are enlarged so that captions stay legible.
    up = max(1, math.ceil(192 / max(img.shape[:2])))
    if up > 1:
        img = cv2.resize(img, (img.shape[1] * up, img.shape[0] * up), interpolation=cv2.INTER_LINEAR)
    h, w = img.shape[:2]
    hh, hw = hm.shape[1:]

    hm = np.nan_to_num(hm, nan=0.0, posinf=0.0, neginf=0.0)
    peaks = hm.reshape(k, -1).max(axis=1)
    arg = hm.reshape(k, -1).argmax(axis=1)
    ys, xs = np.divmod(arg, hw)
    # Heatmap pixel centres -> crop pixels.
    pred = np.stack([(xs + 0.5) * w / hw - 0.5, (ys + 0.5) * h / hh - 0.5, peaks], axis=1)

    first = draw_pose(img, pred[None], skeleton, score_thr=1e-6, rgb=rgb)
    _put_caption(first, "input + maxima")
    tiles = [first]
    for j in range(k):
        m = np.clip(hm[j], 0.0, None)
        m = m / peaks[j] if peaks[j] > 0 else np.zeros_like(m)
        m8 = cv2.resize((m * 255.0).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
        cm = cv2.applyColorMap(m8, cv2.COLORMAP_JET)
        if rgb:
            cm = cm[:, :, ::-1]
        # Per-pixel weight: the colour map dominates near the peak, the crop stays readable
        # where the heatmap is near zero.
        wgt = (alpha * (0.35 + 0.65 * cv2.resize(m.astype(np.float32), (w, h))))[:, :, None]
        tile = np.clip(img * (1.0 - wgt) + cm * wgt + 0.5, 0, 255).astype(np.uint8)
        _put_caption(tile, f"{skeleton.keypoints[j]} {peaks[j]:.2f}")
        tiles.append(tile)
    return make_image_grid(tiles, ncols=ncols, pad=2)


# network inputs
# --------------------------------------------------------------------------------------------


def to_uint8_image(
    tensor: Any,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    rgb: bool = True,
) -> np.ndarray:
    """Undo mean/std normalisation of a network input for display or writing with OpenCV.

    Args:
        tensor: ``(3, H, W)`` (or ``(1, 3, H, W)``) float array or tensor holding
            ``(pixel - mean) / std``.
        mean, std: per-channel 3-tuples in the tensor's channel order. On the 0..1 pixel scale
            (e.g. ImageNet's ``(0.485, 0.456, 0.406)``) the result is multiplied by 255; if any
            mean is above 1 they are taken to be on the 0..255 scale.
        rgb: the tensor channels are RGB and are reversed to BGR.

    Returns:
        ``(H, W, 3)`` uint8 BGR image (rounded and clipped to 0..255).
    """
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu().float().numpy()
    x = np.asarray(tensor, dtype=np.float64)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) tensor, got shape {x.shape}")
    m = np.asarray(mean, dtype=np.float64).reshape(-1)
    s = np.asarray(std, dtype=np.float64).reshape(-1)
    if m.shape != (3,) or s.shape != (3,):
        raise ValueError("mean and std must have 3 values each")
    x = x * s[:, None, None] + m[:, None, None]
    if np.max(m) <= 1.0:
        x = x * 255.0
    img = np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    if rgb:
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def draw_results(
    image: np.ndarray, results: Sequence[Mapping[str, Any]], skeleton: Skeleton, *, kpt_thr: float = 0.3, heat: np.ndarray | None = None
) -> np.ndarray:
    """The image with each COCO keypoint result's skeleton and box drawn (``results``: dicts with
    ``keypoints`` (3K numbers) and optionally ``bbox``), and the heatmap overlay ``heat``
    (``(H, W)`` in [0, 1], blended where it is above 0.05)."""
    img = image
    if heat is not None:
        colored = cv2.applyColorMap(np.clip(heat * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
        alpha = np.clip(heat, 0, 1)[..., None] * 0.6 * (heat[..., None] > 0.05)
        img = (img * (1 - alpha) + colored * alpha).astype(np.uint8)
    if not results:
        return img.copy()
    k = skeleton.num_keypoints
    kps = np.asarray([r["keypoints"] for r in results], np.float64).reshape(len(results), k, 3)
    boxes = [r["bbox"] for r in results if "bbox" in r]
    return draw_pose(img, kps[..., :2], skeleton, scores=kps[..., 2], score_thr=kpt_thr, boxes=np.asarray(boxes) if boxes else None)
