"""A person: pose and body sampling, the 3-D stick figure, its projection into parts, and drawing it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .layout import (
    _EYE_WHITE,
    _FACING_JITTER_DEG,
    _FACING_PROBS,
    _FACING_YAW,
    _HAIR,
    _HAIR_COLOURS,
    _HAIR_P,
    _HAT,
    _K,
    _MOUTH,
    _POSE_PROBS,
    _PUPIL,
    _SHIRT,
    _SHOES,
    _SKIN,
    _SKIN_DARK,
    _TROUSERS,
    FACINGS,
    L_ANK,
    L_EAR,
    L_ELB,
    L_EYE,
    L_HIP,
    L_KNE,
    L_SHO,
    L_WRI,
    NOSE,
    POSE_KINDS,
    R_EAR,
    R_EYE,
)
from .paint import (
    _draw_capsule,
    _draw_ellipse,
    _draw_poly,
    _hsv,
    _random_colour,
    _random_texture,
    _rgb,
    _rot_x,
    _rot_y,
    _rot_z,
    _skin_colour,
    _Texture,
    _unit,
)


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


@dataclass
class _View:
    """How the camera sees a person: facing, yaw and in-plane roll (degrees), height in pixels."""

    facing: str
    yaw_deg: float
    roll_deg: float
    S: float

    def __post_init__(self) -> None:
        yaw, roll = math.radians(self.yaw_deg), math.radians(self.roll_deg)
        self.cy, self.sy = math.cos(yaw), math.sin(yaw)
        self.cr, self.sr = math.cos(roll), math.sin(roll)

    def proj(self, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Orthographic projection of ``(N, 3)`` body-frame points: image offsets and depths."""
        P = np.atleast_2d(P)
        x = P[:, 0] * self.cy - P[:, 2] * self.sy
        y = P[:, 1]
        dep = -(P[:, 0] * self.sy + P[:, 2] * self.cy)
        xy = np.stack([x * self.cr - y * self.sr, x * self.sr + y * self.cr], axis=1) * self.S
        return xy, dep

    def depth_of_dir(self, v: np.ndarray) -> float:
        return float(-(v[0] * self.sy + v[2] * self.cy))

    def P2(self, p: np.ndarray) -> np.ndarray:
        return self.proj(p)[0][0]

    def D(self, p: np.ndarray) -> float:
        return float(self.proj(p)[1][0])


def _sample_view(rng: np.random.Generator, height_px: float) -> _View:
    facing = FACINGS[int(rng.choice(len(FACINGS), p=_FACING_PROBS))]
    yaw_deg = math.degrees(_FACING_YAW[facing]) + rng.uniform(-1, 1) * _FACING_JITTER_DEG[facing]
    r = rng.random()
    if r < 0.93:
        roll_deg = float(np.clip(rng.normal(0, 5), -12, 12))
    else:
        roll_deg = float(rng.choice([-1, 1]) * rng.uniform(12, 45))
    return _View(facing, yaw_deg, roll_deg, float(height_px))


@dataclass
class _Look:
    """A person's clothing and hair: the texture of each material and the garment styles."""

    textures: dict[int, _Texture]
    sleeve: str
    legwear: str
    hair_style: str


def _sample_look(rng: np.random.Generator, S: float) -> _Look:
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
    return _Look(textures, sleeve, legwear, hair_style)


@dataclass
class _Body:
    """The posed 3-D stick figure (body frame: X = person's left, Y = down, Z = person's front)."""

    R_t: np.ndarray  # torso rotation
    R_p: np.ndarray  # pelvis rotation
    R_h: np.ndarray  # head rotation
    pts: dict[str, np.ndarray]  # named points (pelvis, neck, head, face features, hair)
    kp3: np.ndarray  # (17, 3) COCO keypoints
    limbs: dict[str, tuple[np.ndarray, ...]]  # per side: shoulder … toe
    torso3: list[np.ndarray]
    pelvis3: list[np.ndarray]
    hr: float  # head radius
    hrh: float  # head half-width


def _pose_body(B: dict[str, float], ang: dict[str, float]) -> _Body:
    """The 3-D joints of build ``B`` in joint angles ``ang`` (no randomness)."""
    rad = math.radians
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
    return _Body(R_t, R_p, R_h, pts, kp3, limbs, torso3, pelvis3, hr, hrh)


class _Parts:
    """The 2-D parts of one person, added in painting sequence (sorted by depth later)."""

    def __init__(self, view: _View) -> None:
        self.view, self.items, self.seq = view, [], 0  # type: ignore[var-annotated]

    def add(self, name: str, material: int, depth: float, shape: str, p: np.ndarray, size: tuple[float, float] = (0.0, 0.0),
            angle: float = 0.0, arc: tuple[float, float] = (0.0, 360.0), shade: float = 1.0) -> None:
        self.seq += 1
        self.items.append(_Part(name, material, depth, self.seq, shape, np.atleast_2d(np.asarray(p, np.float64)),
                                (float(size[0]), float(size[1])), angle, arc, shade))

    def cap(self, name: str, material: int, a3: np.ndarray, b3: np.ndarray, ra: float, rb: float, shade: float = 1.0,
            depth: float | None = None) -> None:
        v = self.view
        dd = v.D((a3 + b3) / 2) if depth is None else depth
        self.add(name, material, dd, "cap", np.stack([v.P2(a3), v.P2(b3)]), (ra * v.S, rb * v.S), shade=shade)

    @property
    def last_depth(self) -> float:
        return self.items[-1].depth


def _body_parts(rng: np.random.Generator, parts: _Parts, body: _Body, B: dict[str, float], look: _Look
                ) -> tuple[float, dict[str, bool], dict[str, bool]]:
    """Torso, pelvis, neck, arms, legs and feet; ``(torso depth, far upper side, far lower side)``."""
    v = parts.view
    neck_base, neck_top, pelvis = body.pts["neck_base"], body.pts["neck_top"], body.pts["pelvis"]
    torso_depth = v.D((neck_base + pelvis) / 2)
    lat_t = body.R_t @ np.array([1.0, 0.0, 0.0])
    lat_p = body.R_p @ np.array([1.0, 0.0, 0.0])
    far_upper = {"l": v.depth_of_dir(lat_t) > 0.55, "r": v.depth_of_dir(-lat_t) > 0.55}
    far_lower = {"l": v.depth_of_dir(lat_p) > 0.55, "r": v.depth_of_dir(-lat_p) > 0.55}

    def jit() -> float:  # per-part brightness jitter
        return float(rng.uniform(0.95, 1.05))

    cap = parts.cap
    parts.add("torso", _SHIRT, torso_depth, "poly", v.proj(np.array(body.torso3))[0], shade=jit())
    parts.add("pelvis", _TROUSERS, torso_depth + 0.004, "poly", v.proj(np.array(body.pelvis3))[0], shade=jit())
    cap("neck", _SKIN, neck_base + body.R_t @ np.array([0, 0.01, 0]), neck_top + body.R_t @ np.array([0, -0.02, 0]),
        B["r_neck"], B["r_neck"] * 0.95, shade=0.9, depth=torso_depth + 0.003)
    for s in ("l", "r"):
        sho, elb, wri, hand0, hand1, hip, kne, ank, heel, toe = body.limbs[s]
        sh_u = 0.85 if far_upper[s] else jit()
        sh_l = 0.85 if far_lower[s] else jit()
        if look.sleeve == "long":
            cap(f"uarm_{s}", _SHIRT, sho, elb, B["r_uarm"] * 1.05, B["r_elbow"] * 1.05, sh_u)
            cap(f"farm_{s}", _SHIRT, elb, wri, B["r_elbow"] * 1.02, B["r_wrist"] * 1.08, sh_u)
        else:
            cap(f"uarm_{s}", _SKIN, sho, elb, B["r_uarm"], B["r_elbow"], sh_u)
            if look.sleeve == "short":
                cap(f"sleeve_{s}", _SHIRT, sho, sho + 0.5 * (elb - sho), B["r_uarm"] * 1.2, B["r_uarm"] * 1.15,
                    sh_u, depth=parts.last_depth - 1e-4)
            cap(f"farm_{s}", _SKIN, elb, wri, B["r_elbow"], B["r_wrist"], sh_u)
        cap(f"hand_{s}", _SKIN, hand0, hand1, B["r_hand"] * 0.85, B["r_hand"], sh_u, depth=parts.last_depth - 1e-4)
        if look.legwear == "long":
            cap(f"thigh_{s}", _TROUSERS, hip, kne, B["r_thigh"], B["r_knee"] * 1.05, sh_l)
            cap(f"shin_{s}", _TROUSERS, kne, ank, B["r_knee"] * 1.05, B["r_ankle"] * 1.1, sh_l)
        else:
            cap(f"thigh_{s}", _SKIN, hip, kne, B["r_thigh"] * 0.95, B["r_knee"], sh_l)
            cap(f"shortsleg_{s}", _TROUSERS, hip, hip + 0.6 * (kne - hip), B["r_thigh"] * 1.05,
                B["r_thigh"] * 0.95, sh_l, depth=parts.last_depth - 1e-4)
            cap(f"shin_{s}", _SKIN, kne, ank, B["r_knee"], B["r_ankle"], sh_l)
        cap(f"foot_{s}", _SHOES, heel, toe, B["r_foot"], B["r_foot"] * 0.85, sh_l, depth=v.D((ank + toe) / 2) - 0.01)
    return torso_depth, far_upper, far_lower


def _head_parts(parts: _Parts, body: _Body, ang: dict[str, float], look: _Look, torso_depth: float, kp2: np.ndarray
                ) -> dict[str, Any]:
    """Hair, face, ears, hat, eyes, nose and mouth at one depth, drawn in sequence; which face
    keypoints the facing shows (``nose``, ``eye``, ``ear`` per side)."""
    v, add, cap, pts = parts.view, parts.add, parts.cap, body.pts
    S, hr, hrh, R_h = v.S, body.hr, body.hrh, body.R_h
    rad = math.radians
    hd = min(v.D(pts["head_c"]), torso_depth) - 0.002
    if look.hair_style == "long":
        cap("longhair", _HAIR, pts["lhair0"], pts["lhair1"], hrh * 0.95, hrh * 0.8)
    ang_img = v.roll_deg + ang["head_roll"] * v.cy
    hair_e = ("hair", _HAIR, hd, "ell", v.P2(pts["hair_c"]), (1.05 * hrh * S, 1.03 * hr * S), ang_img)
    face_e = ("face", _SKIN, hd, "ell", v.P2(pts["face_c"]), (0.8 * hrh * S, 0.9 * hr * S), ang_img)
    front = R_h @ np.array([0.0, 0.0, 1.0])
    face_toward = v.depth_of_dir(front) < 0.25  # face side closer than the back of the head
    for e in ((hair_e, face_e) if face_toward else (face_e, hair_e)):
        add(*e)

    def nvis(n_head: np.ndarray, thr: float) -> bool:
        return v.depth_of_dir(R_h @ _unit(n_head)) < thr

    vis_nose = nvis(np.array([0, 0, 1.0]), 0.3)
    vis_eye = {"l": nvis(np.array([0.4, 0, 1.0]), -0.05), "r": nvis(np.array([-0.4, 0, 1.0]), -0.05)}
    vis_ear = {"l": nvis(np.array([1.0, 0, -0.1]), 0.3), "r": nvis(np.array([-1.0, 0, -0.1]), 0.3)}
    vis_mouth = nvis(np.array([0, 0.2, 1.0]), 0.15)
    r_px = hr * S
    for s, k in (("l", L_EAR), ("r", R_EAR)):
        if vis_ear[s]:
            side_on = min(1.0, abs(v.depth_of_dir(R_h @ np.array([1.0, 0, 0]))))
            add(f"ear_{s}", _SKIN_DARK, hd, "ell", kp2[k], ((0.1 + 0.08 * side_on) * hrh * S, 0.26 * r_px), ang_img)
    if look.hair_style == "hat":
        add("hat", _HAT, hd, "ell", v.P2(pts["hat_c"]), (1.12 * hrh * S, 0.85 * r_px), ang_img, arc=(180.0, 360.0))
        brim_dir = np.array([math.cos(rad(ang_img)), math.sin(rad(ang_img))])
        hc2 = v.P2(pts["hat_c"])
        add("hat", _HAT, hd, "cap", np.stack([hc2 - brim_dir * 1.25 * hrh * S, hc2 + brim_dir * 1.25 * hrh * S]),
            (0.1 * r_px, 0.1 * r_px))
    for s, k in (("l", L_EYE), ("r", R_EYE)):
        if vis_eye[s]:
            w = max(0.35, min(1.0, -v.depth_of_dir(R_h @ _unit(np.array([0.4 if s == "l" else -0.4, 0, 1.0])))))
            if r_px >= 6.0:
                add(f"eye_{s}", _EYE_WHITE, hd, "ell", kp2[k], (0.22 * hrh * S * w, 0.12 * r_px), ang_img)
                add(f"pupil_{s}", _PUPIL, hd, "ell", kp2[k], (max(0.1 * r_px * w, 0.6), max(0.1 * r_px, 0.6)), ang_img)
            else:
                add(f"pupil_{s}", _PUPIL, hd, "ell", kp2[k], (max(0.12 * r_px * w, 0.5), max(0.1 * r_px, 0.5)), ang_img)
    if vis_nose:
        nose_poly = np.stack([v.P2(pts["nose_root"]), v.P2(pts["nose_wl"]), v.P2(pts["nose_wr"]), kp2[NOSE]])
        add("nose", _SKIN_DARK, hd, "poly", nose_poly)
    if vis_mouth and r_px >= 3.0:
        add("mouth", _MOUTH, hd, "cap", np.stack([v.P2(pts["mouth_l"]), v.P2(pts["mouth_r"])]),
            (max(0.045 * r_px, 0.5), max(0.045 * r_px, 0.5)))
    return {"nose": vis_nose, "eye": vis_eye, "ear": vis_ear}


_HEAD_PART_NAMES = ("hair", "face", "longhair", "hat", "ear_l", "ear_r", "eye_l", "eye_r", "pupil_l", "pupil_r", "nose", "mouth")


def _ownership(parts: list[_Part], far_upper: dict[str, bool], far_lower: dict[str, bool], vis: dict[str, Any]
               ) -> tuple[list[frozenset[int]], np.ndarray]:
    """Sort the parts into drawing order (back to front, ids = position + 1); per keypoint the
    part ids whose pixels show it, and whether the facing shows it at all."""
    parts.sort(key=lambda p: (-p.depth, p.seq))
    ids: dict[str, list[int]] = {}
    for i, p in enumerate(parts):
        p.pid = i + 1
        ids.setdefault(p.name, []).append(p.pid)

    def own(*names: str) -> frozenset[int]:
        return frozenset(pid for n in names for pid in ids.get(n, ()))

    owners: list[frozenset[int]] = [own(*_HEAD_PART_NAMES)] * 5
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
    selfvis[NOSE] = vis["nose"]
    selfvis[L_EYE], selfvis[R_EYE] = vis["eye"]["l"], vis["eye"]["r"]
    selfvis[L_EAR], selfvis[R_EAR] = vis["ear"]["l"], vis["ear"]["r"]
    return owners, selfvis


def _make_figure(rng: np.random.Generator, height_px: float) -> _Figure:
    """Sample appearance, body, pose and view of a person and project it (pelvis at 0, 0), in
    stages: pose and build, view, look, the 3-D body, its body and head parts, their order."""
    kind, ang = _sample_pose(rng)
    B = _sample_build(rng)
    view = _sample_view(rng, height_px)
    look = _sample_look(rng, view.S)
    body = _pose_body(B, ang)
    kp2, _ = view.proj(body.kp3)
    parts = _Parts(view)
    torso_depth, far_upper, far_lower = _body_parts(rng, parts, body, B, look)
    vis = _head_parts(parts, body, ang, look, torso_depth, kp2)
    owners, selfvis = _ownership(parts.items, far_upper, far_lower, vis)
    attrs = {"facing": view.facing, "pose": kind, "yaw": round(view.yaw_deg, 1), "height_px": round(view.S, 1)}
    return _Figure(kp=kp2, parts=parts.items, own=owners, selfvis=selfvis, textures=look.textures, attrs=attrs,
                   height_px=view.S, pose=kind, seat=(kind == "sit" and rng.random() < 0.6),
                   light=float(rng.normal(0.0, 0.12)))
