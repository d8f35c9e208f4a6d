"""Drawing primitives: rotations, colours, sub-pixel capsules / ellipses / polygons, clothing textures."""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .layout import _SCALE, _SHIFT, _SKIN_TONES


def _rot_x(a: float) -> np.ndarray:
    """Rotation about the lateral axis; positive angles take +Y (down) towards +Z (front)."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    """Rotation about the vertical axis; positive angles take +Z (front) towards +X (left)."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    """Rotation in the frontal plane; positive angles take +Y (down) towards +X (left)."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else v


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """BGR float32 colour (0-255) from HSV in [0, 1]."""
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return np.array([b * 255.0, g * 255.0, r * 255.0], dtype=np.float32)


def _rgb(c: Sequence[float]) -> np.ndarray:
    return np.array([c[2], c[1], c[0]], dtype=np.float32)


def _random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.0, 0.9),
                   val: tuple[float, float] = (0.12, 0.95)) -> np.ndarray:
    return _hsv(rng.random(), rng.uniform(*sat), rng.uniform(*val))


def _contrast_colour(rng: np.random.Generator, c: np.ndarray) -> np.ndarray:
    r = rng.random()
    if r < 0.35:
        return _random_colour(rng)
    if r < 0.6:
        return c * np.float32(rng.uniform(0.35, 0.7))
    if r < 0.85:
        return c + (255.0 - c) * np.float32(rng.uniform(0.35, 0.75))
    return np.full(3, 235.0 if rng.random() < 0.6 else 25.0, np.float32)


def _skin_colour(rng: np.random.Generator) -> np.ndarray:
    c = _rgb(_SKIN_TONES[rng.integers(len(_SKIN_TONES))])
    return np.clip(c + rng.normal(0.0, 7.0, 3).astype(np.float32), 0, 255)


def _ipt(p: Sequence[float] | np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]) * _SCALE)), int(round(float(p[1]) * _SCALE))


def _draw_capsule(img: np.ndarray, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float,
                  value: Any, line_type: int = cv2.LINE_8) -> None:
    """Tapered capsule: a quadrilateral between two discs of radius ``r0`` and ``r1``."""
    r0, r1 = max(float(r0), 0.5), max(float(r1), 0.5)
    d = np.asarray(p1, np.float64) - np.asarray(p0, np.float64)
    length = math.hypot(d[0], d[1])
    if length > 1e-3:
        n = np.array([-d[1], d[0]]) / length
        quad = np.array([p0 + n * r0, p1 + n * r1, p1 - n * r1, p0 - n * r0])
        cv2.fillConvexPoly(img, np.round(quad * _SCALE).astype(np.int32), value, line_type, _SHIFT)
    cv2.circle(img, _ipt(p0), int(round(r0 * _SCALE)), value, -1, line_type, _SHIFT)
    cv2.circle(img, _ipt(p1), int(round(r1 * _SCALE)), value, -1, line_type, _SHIFT)


def _draw_ellipse(img: np.ndarray, c: np.ndarray, axes: tuple[float, float], angle: float,
                  value: Any, arc: tuple[float, float] = (0.0, 360.0), line_type: int = cv2.LINE_8) -> None:
    ax = (max(int(round(axes[0] * _SCALE)), 1), max(int(round(axes[1] * _SCALE)), 1))
    cv2.ellipse(img, _ipt(c), ax, float(angle), float(arc[0]), float(arc[1]), value, -1, line_type, _SHIFT)


def _draw_poly(img: np.ndarray, pts: np.ndarray, value: Any, line_type: int = cv2.LINE_8) -> None:
    hull = cv2.convexHull(np.round(np.asarray(pts) * _SCALE).astype(np.int32))
    cv2.fillConvexPoly(img, hull, value, line_type, _SHIFT)


# textures

_PATTERNS = ("solid", "stripes", "checks", "plaid", "dots", "noise", "camo")


@dataclass
class _Texture:
    """A texture description; :meth:`render` makes pixels for a ``(h, w)`` patch."""

    kind: str
    c1: np.ndarray
    c2: np.ndarray
    period: float = 6.0
    angle: float = 0.0
    duty: float = 0.5
    grain: float = 0.0

    def render(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        """``(h, w, 3)`` float32 BGR."""
        k = self.kind
        p = max(self.period, 2.0)
        if k == "solid":
            out = np.empty((h, w, 3), np.float32)
            out[:] = self.c1
        else:
            yy = np.arange(h, dtype=np.float32)[:, None]
            xx = np.arange(w, dtype=np.float32)[None, :]
            ca, sa = math.cos(self.angle), math.sin(self.angle)
            if k == "stripes":
                t = (xx * ca + yy * sa) / p
                m = ((t - np.floor(t)) < self.duty).astype(np.float32)
            elif k == "checks":
                u = (xx * ca + yy * sa) / p
                v = (yy * ca - xx * sa) / p
                m = ((np.floor(u) + np.floor(v)) % 2.0).astype(np.float32)
            elif k == "plaid":
                u = (xx * ca + yy * sa) / p
                v = (yy * ca - xx * sa) / (p * 1.3)
                m = 0.5 * (((u - np.floor(u)) < self.duty * 0.6).astype(np.float32)
                           + ((v - np.floor(v)) < self.duty * 0.6).astype(np.float32))
            elif k == "dots":
                u = (xx * ca + yy * sa) / p
                v = (yy * ca - xx * sa) / p
                fu = u - np.floor(u) - 0.5
                fv = v - np.floor(v) - 0.5
                m = ((fu * fu + fv * fv) < (0.45 * self.duty) ** 2).astype(np.float32)
            else:  # noise / camo: smooth low-resolution noise
                sh, sw = max(2, int(h / p) + 2), max(2, int(w / p) + 2)
                small = rng.random((sh, sw), dtype=np.float32)
                m = np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
                if k == "camo":
                    m = (m > 0.5).astype(np.float32)
            out = self.c1 + m[..., None] * (self.c2 - self.c1)
        if self.grain > 0:
            sh, sw = max(2, h // 2), max(2, w // 2)
            g = rng.standard_normal((sh, sw), dtype=np.float32) * np.float32(self.grain)
            out += cv2.resize(g, (w, h), interpolation=cv2.INTER_NEAREST)[..., None]
        return out


def _random_texture(rng: np.random.Generator, c1: np.ndarray | None = None, scale: float = 1.0,
                    kinds: Sequence[str] = _PATTERNS, probs: Sequence[float] | None = None) -> _Texture:
    c1 = _random_colour(rng) if c1 is None else c1
    kind = str(kinds[rng.choice(len(kinds), p=probs)])
    return _Texture(
        kind=kind,
        c1=c1,
        c2=_contrast_colour(rng, c1),
        period=float(rng.uniform(2.5, 9.0) * scale),
        angle=float(rng.choice([0.0, math.pi / 2, rng.uniform(0, math.pi)], p=[0.4, 0.35, 0.25])),
        duty=float(rng.uniform(0.3, 0.7)),
        grain=float(rng.uniform(0.0, 5.0)),
    )


# --------------------------------------------------------------------------------------
