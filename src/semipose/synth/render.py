"""One image: people placed in a scene, their keypoints, visibility, boxes and detector boxes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .figure import _Figure, _make_figure
from .layout import _K, _N_MATERIALS, _PART_BITS, _SPLIT_CODE, ANN_ID_FACTOR, _check_split, image_id_for
from .scene import _background, _clutter, _draw_seat, _occlude, _postprocess


@dataclass(frozen=True)
class _Settings:
    width: int
    height: int
    seed: int
    difficulty: float
    jpeg_quality: tuple[int, int]


@dataclass
class _Rendered:
    image: np.ndarray
    quality: int
    annotations: list[dict[str, Any]]
    detections: list[dict[str, Any]]
    persons_drawn: int



def _draw_figure(rng: np.random.Generator, canvas: np.ndarray, owner: np.ndarray, fig: _Figure,
                 pidx: int) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """Paint a figure; returns its ROI and in-ROI silhouette mask (None when off-image)."""
    H, W = owner.shape
    ex0, ey0, ex1, ey1 = fig.extent()
    x0, y0 = max(int(math.floor(ex0)) - 1, 0), max(int(math.floor(ey0)) - 1, 0)
    x1, y1 = min(int(math.ceil(ex1)) + 2, W), min(int(math.ceil(ey1)) + 2, H)
    if x1 <= x0 or y1 <= y0:
        return None
    h, w = y1 - y0, x1 - x0
    lab = np.zeros((h, w), np.uint8)
    off = np.array([x0, y0], np.float64)
    for p in fig.parts:
        p.draw(lab, off, int(p.pid))
    m = lab > 0
    if not m.any():
        return None
    mat_lut = np.zeros(256, np.uint8)
    shade_lut = np.ones(256, np.float32)
    for p in fig.parts:
        mat_lut[p.pid] = p.material
        shade_lut[p.pid] = p.shade
    mat = mat_lut[lab]
    col = np.zeros((h, w, 3), np.float32)
    for mi in range(1, _N_MATERIALS):
        sel = mat == mi
        if sel.any():
            np.copyto(col, fig.textures[mi].render(rng, h, w), where=sel[..., None])
    fac = shade_lut[lab]
    # outlines: internal part boundaries and the silhouette contour
    e = np.zeros((h, w), bool)
    e[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    e[1:, :] |= lab[1:, :] != lab[:-1, :]
    e[:, :-1] |= lab[:, 1:] == 0
    e[:-1, :] |= lab[1:, :] == 0
    e &= m
    fac[e] *= 0.72 if fig.height_px >= 40 else 0.85
    if fig.light != 0.0:
        fac *= (1.0 + fig.light * (np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]))
    col *= fac[..., None]
    np.clip(col, 0, 255, out=col)
    canvas[y0:y1, x0:x1][m] = col[m].astype(np.uint8)
    owner[y0:y1, x0:x1][m] = ((pidx + 1) << _PART_BITS) + lab[m].astype(owner.dtype)
    return (x0, y0, x1, y1), m


# --------------------------------------------------------------------------------------


def _place(rng: np.random.Generator, figs: list[_Figure], fig: _Figure, W: int, H: int, dif: float) -> None:
    ex0, ey0, ex1, ey1 = fig.extent()
    we, he = ex1 - ex0, ey1 - ey0

    def pick(lo: float, hi: float) -> float:
        return (lo + hi) / 2 if lo > hi else float(rng.uniform(lo, hi))

    if rng.random() < min(0.6, 0.3 * dif):  # allowed to leave the frame
        xlo, xhi = -ex0 - 0.45 * we, W - ex1 + 0.45 * we
        ylo, yhi = -ey0 - 0.3 * he, H - ey1 + 0.5 * he
    else:
        xlo, xhi = -ex0, W - ex1
        ylo, yhi = -ey0, H - ey1
    tx, ty = pick(xlo, xhi), pick(ylo, yhi)
    if figs and rng.random() < 0.5:  # next to / overlapping an earlier person
        o = figs[int(rng.integers(len(figs)))]
        ox0, oy0, ox1, oy1 = o.extent()
        gap = rng.uniform(0.25, 0.85) * max(we, ox1 - ox0) * rng.choice([-1.0, 1.0])
        tx = float(np.clip((ox0 + ox1) / 2 + gap - (ex0 + ex1) / 2, min(xlo, xhi), max(xlo, xhi)))
        ty = float(np.clip(oy1 - ey1 + rng.normal(0, 0.12) * he, min(ylo, yhi), max(ylo, yhi)))
    fig.shift(np.array([tx, ty]))


def _render(settings: _Settings, split: str, index: int) -> _Rendered:
    """Render image ``index`` of ``split``: pixels (pre-JPEG), quality, annotations, detections."""
    rng = np.random.default_rng([settings.seed, _SPLIT_CODE[split], int(index)])
    W, H, dif = settings.width, settings.height, settings.difficulty
    image_id = image_id_for(split, index)

    canvas = _background(rng, W, H, dif)
    _clutter(rng, canvas, dif)
    owner = np.zeros((H, W), np.int16)

    n = int(rng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.18, 0.12]))
    figs: list[_Figure] = []
    for _ in range(n):
        if rng.random() < min(0.3, 0.06 * dif):
            S = rng.uniform(16.0, 34.0) * H / 240.0
        else:
            hi = H * (0.95, 0.9, 0.8, 0.7)[n - 1]
            lo = max(40.0 * H / 240.0, 0.25 * H)
            S = math.exp(rng.uniform(math.log(lo), math.log(max(hi, lo + 1))))
        fig = _make_figure(rng, S)
        _place(rng, figs, fig, W, H, dif)
        figs.append(fig)
    figs.sort(key=lambda f: f.extent()[3])  # lower feet = nearer = drawn later

    rois: list[tuple[tuple[int, int, int, int], np.ndarray] | None] = []
    for p, fig in enumerate(figs):
        if fig.seat:
            _draw_seat(rng, canvas, owner, fig)
        rois.append(_draw_figure(rng, canvas, owner, fig, p))

    if figs and rng.random() < min(0.9, 0.35 * dif):
        n_occ = 1 + int(rng.random() < 0.3 * dif)
        for _ in range(n_occ):
            _occlude(rng, canvas, owner, figs[int(rng.integers(len(figs)))])

    anns: list[dict[str, Any]] = []
    det_info: list[tuple[list[float], float, float, float]] = []
    for p, (fig, roi) in enumerate(zip(figs, rois)):
        kps = np.zeros((_K, 3), np.float64)
        inside = (fig.kp[:, 0] >= 0) & (fig.kp[:, 0] <= W - 1) & (fig.kp[:, 1] >= 0) & (fig.kp[:, 1] <= H - 1)
        for k in np.flatnonzero(inside):
            x, y = fig.kp[k]
            xi, yi = int(round(x)), int(round(y))
            win = owner[max(yi - 1, 0):yi + 2, max(xi - 1, 0):xi + 2].astype(np.int32)
            mine = (win >> _PART_BITS) == p + 1
            ok = bool(fig.selfvis[k]) and any(int(o) & 63 in fig.own[k] for o in win[mine])
            kps[k] = (round(float(x), 2), round(float(y), 2), 2 if ok else 1)
        nk = int((kps[:, 2] > 0).sum())
        if nk == 0 or roi is None:
            continue
        (x0, y0, x1, y1), full = roi
        vis = (owner[y0:y1, x0:x1].astype(np.int32) >> _PART_BITS) == p + 1
        area_vis, area_full = int(vis.sum()), int(full.sum())
        box_mask = vis if area_vis >= 16 else full
        ys, xs = np.nonzero(box_mask)
        bx, by = x0 + int(xs.min()), y0 + int(ys.min())
        bw, bh = x0 + int(xs.max()) + 1 - bx, y0 + int(ys.max()) + 1 - by
        area = area_vis if area_vis >= 16 else area_full
        occ = 1.0 - area_vis / max(area_full, 1)
        trunc = bool((~inside).any())
        attrs = dict(fig.attrs)
        attrs.update(occluded_frac=round(occ, 3), truncated=trunc)
        kp_list: list[float | int] = []
        for x, y, v in kps:
            kp_list += [0, 0, 0] if v == 0 else [float(x), float(y), int(v)]
        bbox = [float(bx), float(by), float(bw), float(bh)]
        anns.append({
            "id": image_id * ANN_ID_FACTOR + p + 1,
            "image_id": image_id,
            "category_id": 1,
            "keypoints": kp_list,
            "num_keypoints": nk,
            "bbox": bbox,
            "area": float(area),
            "iscrowd": 0,
            "segmentation": [[float(bx), float(by), float(bx + bw), float(by), float(bx + bw), float(by + bh),
                              float(bx), float(by + bh)]],
            "attributes": attrs,
        })
        det_info.append((bbox, occ, float((~inside).mean()), fig.height_px))

    img = _postprocess(rng, canvas, dif)
    lo, hi = settings.jpeg_quality
    quality = int(rng.integers(lo, hi + 1))
    dets = _detections(rng, image_id, det_info, W, H, dif)
    return _Rendered(img, quality, anns, dets, len(figs))


def _detections(rng: np.random.Generator, image_id: int, info: list[tuple[list[float], float, float, float]],
                W: int, H: int, dif: float) -> list[dict[str, Any]]:
    """Detector-style boxes: jittered GT boxes with occlusion-aware scores, misses and false positives."""
    out: list[tuple[float, list[float]]] = []

    def clip_box(cx: float, cy: float, w: float, h: float) -> list[float] | None:
        x0, y0 = max(cx - w / 2, 0.0), max(cy - h / 2, 0.0)
        x1, y1 = min(cx + w / 2, float(W)), min(cy + h / 2, float(H))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        return [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]

    for (bx, by, bw, bh), occ, trunc, height in info:
        small = height < 32.0
        p_miss = 0.035 + 0.12 * occ + 0.08 * small
        if rng.random() < p_miss:
            continue
        shift = np.clip(rng.normal(0, 0.045, 2), -0.15, 0.15)
        scale = np.exp(np.clip(rng.normal(0, 0.06, 2), -0.15, 0.15))
        box = clip_box(bx + bw / 2 + shift[0] * bw, by + bh / 2 + shift[1] * bh, bw * scale[0], bh * scale[1])
        if box is None:
            continue
        score = 0.97 - 0.4 * occ - 0.3 * trunc - 0.2 * small - 0.6 * float(np.abs(shift).sum()) + rng.normal(0, 0.07)
        out.append((float(np.clip(score, 0.05, 0.999)), box))
    n_fp = int(rng.poisson(0.35 + 0.35 * dif))
    for _ in range(n_fp):
        h = rng.uniform(0.12, 0.7) * H
        w = h * rng.uniform(0.3, 0.9)
        box = clip_box(rng.uniform(0, W), rng.uniform(0, H), w, h)
        if box is None:
            continue
        score = rng.uniform(0.02, 0.45) if rng.random() < 0.85 else rng.uniform(0.45, 0.75)
        out.append((float(score), box))
    out.sort(key=lambda t: -t[0])
    return [{"image_id": image_id, "category_id": 1, "bbox": b, "score": round(s, 4)} for s, b in out]


def render_synthetic_image(seed: int = 0, split: str = "train", index: int = 0, *,
                           image_size: tuple[int, int] = (320, 240), difficulty: float = 1.0,
                           jpeg_quality: tuple[int, int] | None = (70, 95)
                           ) -> tuple[np.ndarray, list[dict[str, Any]], list[dict[str, Any]]]:
    """Render one image exactly as :func:`generate_synthetic` would, without writing files.

    Returns ``(image, annotations, detections)``: the BGR uint8 image (JPEG-decoded, i.e.
    the pixels of the written file, unless ``jpeg_quality`` is None), its COCO annotations
    and its detection results. Useful for previews and tests.
    """
    _check_split(split)
    q = (70, 95) if jpeg_quality is None else jpeg_quality
    st = _Settings(int(image_size[0]), int(image_size[1]), int(seed), float(difficulty), (int(q[0]), int(q[1])))
    r = _render(st, split, index)
    img = r.image
    if jpeg_quality is not None:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, r.quality])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        assert decoded is not None, "a JPEG this process encoded decodes"
        img = decoded
    return img, r.annotations, r.detections


# --------------------------------------------------------------------------------------
