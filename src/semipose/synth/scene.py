"""Around the people: backgrounds, clutter and limb-like distractors, seats, occluders, photometric post-processing."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .figure import _Figure
from .layout import _HAIR_COLOURS, _K, _OCCLUDER_OWNER, _SCALE, _SHIFT, L_ANK, L_HIP, L_KNE, L_SHO, R_ANK, R_HIP, R_KNE, R_SHO
from .paint import _draw_capsule, _draw_ellipse, _ipt, _random_colour, _random_texture, _rgb, _skin_colour, _Texture


def _paint_mask(canvas: np.ndarray, x0: int, y0: int, mask: np.ndarray, tex: _Texture, rng: np.random.Generator,
                owner: np.ndarray | None = None, owner_value: int = 0) -> None:
    """Fill ``mask`` (a patch whose top-left is ``x0, y0``, may hang off the image) with a texture."""
    H, W = canvas.shape[:2]
    h, w = mask.shape
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + w, W), min(y0 + h, H)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    sub = mask[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    if not sub.any():
        return
    t = tex.render(rng, cy1 - cy0, cx1 - cx0)
    np.clip(t, 0, 255, out=t)
    canvas[cy0:cy1, cx0:cx1][sub] = t[sub].astype(np.uint8)
    if owner is not None:
        owner[cy0:cy1, cx0:cx1][sub] = owner_value


def _shape_mask(rng: np.random.Generator, kind: str, cx: float, cy: float, sx: float, sy: float
                ) -> tuple[int, int, np.ndarray]:
    """A random filled shape around (cx, cy) with half-sizes (sx, sy): (x0, y0, mask)."""
    x0, y0 = int(math.floor(cx - sx)) - 1, int(math.floor(cy - sy)) - 1
    w, h = int(math.ceil(2 * sx)) + 3, int(math.ceil(2 * sy)) + 3
    m = np.zeros((max(h, 1), max(w, 1)), np.uint8)
    c = np.array([cx - x0, cy - y0])
    if kind == "rect":
        cv2.rectangle(m, (1, 1), (w - 2, h - 2), 1, -1)
    elif kind == "ellipse":
        _draw_ellipse(m, c, (sx, sy), 0.0, 1)
    elif kind == "blob":
        n = int(rng.integers(5, 10))
        a = np.sort(rng.uniform(0, 2 * math.pi, n))
        rr = rng.uniform(0.55, 1.0, n)
        poly = np.stack([c[0] + np.cos(a) * rr * sx, c[1] + np.sin(a) * rr * sy], axis=1)
        cv2.fillPoly(m, [np.round(poly * _SCALE).astype(np.int32)], 1, cv2.LINE_8, _SHIFT)
    elif sy > sx:  # rounded rect ("rrect"): a capsule along the long side
        _draw_capsule(m, np.array([c[0], c[1] - sy + sx]), np.array([c[0], c[1] + sy - sx]), sx, sx, 1)
    else:
        _draw_capsule(m, np.array([c[0] - sx + sy, c[1]]), np.array([c[0] + sx - sy, c[1]]), sy, sy, 1)
    return x0, y0, m.astype(bool)


def _background(rng: np.random.Generator, W: int, H: int, dif: float) -> np.ndarray:
    """A textured background, uint8 BGR."""
    kind = str(rng.choice(["gradient", "blotch", "room", "texture"], p=[0.25, 0.25, 0.3, 0.2]))
    c1, c2 = _random_colour(rng, val=(0.15, 0.9)), _random_colour(rng, val=(0.15, 0.9))
    yy = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :]
    if kind == "gradient":
        a = rng.uniform(0, 2 * math.pi)
        t = xx * math.cos(a) + yy * math.sin(a)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        bg = c1 + t[..., None] * (c2 - c1)
    elif kind == "blotch":
        n = int(rng.integers(2, 7))
        small = rng.uniform(0, 255, (n, n + 1, 3)).astype(np.float32)
        bg = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)
        bg = 0.5 * bg + 0.5 * (c1 + yy[..., None] * (c2 - c1))
    elif kind == "room":
        hy = int(H * rng.uniform(0.35, 0.8))
        bg = np.empty((H, W, 3), np.float32)
        wall = _random_texture(rng, c1=c1, scale=rng.uniform(1.5, 5.0), probs=(0.45, 0.2, 0.05, 0.05, 0.05, 0.15, 0.05))
        floor = _random_texture(rng, c1=c2, scale=rng.uniform(2.0, 6.0), probs=(0.35, 0.2, 0.25, 0.0, 0.0, 0.2, 0.0))
        bg[:hy] = wall.render(rng, hy, W)
        bg[hy:] = floor.render(rng, H - hy, W)
        bg[hy:] *= (0.8 + 0.35 * (yy[: H - hy] * H / max(H - hy, 1)))[..., None].clip(0, 1.3)
    else:
        tex = _random_texture(rng, c1=c1, scale=rng.uniform(1.5, 6.0), probs=(0.0, 0.3, 0.2, 0.15, 0.1, 0.15, 0.1))
        bg = tex.render(rng, H, W)
    # reduce contrast a little so people stand out; add smooth noise
    k = np.float32(rng.uniform(0.55, 0.9) if dif <= 1.0 else rng.uniform(0.65, 1.0))
    mean = bg.reshape(-1, 3).mean(0)
    bg = mean + (bg - mean) * k
    sm = rng.standard_normal((H // 8 + 2, W // 8 + 2), dtype=np.float32)
    bg += cv2.resize(sm, (W, H), interpolation=cv2.INTER_LINEAR)[..., None] * np.float32(rng.uniform(2, 10))
    return np.clip(bg, 0, 255).astype(np.uint8)


def _clutter(rng: np.random.Generator, canvas: np.ndarray, dif: float) -> None:
    """Random shapes and limb-like distractors on the background."""
    H, W = canvas.shape[:2]
    n_shapes = int(rng.poisson(2.0 + 4.0 * dif)) if dif > 0 else int(rng.integers(0, 3))
    for _ in range(n_shapes):
        kind = str(rng.choice(["rect", "ellipse", "blob", "rrect", "line"], p=[0.3, 0.2, 0.2, 0.15, 0.15]))
        if kind == "line":
            p0 = rng.uniform(0, 1, 2) * (W, H)
            p1 = p0 + rng.normal(0, 0.35, 2) * (W, H)
            line_col = tuple(float(v) for v in _random_colour(rng))
            cv2.line(canvas, _ipt(p0), _ipt(p1), line_col, int(rng.integers(1, 6)), cv2.LINE_AA, _SHIFT)
            continue
        sx, sy = rng.uniform(0.03, 0.3) * W, rng.uniform(0.03, 0.3) * H
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
        x0, y0, m = _shape_mask(rng, kind, cx, cy, sx, sy)
        tex = _random_texture(rng, scale=rng.uniform(0.6, 3.0), probs=(0.55, 0.12, 0.08, 0.05, 0.05, 0.1, 0.05))
        _paint_mask(canvas, x0, y0, m, tex, rng)
    n_limbs = int(rng.poisson(2.5 * dif))
    for _ in range(n_limbs):
        col = _skin_colour(rng) if rng.random() < 0.5 else _random_colour(rng)
        L = rng.uniform(0.08, 0.35) * H
        r0 = rng.uniform(0.015, 0.05) * H
        r1 = r0 * rng.uniform(0.6, 1.0)
        a = rng.uniform(0, 2 * math.pi)
        p0 = rng.uniform(0, 1, 2) * (W, H)
        p1 = p0 + L * np.array([math.cos(a), math.sin(a)])
        segs = [(p0, p1, r0, r1)]
        if rng.random() < 0.4:
            a2 = a + rng.uniform(-2.2, 2.2)
            p2 = p1 + L * rng.uniform(0.6, 1.1) * np.array([math.cos(a2), math.sin(a2)])
            segs.append((p1, p2, r1, r1 * rng.uniform(0.65, 0.95)))
        dark = tuple(float(v) for v in col * 0.7)
        bright = tuple(float(v) for v in col)
        for q0, q1, ra, rb in segs:
            _draw_capsule(canvas, q0, q1, ra, rb, dark, cv2.LINE_AA)
        for q0, q1, ra, rb in segs:
            _draw_capsule(canvas, q0, q1, ra - 1, rb - 1, bright, cv2.LINE_AA)
        if rng.random() < 0.3:
            end = segs[-1][1]
            sk = tuple(float(v) for v in _skin_colour(rng))
            cv2.circle(canvas, _ipt(end), int(segs[-1][3] * 1.2 * _SCALE), sk, -1, cv2.LINE_AA, _SHIFT)
    if rng.random() < 0.1 * dif:  # a head-like blob (poster, statue)
        c = rng.uniform(0, 1, 2) * (W, H)
        r = rng.uniform(0.03, 0.08) * H
        _draw_ellipse(canvas, c, (0.85 * r, r), rng.uniform(-20, 20), tuple(float(v) for v in _skin_colour(rng)),
                      line_type=cv2.LINE_AA)
        hc = tuple(float(v) for v in _rgb(_HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]))
        _draw_ellipse(canvas, c - (0, 0.3 * r), (0.9 * r, 0.7 * r), 0.0, hc, arc=(180.0, 360.0), line_type=cv2.LINE_AA)


def _draw_seat(rng: np.random.Generator, canvas: np.ndarray, owner: np.ndarray, fig: _Figure) -> None:
    """A box-like seat (and maybe a back rest) under a sitting figure, behind its legs."""
    k = fig.kp
    S = fig.height_px
    hips_y = float(k[[L_HIP, R_HIP], 1].mean())
    floor_y = float(k[[L_ANK, R_ANK], 1].max()) + 0.03 * S
    xs = k[[L_HIP, R_HIP, L_KNE, R_KNE], 0]
    x0, x1 = float(xs.min()) - 0.08 * S, float(xs.max()) + 0.08 * S
    top = hips_y + 0.02 * S
    if floor_y - top < 0.05 * S:
        return
    tex = _random_texture(rng, scale=max(S / 100, 0.5), probs=(0.6, 0.2, 0.0, 0.0, 0.0, 0.2, 0.0))
    cx, cy = (x0 + x1) / 2, (top + floor_y) / 2
    X, Y, m = _shape_mask(rng, "rect", cx, cy, (x1 - x0) / 2, (floor_y - top) / 2)
    _paint_mask(canvas, X, Y, m, tex, rng, owner, _OCCLUDER_OWNER)
    if rng.random() < 0.5:
        sx = float(k[[L_SHO, R_SHO], 0].mean())
        bx0, bx1 = sx - 0.12 * S, sx + 0.12 * S
        X, Y, m = _shape_mask(rng, "rect", (bx0 + bx1) / 2, hips_y - 0.15 * S, 0.12 * S, 0.17 * S)
        _paint_mask(canvas, X, Y, m, tex, rng, owner, _OCCLUDER_OWNER)


def _occlude(rng: np.random.Generator, canvas: np.ndarray, owner: np.ndarray, fig: _Figure) -> None:
    """Draw one occluder over part of ``fig``."""
    H, W = owner.shape
    ex0, ey0, ex1, ey1 = fig.extent()
    bw, bh = ex1 - ex0, ey1 - ey0
    kind = str(rng.choice(["rect", "ellipse", "blob", "rrect", "pole", "ledge"], p=[0.22, 0.14, 0.2, 0.12, 0.12, 0.2]))
    tex = _random_texture(rng, scale=rng.uniform(0.8, 3.0), probs=(0.45, 0.15, 0.1, 0.05, 0.05, 0.15, 0.05))
    if kind == "ledge":
        top = ey0 + rng.uniform(0.45, 0.8) * bh
        x0 = ex0 - rng.uniform(0.0, 0.5) * bw
        x1 = ex1 + rng.uniform(0.0, 0.5) * bw
        bottom = min(ey1 + rng.uniform(0.0, 0.3) * bh, H + 2.0)
        X, Y, m = _shape_mask(rng, "rect", (x0 + x1) / 2, (top + bottom) / 2, (x1 - x0) / 2,
                              max((bottom - top) / 2, 1.0))
    elif kind == "pole":
        wdt = rng.uniform(0.05, 0.2) * fig.height_px
        cx = rng.uniform(ex0 + 0.1 * bw, ex1 - 0.1 * bw)
        top = rng.uniform(-0.2 * H, ey0 + 0.3 * bh)
        X, Y, m = _shape_mask(rng, "rect", cx, (top + H) / 2, wdt / 2, (H - top) / 2 + 1)
    else:
        inside = [i for i in range(_K) if 0 <= fig.kp[i, 0] < W and 0 <= fig.kp[i, 1] < H]
        c = fig.kp[int(rng.choice(inside))] if inside else np.array([(ex0 + ex1) / 2, (ey0 + ey1) / 2])
        c = c + rng.normal(0, 0.08, 2) * fig.height_px
        sz = rng.uniform(0.1, 0.25) * fig.height_px
        X, Y, m = _shape_mask(rng, kind, float(c[0]), float(c[1]), sz * rng.uniform(0.6, 1.4),
                              sz * rng.uniform(0.6, 1.4))
    _paint_mask(canvas, X, Y, m, tex, rng, owner, _OCCLUDER_OWNER)


def _postprocess(rng: np.random.Generator, img: np.ndarray, dif: float) -> np.ndarray:
    """Photometric jitter, blur and noise."""
    H, W = img.shape[:2]
    gamma = math.exp(rng.normal(0, 0.12))
    gain = np.exp(rng.normal(0, 0.05, 3) + rng.normal(0, 0.12))
    lut = np.clip(255.0 * (np.arange(256)[:, None] / 255.0) ** gamma * gain[None, :], 0, 255).astype(np.uint8)
    img = cv2.LUT(img, lut.reshape(256, 1, 3))
    r = rng.random()
    p_gauss, p_motion = min(0.4, 0.22 * dif), min(0.25, 0.12 * dif)
    if r < p_gauss:
        sigma = rng.uniform(0.7, 0.8 + 0.9 * min(dif, 2.0))
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    elif r < p_gauss + p_motion:
        length = int(rng.integers(3, 4 + int(round(4 * min(dif, 2.0)))))
        ker = np.zeros((length, length), np.float32)
        a = rng.uniform(0, math.pi)
        c = (length - 1) / 2
        d = np.array([math.cos(a), math.sin(a)]) * c
        cv2.line(ker, _ipt((c - d[0], c - d[1])), _ipt((c + d[0], c + d[1])), 1.0, 1, cv2.LINE_AA, _SHIFT)
        ker /= max(float(ker.sum()), 1e-6)
        img = cv2.filter2D(img, -1, ker)
    elif rng.random() < 0.7:
        img = cv2.GaussianBlur(img, (3, 3), 0.55)
    if rng.random() < 0.6 and dif > 0:
        sigma = rng.uniform(1.0, 1.0 + 5.0 * min(dif, 2.0))
        noise = rng.standard_normal((H, W, 1), dtype=np.float32) * np.float32(sigma)
        noise = noise + rng.standard_normal((H, W, 3), dtype=np.float32) * np.float32(sigma * 0.4)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return img


# --------------------------------------------------------------------------------------
