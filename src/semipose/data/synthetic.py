"""Built-in synthetic COCO-format keypoint dataset: a small, offline stand-in for COCO.

Everything is drawn procedurally with OpenCV and numpy (no downloaded assets) and is
deterministic per seed.

The generator
-------------
Each image is a cluttered textured background (gradients, smooth colour blotches, "rooms"
with a wall and a floor, patterned walls, random shapes) with *limb-like distractors*
(outlined capsules in skin or clothing colours, sometimes bent or ending in a hand-like
blob, rarely a head-like blob) on which 1-4 articulated people are drawn.

A person is a 3-D stick figure (standing height 1) with sampled body proportions (girth,
shoulder/hip width, limb lengths, some children), posed by joint angles (standing,
walking/running, arms raised, sitting -- often on a drawn seat --, crouching, bending /
leaning, "action" poses with kicks and large arm motions) and projected orthographically
at a sampled yaw, in-plane roll and scale. The yaw picks the **facing** (``front``,
``back``, ``profile_left``, ``profile_right``, each jittered by up to ~25 degrees) and
makes left and right decidable from face cues as in real photos:

* ``front``: both eyes, nose and mouth are drawn; the person's anatomical left is on the
  image right.
* ``back``: hair covers the head, no face features, both ears at the sides; the person's
  left is on the image left.
* ``profile_left`` / ``profile_right``: the person's left / right side faces the camera,
  i.e. the nose points to the image left / right; one eye, a nose sticking out sideways and
  one ear are drawn.

Body parts are tapered capsules (limbs, in clothing colour, or skin for short sleeves and
shorts), convex polygons (torso, pelvis) and ellipses (head, hair, ears, eyes), painted
back to front by depth so that far-side limbs go behind the torso and near-side limbs in
front. Clothing is textured (solid, stripes, checks, plaid, dots, smooth noise,
camouflage) with random colours; skin tones, hair colours and styles (short, long, hats)
vary; parts get a thin darker outline and far-side limbs are shaded darker.

After the people, random occluders (boxes, blobs, ellipses, poles, counters/tables over the
legs) are drawn over some of them, then the image gets a photometric jitter, optional
Gaussian or motion blur, sensor noise and JPEG compression at a random quality.

Keypoints and visibility (COCO conventions)
-------------------------------------------
The 17 COCO keypoints are the projected joints (``nose`` is the nose tip, eyes/ears the
drawn features). Flags: ``2`` visible; ``1`` labelled but occluded -- covered by another
person, an occluder or a seat, or self-occluded (a far-side joint behind the torso in a
profile view, face keypoints facing away from the camera such as the far ear in profile or
the eyes/nose in a back view, a limb crossing behind the body); ``0`` outside the image,
written as ``0, 0, 0``. A keypoint counts as inside when ``0 <= x <= W-1`` and
``0 <= y <= H-1``. ``bbox`` is the tight box of the visible silhouette (the person's own
pixels left after everything drawn in front of it), ``area`` its pixel count; when fewer
than 16 pixels are visible, the box and area of the whole in-image silhouette are used
instead. People with no keypoint of ``v > 0`` are drawn but not annotated. Annotations
also carry a non-COCO ``attributes`` dict (``facing``, ``pose``, ``yaw``, ``height_px``,
``occluded_frac``, ``truncated``) for analysis; pycocotools ignores it.

Output layout
-------------
::

    OUT/
      annotations/person_keypoints_train.json      labelled split (COCO keypoint format)
      annotations/person_keypoints_val.json        validation split with ground truth
      annotations/image_info_unlabeled.json        unlabelled split: info, licenses,
                                                   categories, images (no 'annotations')
      annotations/person_keypoints_unlabeled.json  ground truth of the unlabelled split
                                                   (for analysis only)
      annotations/detections_val.json             detector-style results for val images
      annotations/detections_unlabeled.json       ... and for the unlabelled images
      images/train/000000000001.jpg ...            file name = 12-digit image id + ".jpg"
      images/val/000001000001.jpg ...
      images/unlabeled/000002000001.jpg ...
      synth.json                                   settings, id scheme and counts

Id scheme
---------
Image ids are unique across splits: image ``i`` (0-based) of a split has id
``IMAGE_ID_OFFSET[split] + i + 1``, i.e. train ``1 ...``, val ``1_000_001 ...``,
unlabeled ``2_000_001 ...`` (hence at most 999 999 images per split). Annotation ids are
``image_id * 10 + k`` with ``k`` = 1-4 the person's depth rank in the image (drawn back
to front), so they are unique too.

Detections
----------
The detection files are COCO results lists (``image_id``, ``category_id`` 1, ``bbox``,
``score``) made from the ground-truth boxes with realistic jitter (centre shift and size
change of a few up to 15 %), scores mostly 0.5-1.0 but lower for occluded, truncated or
small people, ~5 % of people missed, plus false positives (random person-shaped boxes with
scores mostly below 0.5), so that a score threshold matters.

Knobs
-----
``difficulty`` (default 1.0, 0-4) scales all nuisance factors: clutter and distractor
counts, occluder and truncation probability, fraction of tiny people, blur and noise
strength, detector false positives. ``difficulty=0`` gives clean people on calm
backgrounds; 2 is markedly harder. ``image_size``, ``jpeg_quality`` and the split sizes
are the other settings.

Determinism
-----------
Image ``i`` of a split is rendered from ``np.random.default_rng([seed, split_code, i])``
(``split_code`` 0 train, 1 val, 2 unlabeled) and nothing else, so the output is
byte-identical for a seed whatever the number of worker processes.
"""

from __future__ import annotations

import colorsys
import json
import math
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from semipose.skeletons import COCO17
from ..errors import ConfigError

__all__ = [
    "GENERATOR_VERSION",
    "SPLITS",
    "IMAGE_ID_OFFSET",
    "MAX_IMAGES_PER_SPLIT",
    "FACINGS",
    "POSE_KINDS",
    "SynthSummary",
    "generate_synthetic",
    "render_synthetic_image",
    "image_id_for",
    "file_name_for",
    "coco_category",
]

GENERATOR_VERSION = "1.0"

#: Split names, in generation order.
SPLITS: tuple[str, ...] = ("train", "val", "unlabeled")
_SPLIT_CODE: dict[str, int] = {"train": 0, "val": 1, "unlabeled": 2}
#: Image id of image ``i`` of a split is ``IMAGE_ID_OFFSET[split] + i + 1``.
IMAGE_ID_OFFSET: dict[str, int] = {"train": 0, "val": 1_000_000, "unlabeled": 2_000_000}
MAX_IMAGES_PER_SPLIT = 999_999
#: Annotation id = image id * ANN_ID_FACTOR + depth rank (1-based).
ANN_ID_FACTOR = 10

FACINGS: tuple[str, ...] = ("front", "back", "profile_left", "profile_right")
_FACING_PROBS = (0.40, 0.20, 0.20, 0.20)
# Camera yaw of each facing (radians): 0 = facing the camera; +90 deg = the person's left
# side towards the camera (nose pointing to the image left).
_FACING_YAW = {"front": 0.0, "back": math.pi, "profile_left": math.pi / 2, "profile_right": -math.pi / 2}
_FACING_JITTER_DEG = {"front": 25.0, "back": 25.0, "profile_left": 15.0, "profile_right": 15.0}

POSE_KINDS: tuple[str, ...] = ("stand", "walk", "arms_up", "sit", "crouch", "lean", "action")
_POSE_PROBS = (0.26, 0.22, 0.14, 0.10, 0.08, 0.08, 0.12)

_K = COCO17.num_keypoints
(NOSE, L_EYE, R_EYE, L_EAR, R_EAR, L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI,
 L_HIP, R_HIP, L_KNE, R_KNE, L_ANK, R_ANK) = range(17)

# Material codes of body parts (index into a person's texture table).
_SKIN, _SHIRT, _TROUSERS, _SHOES, _HAIR, _EYE_WHITE, _PUPIL, _MOUTH, _SKIN_DARK, _HAT = range(1, 11)
_N_MATERIALS = 11

_OCCLUDER_OWNER = 1  # owner-map value of occluders and seats; persons use (p + 1) * 64 + part
_PART_BITS = 6

# Skin tones (RGB), light to dark; hair colours (RGB) with sampling weights.
_SKIN_TONES = np.array(
    [(255, 224, 196), (241, 194, 167), (232, 180, 150), (224, 172, 138), (198, 134, 100),
     (176, 118, 84), (150, 96, 66), (120, 75, 50), (92, 58, 40)], dtype=np.float32)
_HAIR_COLOURS = np.array(
    [(22, 18, 16), (45, 32, 24), (70, 48, 32), (110, 75, 45), (196, 164, 108), (150, 72, 40),
     (140, 140, 140), (215, 212, 205)], dtype=np.float32)
_HAIR_P = np.array([0.28, 0.22, 0.16, 0.1, 0.1, 0.05, 0.06, 0.03])

_SHIFT = 3  # sub-pixel bits for cv2 drawing
_SCALE = float(1 << _SHIFT)


def image_id_for(split: str, index: int) -> int:
    """COCO image id of image ``index`` (0-based) of ``split``."""
    return IMAGE_ID_OFFSET[split] + int(index) + 1


def file_name_for(image_id: int) -> str:
    """File name of an image: the 12-digit zero-padded id plus ``.jpg``."""
    return f"{int(image_id):012d}.jpg"


def coco_category() -> dict[str, Any]:
    """The single COCO ``categories`` entry (person, 17 keypoints, 1-based skeleton)."""
    return {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO17.keypoints),
        "skeleton": [[a + 1, b + 1] for a, b in COCO17.edges],
    }


# --------------------------------------------------------------------------------------
# small geometry / colour helpers
# --------------------------------------------------------------------------------------


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


def _ipt(p: Sequence[float]) -> tuple[int, int]:
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


# --------------------------------------------------------------------------------------
# textures
# --------------------------------------------------------------------------------------

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
                m = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
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
# the person model
# --------------------------------------------------------------------------------------


def _sample_pose(rng: np.random.Generator) -> tuple[str, dict[str, float]]:
    """A pose kind and its joint angles (degrees)."""
    kind = POSE_KINDS[int(rng.choice(len(POSE_KINDS), p=_POSE_PROBS))]
    u = rng.uniform
    a: dict[str, float] = {
        "lean_fwd": float(rng.normal(0.0, 4.0)),
        "lean_side": float(rng.normal(0.0, 3.0)),
        "twist": float(rng.normal(0.0, 6.0)),
        "head_yaw": float(np.clip(rng.normal(0.0, 8.0), -18.0, 18.0)),
        "head_pitch": float(rng.normal(0.0, 7.0)),
        "head_roll": float(rng.normal(0.0, 5.0)),
    }

    def arm(s: str, flex: float, abd: float, bend: float, roll: float) -> None:
        a[f"arm_flex_{s}"], a[f"arm_abd_{s}"], a[f"arm_bend_{s}"], a[f"arm_roll_{s}"] = flex, abd, bend, roll

    def leg(s: str, flex: float, abd: float, knee: float, toe: float) -> None:
        a[f"leg_flex_{s}"], a[f"leg_abd_{s}"], a[f"leg_knee_{s}"], a[f"leg_toe_{s}"] = flex, abd, knee, toe

    for s in "lr":
        arm(s, u(-12, 18), u(4, 22), u(0, 35), u(-10, 40))
        leg(s, u(-6, 8), u(0, 8), u(0, 10), u(0, 20))
    if kind == "stand":
        for s in "lr":
            r = rng.random()
            if r < 0.2:  # hand on hip
                arm(s, u(-10, 5), u(30, 50), u(85, 115), u(55, 90))
            elif r < 0.35:  # holding something in front
                arm(s, u(20, 50), u(0, 15), u(70, 120), u(30, 70))
            elif r < 0.42:  # hand to the face
                arm(s, u(15, 45), u(5, 25), u(120, 145), u(10, 40))
    elif kind == "walk":
        run = rng.random() < 0.25
        sw = u(25, 50) if run else u(12, 32)
        lead, trail = ("l", "r") if rng.random() < 0.5 else ("r", "l")
        leg(lead, sw, u(0, 6), u(20, 60) if run else u(0, 20), u(0, 15))
        leg(trail, -sw * u(0.6, 1.0), u(0, 6), u(40, 100) if run else u(10, 40), u(0, 15))
        arm(lead, -sw * u(0.5, 1.1), u(4, 14), u(70, 100) if run else u(5, 40), u(0, 25))
        arm(trail, sw * u(0.5, 1.1), u(4, 14), u(70, 100) if run else u(5, 40), u(0, 25))
        if run:
            a["lean_fwd"] += u(5, 15)
    elif kind == "arms_up":
        raised = [s for s in "lr" if rng.random() < 0.6] or [str(rng.choice(["l", "r"]))]
        for s in raised:
            if rng.random() < 0.5:
                arm(s, u(-10, 30), u(60, 175), u(0, 90), u(-20, 30))
            else:
                arm(s, u(60, 175), u(0, 30), u(0, 90), u(-20, 40))
    elif kind == "sit":
        for s in "lr":
            leg(s, u(65, 100), u(3, 20), u(65, 110), u(0, 20))
            arm(s, u(10, 50), u(5, 20), u(30, 90), u(10, 50))
        a["lean_fwd"] = u(-10, 20)
    elif kind == "crouch":
        for s in "lr":
            leg(s, u(80, 125), u(5, 25), u(95, 145), u(5, 25))
            arm(s, u(20, 80), u(5, 25), u(10, 90), u(0, 40))
        a["lean_fwd"] = u(15, 45)
    elif kind == "lean":
        if rng.random() < 0.6:  # bending forward, arms hanging
            lf = u(20, 70)
            a["lean_fwd"] = lf
            for s in "lr":
                arm(s, lf * u(0.6, 1.1) + u(-10, 20), u(0, 20), u(0, 40), u(0, 30))
        else:  # leaning sideways
            a["lean_side"] = float(rng.choice([-1.0, 1.0]) * u(10, 28))
            s = str(rng.choice(["l", "r"]))
            arm(s, u(-10, 40), u(20, 100), u(0, 90), u(0, 40))
    else:  # action: sports / dance
        for s in "lr":
            arm(s, u(-40, 170), u(0, 160), u(0, 140), u(-30, 60))
        kick = str(rng.choice(["l", "r"]))
        leg(kick, u(-30, 95), u(0, 45), u(0, 120), u(0, 20))
        if rng.random() < 0.3:
            other = "r" if kick == "l" else "l"
            leg(other, u(0, 30), u(0, 15), u(20, 70), u(0, 20))
        a["lean_fwd"] += float(rng.normal(0.0, 10.0))
        a["lean_side"] += float(rng.normal(0.0, 8.0))
    return kind, a


def _sample_build(rng: np.random.Generator) -> dict[str, float]:
    """Body proportions in units of standing height."""
    u = rng.uniform
    g = u(0.88, 1.25)  # girth
    b = {
        "torso": 0.30 * u(0.94, 1.06), "sh_w": 0.235 * u(0.88, 1.1), "hip_w": 0.15 * u(0.9, 1.12),
        "neck": 0.045, "head_r": 0.066 * u(0.93, 1.08), "upper_arm": 0.175 * u(0.94, 1.06),
        "forearm": 0.15 * u(0.94, 1.06), "hand": 0.085, "thigh": 0.245 * u(0.95, 1.05),
        "shin": 0.245 * u(0.95, 1.05), "foot": 0.12 * u(0.9, 1.1),
        "r_uarm": 0.036 * g, "r_elbow": 0.029 * g, "r_wrist": 0.022 * g, "r_hand": 0.026 * g,
        "r_thigh": 0.049 * g, "r_knee": 0.037 * g, "r_ankle": 0.026 * g, "r_foot": 0.027,
        "r_neck": 0.03 * g, "torso_d": 0.075 * g,
    }
    if rng.random() < 0.08:  # a child: bigger head, shorter limbs relative to height
        b["head_r"] *= 1.3
        for k in ("upper_arm", "forearm", "thigh", "shin", "torso"):
            b[k] *= 0.9
    return b


@dataclass
class _Part:
    """One drawn primitive of a person, in image pixels."""

    name: str
    material: int
    depth: float
    seq: int
    shape: str  # "cap" | "poly" | "ell"
    pts: np.ndarray  # cap: (2, 2); poly: (N, 2); ell: (1, 2)
    size: tuple[float, float] = (0.0, 0.0)  # cap: radii; ell: semi-axes
    angle: float = 0.0
    arc: tuple[float, float] = (0.0, 360.0)
    shade: float = 1.0
    pid: int = 0

    def extent(self) -> tuple[float, float, float, float]:
        r = max(self.size) if self.shape != "poly" else 0.0
        return (float(self.pts[:, 0].min() - r), float(self.pts[:, 1].min() - r),
                float(self.pts[:, 0].max() + r), float(self.pts[:, 1].max() + r))

    def draw(self, img: np.ndarray, offset: np.ndarray, value: Any) -> None:
        pts = self.pts - offset
        if self.shape == "cap":
            _draw_capsule(img, pts[0], pts[1], self.size[0], self.size[1], value)
        elif self.shape == "ell":
            _draw_ellipse(img, pts[0], self.size, self.angle, value, self.arc)
        else:
            _draw_poly(img, pts, value)


@dataclass
class _Figure:
    """A posed, projected person ready to draw."""

    kp: np.ndarray  # (17, 2) image pixels
    parts: list[_Part]  # in drawing order (back to front), pid = index + 1
    own: list[frozenset[int]]  # per keypoint: part ids whose pixels show it
    selfvis: np.ndarray  # (17,) bool: not self-occluded by facing
    textures: dict[int, _Texture]
    attrs: dict[str, Any]
    height_px: float
    pose: str
    seat: bool = False
    light: float = 0.0

    def shift(self, d: np.ndarray) -> None:
        self.kp = self.kp + d
        for p in self.parts:
            p.pts = p.pts + d

    def extent(self) -> tuple[float, float, float, float]:
        e = np.array([p.extent() for p in self.parts])
        return float(e[:, 0].min()), float(e[:, 1].min()), float(e[:, 2].max()), float(e[:, 3].max())


def _make_figure(rng: np.random.Generator, height_px: float) -> _Figure:
    """Sample appearance, body, pose and view of a person and project it (pelvis at 0, 0)."""
    kind, ang = _sample_pose(rng)
    B = _sample_build(rng)
    rad = math.radians

    # ---- view
    facing = FACINGS[int(rng.choice(len(FACINGS), p=_FACING_PROBS))]
    yaw_deg = math.degrees(_FACING_YAW[facing]) + rng.uniform(-1, 1) * _FACING_JITTER_DEG[facing]
    yaw = rad(yaw_deg)
    r = rng.random()
    if r < 0.93:
        roll_deg = float(np.clip(rng.normal(0, 5), -12, 12))
    else:
        roll_deg = float(rng.choice([-1, 1]) * rng.uniform(12, 45))
    S = float(height_px)

    # ---- appearance
    skin = _skin_colour(rng)
    hair = _rgb(_HAIR_COLOURS[rng.choice(len(_HAIR_COLOURS), p=_HAIR_P)])
    hair = np.clip(hair + rng.normal(0, 6, 3).astype(np.float32), 0, 255)
    shirt_tex = _random_texture(rng, scale=max(S / 120.0, 0.35),
                                probs=(0.34, 0.22, 0.1, 0.08, 0.07, 0.11, 0.08))
    rt = rng.random()
    if rt < 0.4:
        tc = _rgb((50, 70, 110)) + rng.normal(0, 12, 3).astype(np.float32)
    elif rt < 0.7:
        tc = _hsv(rng.random(), rng.uniform(0, 0.4), rng.uniform(0.08, 0.35))
    else:
        tc = _random_colour(rng)
    trousers_tex = _random_texture(rng, c1=np.clip(tc, 0, 255), scale=max(S / 120.0, 0.35),
                                   probs=(0.62, 0.1, 0.08, 0.08, 0.0, 0.07, 0.05))
    shoe = (np.full(3, rng.uniform(190, 240), np.float32) if rng.random() < 0.2
            else _hsv(rng.random(), rng.uniform(0, 0.5), rng.uniform(0.05, 0.3)))
    sleeve = str(rng.choice(["long", "short", "none"], p=[0.5, 0.38, 0.12]))
    legwear = str(rng.choice(["long", "shorts"], p=[0.78, 0.22]))
    hair_style = str(rng.choice(["short", "long", "hat"], p=[0.6, 0.32, 0.08]))
    textures = {
        _SKIN: _Texture("noise", skin, skin * np.float32(0.9), period=max(S / 25, 2), grain=1.5),
        _SHIRT: shirt_tex,
        _TROUSERS: trousers_tex,
        _SHOES: _Texture("solid", shoe, shoe, grain=2.0),
        _HAIR: _Texture("noise", hair, hair * np.float32(0.75), period=max(S / 60, 2), grain=3.0),
        _EYE_WHITE: _Texture("solid", _rgb((238, 236, 232)), _rgb((238, 236, 232))),
        _PUPIL: _Texture("solid", _rgb((28, 22, 20)), _rgb((28, 22, 20))),
        _MOUTH: _Texture("solid", np.clip(skin * np.array([0.55, 0.5, 0.8], np.float32), 0, 255), skin),
        _SKIN_DARK: _Texture("solid", skin * np.float32(0.8), skin),
        _HAT: _random_texture(rng, scale=max(S / 150.0, 0.35), probs=(0.6, 0.2, 0.1, 0.0, 0.0, 0.1, 0.0)),
    }

    # ---- 3-D skeleton (body frame: X = person's left, Y = down, Z = person's front)
    R_p = _rot_y(rad(-0.3 * ang["twist"]))
    R_t = _rot_y(rad(ang["twist"])) @ _rot_z(rad(ang["lean_side"])) @ _rot_x(rad(-ang["lean_fwd"]))
    R_h = R_t @ _rot_y(rad(ang["head_yaw"])) @ _rot_x(rad(ang["head_pitch"])) @ _rot_z(rad(ang["head_roll"]))
    pelvis = np.zeros(3)
    neck_base = R_t @ np.array([0.0, -B["torso"], 0.0])
    neck_top = neck_base + R_t @ np.array([0.0, -B["neck"], 0.01])
    hr = B["head_r"]
    hrh = 0.85 * hr
    head_c = neck_top + R_h @ np.array([0.0, -0.8 * hr, 0.1 * hrh])

    def hp(x: float, y: float, z: float) -> np.ndarray:
        return head_c + R_h @ np.array([x * hrh, y * hr, z * hrh])

    pts: dict[str, np.ndarray] = {"pelvis": pelvis, "neck_base": neck_base, "neck_top": neck_top, "head_c": head_c}
    kp3 = np.zeros((_K, 3))
    kp3[NOSE] = hp(0, 0.22, 1.35)
    kp3[L_EYE], kp3[R_EYE] = hp(0.38, -0.05, 0.82), hp(-0.38, -0.05, 0.82)
    kp3[L_EAR], kp3[R_EAR] = hp(1.02, 0.02, -0.05), hp(-1.02, 0.02, -0.05)
    pts.update(nose_root=hp(0, 0.0, 0.98), nose_wl=hp(0.15, 0.26, 0.93), nose_wr=hp(-0.15, 0.26, 0.93),
               mouth_l=hp(0.22, 0.55, 0.86), mouth_r=hp(-0.22, 0.55, 0.86),
               hair_c=hp(0, -0.2, -0.3), face_c=hp(0, 0.12, 0.3),
               lhair0=hp(0, 0.1, -0.45), lhair1=hp(0, 1.7, -0.75), hat_c=hp(0, -0.35, -0.05))

    limbs: dict[str, tuple[np.ndarray, ...]] = {}
    for s, sg in (("l", 1.0), ("r", -1.0)):
        sho = neck_base + R_t @ np.array([sg * B["sh_w"] / 2, 0.015, 0.0])
        Rl = R_t @ _rot_x(rad(ang[f"arm_flex_{s}"])) @ _rot_z(rad(sg * ang[f"arm_abd_{s}"]))
        d1, f1 = Rl @ np.array([0.0, 1.0, 0.0]), Rl @ np.array([0.0, 0.0, 1.0])
        lat = np.cross(d1, f1)
        rr = rad(ang[f"arm_roll_{s}"])
        f1r = math.cos(rr) * f1 - sg * math.sin(rr) * lat
        bb = rad(ang[f"arm_bend_{s}"])
        d2 = math.cos(bb) * d1 + math.sin(bb) * f1r
        f2 = math.cos(bb) * f1r - math.sin(bb) * d1
        elb = sho + B["upper_arm"] * d1
        wri = elb + B["forearm"] * d2
        hand0 = wri + 0.012 * d2
        hand1 = wri + B["hand"] * 0.62 * _unit(d2 + 0.25 * f2)
        hip = pelvis + R_p @ np.array([sg * B["hip_w"] / 2, 0.0, 0.0])
        Rg = R_p @ _rot_x(rad(ang[f"leg_flex_{s}"])) @ _rot_z(rad(sg * ang[f"leg_abd_{s}"]))
        e1, g1 = Rg @ np.array([0.0, 1.0, 0.0]), Rg @ np.array([0.0, 0.0, 1.0])
        kk = rad(ang[f"leg_knee_{s}"])
        e2 = math.cos(kk) * e1 - math.sin(kk) * g1
        g2 = math.cos(kk) * g1 + math.sin(kk) * e1
        kne = hip + B["thigh"] * e1
        ank = kne + B["shin"] * e2
        toe_out = rad(ang[f"leg_toe_{s}"])
        fdir = _unit(math.cos(toe_out) * g2 + sg * math.sin(toe_out) * np.cross(e2, g2) + 0.12 * e2)
        heel = ank - 0.025 * fdir + 0.01 * e2
        toe = ank + B["foot"] * fdir + 0.012 * e2
        limbs[s] = (sho, elb, wri, hand0, hand1, hip, kne, ank, heel, toe)
        i = 0 if s == "l" else 1
        kp3[L_SHO + i], kp3[L_ELB + i], kp3[L_WRI + i] = sho, elb, wri
        kp3[L_HIP + i], kp3[L_KNE + i], kp3[L_ANK + i] = hip, kne, ank

    # torso / pelvis hull points
    td, hw, sw = B["torso_d"], B["hip_w"], B["sh_w"]
    torso3 = []
    for sx in (-1.0, 1.0):
        for sz in (-1.0, 1.0):
            torso3.append(neck_base + R_t @ np.array([sx * sw / 2 * 1.06, 0.03, sz * td * 0.85]))
            torso3.append(neck_base + R_t @ np.array([sx * 0.05, -0.012, sz * td * 0.5]))
            torso3.append(pelvis + R_p @ np.array([sx * hw / 2 * 1.12, 0.02, sz * td]))
    pelvis3 = []
    for sx in (-1.0, 1.0):
        for sz in (-1.0, 1.0):
            pelvis3.append(pelvis + R_p @ np.array([sx * hw / 2 * 1.18, -0.035, sz * td]))
            pelvis3.append(pelvis + R_p @ np.array([sx * hw / 2 * 0.85, 0.085, sz * td * 0.9]))

    # ---- projection (orthographic, camera yaw, in-plane roll, scale)
    cy, sy = math.cos(yaw), math.sin(yaw)
    cr, sr = math.cos(rad(roll_deg)), math.sin(rad(roll_deg))

    def proj(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        P = np.atleast_2d(P)
        x = P[:, 0] * cy - P[:, 2] * sy
        y = P[:, 1]
        dep = -(P[:, 0] * sy + P[:, 2] * cy)
        xy = np.stack([x * cr - y * sr, x * sr + y * cr], axis=1) * S
        return xy, dep

    def depth_of_dir(v: np.ndarray) -> float:
        return float(-(v[0] * sy + v[2] * cy))

    def P2(p: np.ndarray) -> np.ndarray:
        return proj(p)[0][0]

    def D(p: np.ndarray) -> float:
        return float(proj(p)[1][0])

    kp2, _ = proj(kp3)
    parts: list[_Part] = []
    seq = [0]

    def add(name: str, material: int, depth: float, shape: str, p: np.ndarray, size: tuple[float, float] = (0.0, 0.0),
            angle: float = 0.0, arc: tuple[float, float] = (0.0, 360.0), shade: float = 1.0) -> None:
        seq[0] += 1
        parts.append(_Part(name, material, depth, seq[0], shape, np.atleast_2d(np.asarray(p, np.float64)),
                           (float(size[0]), float(size[1])), angle, arc, shade))

    def cap(name: str, material: int, a3: np.ndarray, b3: np.ndarray, ra: float, rb: float, shade: float = 1.0,
            depth: float | None = None) -> None:
        dd = D((a3 + b3) / 2) if depth is None else depth
        add(name, material, dd, "cap", np.stack([P2(a3), P2(b3)]), (ra * S, rb * S), shade=shade)

    torso_depth = D((neck_base + pelvis) / 2)
    lat_t = R_t @ np.array([1.0, 0.0, 0.0])
    lat_p = R_p @ np.array([1.0, 0.0, 0.0])
    far_upper = {"l": depth_of_dir(lat_t) > 0.55, "r": depth_of_dir(-lat_t) > 0.55}
    far_lower = {"l": depth_of_dir(lat_p) > 0.55, "r": depth_of_dir(-lat_p) > 0.55}

    def jit() -> float:  # per-part brightness jitter
        return float(rng.uniform(0.95, 1.05))

    add("torso", _SHIRT, torso_depth, "poly", proj(np.array(torso3))[0], shade=jit())
    add("pelvis", _TROUSERS, torso_depth + 0.004, "poly", proj(np.array(pelvis3))[0], shade=jit())
    cap("neck", _SKIN, neck_base + R_t @ np.array([0, 0.01, 0]), neck_top + R_t @ np.array([0, -0.02, 0]),
        B["r_neck"], B["r_neck"] * 0.95, shade=0.9, depth=torso_depth + 0.003)

    for s, sg in (("l", 1.0), ("r", -1.0)):
        sho, elb, wri, hand0, hand1, hip, kne, ank, heel, toe = limbs[s]
        sh_u = 0.85 if far_upper[s] else jit()
        sh_l = 0.85 if far_lower[s] else jit()
        if sleeve == "long":
            cap(f"uarm_{s}", _SHIRT, sho, elb, B["r_uarm"] * 1.05, B["r_elbow"] * 1.05, sh_u)
            cap(f"farm_{s}", _SHIRT, elb, wri, B["r_elbow"] * 1.02, B["r_wrist"] * 1.08, sh_u)
        else:
            cap(f"uarm_{s}", _SKIN, sho, elb, B["r_uarm"], B["r_elbow"], sh_u)
            if sleeve == "short":
                cap(f"sleeve_{s}", _SHIRT, sho, sho + 0.5 * (elb - sho), B["r_uarm"] * 1.2, B["r_uarm"] * 1.15,
                    sh_u, depth=parts[-1].depth - 1e-4)
            cap(f"farm_{s}", _SKIN, elb, wri, B["r_elbow"], B["r_wrist"], sh_u)
        cap(f"hand_{s}", _SKIN, hand0, hand1, B["r_hand"] * 0.85, B["r_hand"], sh_u,
            depth=parts[-1].depth - 1e-4)
        if legwear == "long":
            cap(f"thigh_{s}", _TROUSERS, hip, kne, B["r_thigh"], B["r_knee"] * 1.05, sh_l)
            cap(f"shin_{s}", _TROUSERS, kne, ank, B["r_knee"] * 1.05, B["r_ankle"] * 1.1, sh_l)
        else:
            cap(f"thigh_{s}", _SKIN, hip, kne, B["r_thigh"] * 0.95, B["r_knee"], sh_l)
            cap(f"shortsleg_{s}", _TROUSERS, hip, hip + 0.6 * (kne - hip), B["r_thigh"] * 1.05,
                B["r_thigh"] * 0.95, sh_l, depth=parts[-1].depth - 1e-4)
            cap(f"shin_{s}", _SKIN, kne, ank, B["r_knee"], B["r_ankle"], sh_l)
        cap(f"foot_{s}", _SHOES, heel, toe, B["r_foot"], B["r_foot"] * 0.85, sh_l, depth=D((ank + toe) / 2) - 0.01)

    # ---- head group: one depth, drawn in sequence
    hd = min(D(head_c), torso_depth) - 0.002
    if hair_style == "long":
        cap("longhair", _HAIR, pts["lhair0"], pts["lhair1"], hrh * 0.95, hrh * 0.8)
    ang_img = roll_deg + ang["head_roll"] * cy
    hair_e = ("hair", _HAIR, hd, "ell", P2(pts["hair_c"]), (1.05 * hrh * S, 1.03 * hr * S), ang_img)
    face_e = ("face", _SKIN, hd, "ell", P2(pts["face_c"]), (0.8 * hrh * S, 0.9 * hr * S), ang_img)
    front = R_h @ np.array([0.0, 0.0, 1.0])
    face_toward = depth_of_dir(front) < 0.25  # face side closer than the back of the head
    for e in ((hair_e, face_e) if face_toward else (face_e, hair_e)):
        add(*e)

    def nvis(n_head: np.ndarray, thr: float) -> bool:
        return depth_of_dir(R_h @ _unit(n_head)) < thr

    vis_nose = nvis(np.array([0, 0, 1.0]), 0.3)
    vis_eye = {"l": nvis(np.array([0.4, 0, 1.0]), -0.05), "r": nvis(np.array([-0.4, 0, 1.0]), -0.05)}
    vis_ear = {"l": nvis(np.array([1.0, 0, -0.1]), 0.3), "r": nvis(np.array([-1.0, 0, -0.1]), 0.3)}
    vis_mouth = nvis(np.array([0, 0.2, 1.0]), 0.15)
    r_px = hr * S
    for s, k in (("l", L_EAR), ("r", R_EAR)):
        if vis_ear[s]:
            side_on = min(1.0, abs(depth_of_dir(R_h @ np.array([1.0, 0, 0]))))
            add(f"ear_{s}", _SKIN_DARK, hd, "ell", kp2[k], ((0.1 + 0.08 * side_on) * hrh * S, 0.26 * r_px), ang_img)
    if hair_style == "hat":
        add("hat", _HAT, hd, "ell", P2(pts["hat_c"]), (1.12 * hrh * S, 0.85 * r_px), ang_img, arc=(180.0, 360.0))
        brim_dir = np.array([math.cos(rad(ang_img)), math.sin(rad(ang_img))])
        hc2 = P2(pts["hat_c"])
        add("hat", _HAT, hd, "cap", np.stack([hc2 - brim_dir * 1.25 * hrh * S, hc2 + brim_dir * 1.25 * hrh * S]),
            (0.1 * r_px, 0.1 * r_px))
    for s, k in (("l", L_EYE), ("r", R_EYE)):
        if vis_eye[s]:
            w = max(0.35, min(1.0, -depth_of_dir(R_h @ _unit(np.array([0.4 if s == "l" else -0.4, 0, 1.0])))))
            if r_px >= 6.0:
                add(f"eye_{s}", _EYE_WHITE, hd, "ell", kp2[k], (0.22 * hrh * S * w, 0.12 * r_px), ang_img)
                add(f"pupil_{s}", _PUPIL, hd, "ell", kp2[k], (max(0.1 * r_px * w, 0.6), max(0.1 * r_px, 0.6)), ang_img)
            else:
                add(f"pupil_{s}", _PUPIL, hd, "ell", kp2[k], (max(0.12 * r_px * w, 0.5), max(0.1 * r_px, 0.5)), ang_img)
    if vis_nose:
        nose_poly = np.stack([P2(pts["nose_root"]), P2(pts["nose_wl"]), P2(pts["nose_wr"]), kp2[NOSE]])
        add("nose", _SKIN_DARK, hd, "poly", nose_poly)
    if vis_mouth and r_px >= 3.0:
        add("mouth", _MOUTH, hd, "cap", np.stack([P2(pts["mouth_l"]), P2(pts["mouth_r"])]),
            (max(0.045 * r_px, 0.5), max(0.045 * r_px, 0.5)))

    # ---- drawing order and keypoint ownership
    parts.sort(key=lambda p: (-p.depth, p.seq))
    ids: dict[str, list[int]] = {}
    for i, p in enumerate(parts):
        p.pid = i + 1
        ids.setdefault(p.name, []).append(p.pid)

    def own(*names: str) -> frozenset[int]:
        return frozenset(pid for n in names for pid in ids.get(n, ()))

    head_names = ("hair", "face", "longhair", "hat", "ear_l", "ear_r", "eye_l", "eye_r", "pupil_l", "pupil_r",
                  "nose", "mouth")
    head_own = own(*head_names)
    owners: list[frozenset[int]] = [head_own] * 5
    side_own: dict[int, frozenset[int]] = {}
    for s, off in (("l", 0), ("r", 1)):
        sho_o = own(f"uarm_{s}", f"sleeve_{s}") | (frozenset() if far_upper[s] else own("torso", "neck"))
        hip_o = own(f"thigh_{s}", f"shortsleg_{s}") | (frozenset() if far_lower[s] else own("pelvis", "torso"))
        side_own[L_SHO + off] = sho_o
        side_own[L_ELB + off] = own(f"uarm_{s}", f"sleeve_{s}", f"farm_{s}")
        side_own[L_WRI + off] = own(f"farm_{s}", f"hand_{s}")
        side_own[L_HIP + off] = hip_o
        side_own[L_KNE + off] = own(f"thigh_{s}", f"shortsleg_{s}", f"shin_{s}")
        side_own[L_ANK + off] = own(f"shin_{s}", f"foot_{s}")
    owners += [side_own[k] for k in range(5, _K)]
    selfvis = np.ones(_K, bool)
    selfvis[NOSE] = vis_nose
    selfvis[L_EYE], selfvis[R_EYE] = vis_eye["l"], vis_eye["r"]
    selfvis[L_EAR], selfvis[R_EAR] = vis_ear["l"], vis_ear["r"]

    attrs = {"facing": facing, "pose": kind, "yaw": round(yaw_deg, 1), "height_px": round(S, 1)}
    return _Figure(kp=kp2, parts=parts, own=owners, selfvis=selfvis, textures=textures, attrs=attrs,
                   height_px=S, pose=kind, seat=(kind == "sit" and rng.random() < 0.6),
                   light=float(rng.normal(0.0, 0.12)))


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
# scene: background, distractors, occluders, post-processing
# --------------------------------------------------------------------------------------


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
            col = tuple(float(v) for v in _random_colour(rng))
            cv2.line(canvas, _ipt(p0), _ipt(p1), col, int(rng.integers(1, 6)), cv2.LINE_AA, _SHIFT)
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
# one image
# --------------------------------------------------------------------------------------


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
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img, r.annotations, r.detections


# --------------------------------------------------------------------------------------
# dataset generation
# --------------------------------------------------------------------------------------


def _check_split(split: str) -> None:
    if split not in _SPLIT_CODE:
        raise ConfigError(f"unknown split {split!r}; expected one of {SPLITS}")


def _render_chunk(settings: _Settings, out_dir: str, split: str, start: int, stop: int) -> list[dict[str, Any]]:
    """Render and write images ``start..stop-1`` of a split; returns their JSON pieces."""
    img_dir = Path(out_dir) / "images" / split
    results = []
    for i in range(start, stop):
        r = _render(settings, split, i)
        image_id = image_id_for(split, i)
        name = file_name_for(image_id)
        ok, buf = cv2.imencode(".jpg", r.image, [cv2.IMWRITE_JPEG_QUALITY, r.quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {name}")
        (img_dir / name).write_bytes(buf.tobytes())
        results.append({
            "index": i,
            "image": {"id": image_id, "file_name": name, "width": settings.width, "height": settings.height},
            "annotations": r.annotations,
            "detections": r.detections,
            "persons_drawn": r.persons_drawn,
        })
    return results


def _worker_init() -> None:
    cv2.setNumThreads(1)


@dataclass
class SynthSummary:
    """What :func:`generate_synthetic` wrote.

    Attributes:
        out_dir: the dataset root.
        counts: per split, ``{"images": n, "persons": m}`` (m = annotated persons).
        seconds: wall-clock generation time.
    """

    out_dir: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0


def _coco_header() -> dict[str, Any]:
    return {
        "info": {
            "description": "semipose synthetic person keypoints (procedurally generated)",
            "version": GENERATOR_VERSION,
            "contributor": "semipose.data.synthetic",
            "url": "",
        },
        "licenses": [],
        "categories": [coco_category()],
    }


def _dump(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":")), encoding="utf-8")


def generate_synthetic(out_dir: str | Path, *, num_train: int = 2000, num_unlabeled: int = 2000, num_val: int = 500,
                       image_size: tuple[int, int] = (320, 240), seed: int = 0, difficulty: float = 1.0,
                       workers: int | None = None, progress: bool = True, jpeg_quality: tuple[int, int] = (70, 95),
                       overwrite: bool = False) -> SynthSummary:
    """Generate a synthetic COCO-format person keypoint dataset under ``out_dir``.

    Args:
        out_dir: dataset root (created if missing); see the module docstring for the layout.
        num_train: labelled training images.
        num_unlabeled: unlabelled images (their ground truth is written separately).
        num_val: validation images.
        image_size: ``(width, height)`` in pixels, each at least 64.
        seed: non-negative seed; the output is a pure function of the settings.
        difficulty: nuisance scale (0 = clean, 1 = default, up to 4).
        workers: worker processes (default ``os.cpu_count()``); 0 or 1 renders in-process.
            The output does not depend on it.
        progress: show a tqdm bar per split.
        jpeg_quality: inclusive ``(low, high)`` range of JPEG qualities, within 1-100.
        overwrite: replace an existing dataset (one with a ``synth.json``) in ``out_dir``;
            its old split images are removed first.

    Returns:
        A :class:`SynthSummary`.

    Raises:
        ValueError: on invalid arguments.
        FileExistsError: if ``out_dir/synth.json`` exists and ``overwrite`` is False.
    """
    counts_req = {"train": num_train, "val": num_val, "unlabeled": num_unlabeled}
    for k, v in counts_req.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ConfigError(f"num_{k} must be an integer, got {v!r}")
        if v < 0:
            raise ConfigError(f"num_{k} must be >= 0, got {v}")
        if v > MAX_IMAGES_PER_SPLIT:
            raise ConfigError(f"num_{k} must be <= {MAX_IMAGES_PER_SPLIT} (image id scheme), got {v}")
    try:
        W, H = (int(image_size[0]), int(image_size[1]))
        if len(image_size) != 2:
            raise TypeError
    except (TypeError, ValueError, IndexError):
        raise ConfigError(f"image_size must be (width, height), got {image_size!r}") from None
    if W < 64 or H < 64:
        raise ConfigError(f"image_size must be at least 64x64 pixels, got {W}x{H}")
    if W > 4096 or H > 4096:
        raise ConfigError(f"image_size must be at most 4096x4096 pixels, got {W}x{H}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(difficulty, (int, float, np.floating, np.integer)) or not (0.0 <= float(difficulty) <= 4.0):
        raise ConfigError(f"difficulty must be a number in [0, 4], got {difficulty!r}")
    try:
        qlo, qhi = int(jpeg_quality[0]), int(jpeg_quality[1])
        if len(jpeg_quality) != 2:
            raise TypeError
    except (TypeError, ValueError, IndexError):
        raise ConfigError(f"jpeg_quality must be a (low, high) pair, got {jpeg_quality!r}") from None
    if not (1 <= qlo <= qhi <= 100):
        raise ConfigError(f"jpeg_quality must satisfy 1 <= low <= high <= 100, got {jpeg_quality!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0):
        raise ConfigError(f"workers must be None or a non-negative integer, got {workers!r}")
    n_workers = (os.cpu_count() or 1) if workers is None else int(workers)

    out = Path(out_dir)
    meta_path = out / "synth.json"
    if meta_path.exists():
        if not overwrite:
            raise FileExistsError(f"{meta_path} exists: a synthetic dataset is already there "
                                  "(pass overwrite=True to replace it)")
        for split in SPLITS:
            d = out / "images" / split
            if d.is_dir():
                for f in d.glob("*.jpg"):
                    if len(f.stem) == 12 and f.stem.isdigit():
                        f.unlink()
        meta_path.unlink()
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)

    settings = _Settings(W, H, int(seed), float(difficulty), (qlo, qhi))
    t0 = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    total = sum(counts_req.values())
    chunk = max(1, min(32, total // max(n_workers * 8, 1) or 1))

    def bar(split: str, n: int) -> Any:
        if not progress:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=n, desc=f"synth {split}", unit="img", leave=True)

    if n_workers <= 1:
        for split in SPLITS:
            n = counts_req[split]
            pb = bar(split, n)
            for s0 in range(0, n, chunk):
                s1 = min(n, s0 + chunk)
                results[split] += _render_chunk(settings, str(out), split, s0, s1)
                if pb is not None:
                    pb.update(s1 - s0)
            if pb is not None:
                pb.close()
    else:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_worker_init) as ex:
            futs: dict[str, list[tuple[int, Future[list[dict[str, Any]]]]]] = {}
            for split in SPLITS:  # submit everything up front so the pool never idles
                n = counts_req[split]
                futs[split] = [(min(n, s0 + chunk) - s0, ex.submit(_render_chunk, settings, str(out), split, s0,
                                                                   min(n, s0 + chunk)))
                               for s0 in range(0, n, chunk)]
            for split in SPLITS:
                pb = bar(split, counts_req[split])
                for size, f in futs[split]:
                    results[split] += f.result()
                    if pb is not None:
                        pb.update(size)
                if pb is not None:
                    pb.close()

    counts: dict[str, dict[str, int]] = {}
    meta_splits: dict[str, Any] = {}
    ann_dir = out / "annotations"
    for split in SPLITS:
        res = sorted(results[split], key=lambda r: r["index"])
        images = [r["image"] for r in res]
        anns = [a for r in res for a in r["annotations"]]
        dets = [d for r in res for d in r["detections"]]
        coco = _coco_header()
        coco["images"] = images
        coco["annotations"] = anns
        _dump(ann_dir / f"person_keypoints_{split}.json", coco)
        files = {"ground_truth": f"annotations/person_keypoints_{split}.json"}
        if split == "unlabeled":
            info = _coco_header()
            info["images"] = images
            _dump(ann_dir / "image_info_unlabeled.json", info)
            files["image_info"] = "annotations/image_info_unlabeled.json"
        if split in ("val", "unlabeled"):
            _dump(ann_dir / f"detections_{split}.json", dets)
            files["detections"] = f"annotations/detections_{split}.json"
        counts[split] = {"images": len(images), "persons": len(anns)}
        meta_splits[split] = {
            "images": len(images),
            "persons": len(anns),
            "persons_drawn": int(sum(r["persons_drawn"] for r in res)),
            "detections": len(dets) if split != "train" else 0,
            "image_dir": f"images/{split}",
            "first_image_id": image_id_for(split, 0),
            "files": files,
        }
    meta = {
        "generator": "semipose.data.synthetic",
        "version": GENERATOR_VERSION,
        "settings": {
            "num_train": int(num_train), "num_val": int(num_val), "num_unlabeled": int(num_unlabeled),
            "image_size": [W, H], "seed": int(seed), "difficulty": float(difficulty),
            "jpeg_quality": [qlo, qhi],
        },
        "id_scheme": {
            "image_id": "IMAGE_ID_OFFSET[split] + index + 1",
            "image_id_offset": dict(IMAGE_ID_OFFSET),
            "annotation_id": f"image_id * {ANN_ID_FACTOR} + depth rank (1-based, back to front)",
            "file_name": "12-digit zero-padded image id + '.jpg'",
            "rng": "np.random.default_rng([seed, split_code, index]), split_code train=0 val=1 unlabeled=2",
        },
        "counts": counts,
        "splits": meta_splits,
    }
    meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return SynthSummary(out_dir=out, counts=counts, seconds=time.perf_counter() - t0)
