"""Keypoint sets ("skeletons"): names, flip pairs, OKS sigmas and drawing edges.

A :class:`Skeleton` is the single description of a keypoint set that every other part of
semipose reads: the data readers check keypoint counts against it, the top-down transform
swaps its flip pairs, the flip test un-flips heatmaps with it, OKS-NMS and COCOeval use its
sigmas, and the drawing code uses its edges.

Built-in sets: ``coco17`` (COCO person keypoints), ``aic14`` (AI Challenger), ``crowdpose14``
(CrowdPose), ``posetrack17`` (PoseTrack 2017/18), ``mpii16`` (MPII Human Pose) and
``union24``, the 24-joint union of COCO, MPII and AIC that the reference networks predict.
:class:`SkeletonMapping` (:func:`get_union_mapping`) moves keypoint arrays between a
dataset's order and the union order. A COCO file whose keypoint names
equal a built-in set's gets that set (its flip pairs, official sigmas and edges). Any other
COCO-format keypoint set works through :meth:`Skeleton.from_coco_category` (names, skeleton
edges and, if present, ``flip_pairs`` / ``sigmas`` read from the JSON ``categories`` entry)
or :meth:`Skeleton.from_dict` (the same fields given in a config file).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DataFormatError

log = logging.getLogger("semipose")

__all__ = [
    "Skeleton",
    "COCO17",
    "AIC14",
    "CROWDPOSE14",
    "POSETRACK17",
    "MPII16",
    "UNION24",
    "BUILTIN_SKELETONS",
    "SkeletonMapping",
    "COCO_TO_UNION",
    "MPII_TO_UNION",
    "AIC_TO_UNION",
    "UNION_MAPPINGS",
    "get_union_mapping",
    "get_skeleton",
    "infer_flip_pairs",
    "keypoint_name_mismatch",
]


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A keypoint set.

    Attributes:
        name: short identifier, e.g. ``"coco17"``.
        keypoints: K keypoint names, in dataset order.
        flip_pairs: pairs ``(i, j)`` of 0-based indices swapped by a horizontal flip.
        sigmas: ``(K,)`` per-keypoint OKS sigmas (COCO convention: COCOeval uses
            ``(2 * sigma) ** 2`` as the variance factor).
        edges: 0-based index pairs drawn as limbs.
        upper_body: indices counted as upper body for half-body augmentation; the rest is
            lower body.
    """

    name: str
    keypoints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: np.ndarray = field(repr=False)
    edges: tuple[tuple[int, int], ...] = ()
    upper_body: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        sig = np.asarray(self.sigmas, dtype=np.float64).reshape(-1)
        if sig.shape[0] != k:
            raise DataFormatError(f"skeleton {self.name!r}: {k} keypoints but {sig.shape[0]} sigmas")
        if not np.all(sig > 0):
            raise DataFormatError(f"skeleton {self.name!r}: OKS sigmas must be positive")
        object.__setattr__(self, "sigmas", sig)
        seen: set[int] = set()
        for a, b in self.flip_pairs:
            for i in (a, b):
                if not 0 <= i < k:
                    raise DataFormatError(f"skeleton {self.name!r}: flip pair ({a}, {b}) out of range for K={k}")
                if i in seen:
                    raise DataFormatError(f"skeleton {self.name!r}: keypoint {i} appears in two flip pairs")
                seen.add(i)
            if a == b:
                raise DataFormatError(f"skeleton {self.name!r}: flip pair ({a}, {b}) maps a keypoint to itself")
        bad = [(a, b) for a, b in self.edges if not (0 <= a < k and 0 <= b < k)]
        if bad:  # edges only draw: a file's skeleton of another set (CrowdPose ships COCO's) must not block anything
            log.warning("skeleton %r: %d edge(s) out of range for K=%d dropped (only used for drawing): %s",
                        self.name, len(bad), k, ", ".join(f"({a}, {b})" for a, b in bad[:6]) + (" ..." if len(bad) > 6 else ""))
            object.__setattr__(self, "edges", tuple(e for e in self.edges if e not in bad))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Skeleton) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.name, self.keypoints, self.flip_pairs))

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    @property
    def flip_index(self) -> np.ndarray:
        """``(K,)`` int64 permutation: channel ``k`` of a flipped prediction belongs to ``flip_index[k]``."""
        perm = np.arange(self.num_keypoints, dtype=np.int64)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    @property
    def lower_body(self) -> tuple[int, ...]:
        up = set(self.upper_body)
        return tuple(i for i in range(self.num_keypoints) if i not in up)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (the inverse of :meth:`from_dict`), e.g. for saving in a run folder."""
        return {
            "name": self.name,
            "keypoints": list(self.keypoints),
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "sigmas": [float(s) for s in self.sigmas],
            "edges": [list(e) for e in self.edges],
            "upper_body": list(self.upper_body),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, default_sigma: float | None = None) -> Skeleton:
        """Build a skeleton from plain data (a config block or :meth:`to_dict` output).

        Required: ``keypoints`` (names). Optional: ``name``, ``flip_pairs`` (inferred from
        left/right names when absent), ``sigmas`` (required unless ``default_sigma`` is given),
        ``edges`` (0-based), ``upper_body``.
        """
        if "keypoints" not in d:
            raise DataFormatError("custom skeleton needs a 'keypoints' list of names")
        names = tuple(str(n) for n in d["keypoints"])
        unknown = set(d) - {"name", "keypoints", "flip_pairs", "sigmas", "edges", "upper_body"}
        if unknown:
            raise DataFormatError(f"custom skeleton: unknown key(s) {sorted(unknown)}")
        if d.get("sigmas") is not None:
            sigmas = np.asarray(d["sigmas"], dtype=np.float64)
        elif default_sigma is not None:
            sigmas = np.full(len(names), float(default_sigma))
        else:
            raise DataFormatError(
                f"custom skeleton with {len(names)} keypoints has no 'sigmas'; OKS-based "
                "evaluation needs one sigma per keypoint"
            )
        flip = d.get("flip_pairs")
        flip_pairs = tuple(tuple(int(i) for i in p) for p in flip) if flip is not None else infer_flip_pairs(names)
        return cls(
            name=str(d.get("name", f"custom{len(names)}")),
            keypoints=names,
            flip_pairs=flip_pairs,  # type: ignore[arg-type]
            sigmas=sigmas,
            edges=tuple(tuple(int(i) for i in e) for e in d.get("edges", ())),  # type: ignore[misc]
            upper_body=tuple(int(i) for i in d.get("upper_body", ())),
        )

    @classmethod
    def from_coco_category(cls, category: Mapping[str, Any], *, default_sigma: float | None = None) -> Skeleton:
        """Build a skeleton from a COCO ``categories`` entry.

        Reads ``keypoints`` (names) and ``skeleton`` (1-based edges, COCO convention). If the
        names equal a built-in set's names, that set is returned (with its sigmas). Optional
        non-standard fields ``flip_pairs`` (0-based) and ``sigmas`` are honoured.
        """
        names = tuple(str(n) for n in category.get("keypoints", ()))
        if not names:
            raise DataFormatError(f"category {category.get('name', '?')!r} has no 'keypoints' list")
        for sk in BUILTIN_SKELETONS.values():
            if sk.keypoints == names and "sigmas" not in category and "flip_pairs" not in category:
                return sk
        edges = tuple((int(a) - 1, int(b) - 1) for a, b in category.get("skeleton", ()))
        d: dict[str, Any] = {
            "name": str(category.get("name", "custom")),
            "keypoints": names,
            "edges": edges,
        }
        if "flip_pairs" in category:
            d["flip_pairs"] = category["flip_pairs"]
        if "sigmas" in category:
            d["sigmas"] = category["sigmas"]
        return cls.from_dict(d, default_sigma=default_sigma)


def _side(name: str) -> tuple[str, str] | None:
    """Split a keypoint name into (side, rest) if it names a left/right keypoint."""
    n = name.lower().replace("-", "_").replace(" ", "_")
    for side, prefixes in (("l", ("left_", "l_")), ("r", ("right_", "r_"))):
        for p in prefixes:
            if n.startswith(p):
                return side, n[len(p):]
    for side, suffixes in (("l", ("_left", "_l")), ("r", ("_right", "_r"))):
        for s in suffixes:
            if n.endswith(s):
                return side, n[: -len(s)]
    return None


def infer_flip_pairs(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Pair keypoints whose names differ only by a left/right marker.

    Recognises ``left_x``/``right_x``, ``l_x``/``r_x``, ``x_left``/``x_right``, ``Left X``/
    ``Right X`` (case-insensitive). Unpaired names are treated as central (mapped to
    themselves).
    """
    left: dict[str, int] = {}
    right: dict[str, int] = {}
    for i, n in enumerate(names):
        s = _side(n)
        if s is None:
            continue
        (left if s[0] == "l" else right)[s[1]] = i
    return tuple(sorted(tuple(sorted((left[k], right[k]))) for k in left.keys() & right.keys()))  # type: ignore[misc]


_COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

COCO17 = Skeleton(
    name="coco17",
    keypoints=_COCO_NAMES,
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    sigmas=np.array(
        [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
    )
    / 10.0,
    # COCO's own 1-based "skeleton" list, converted to 0-based.
    edges=tuple(
        (a - 1, b - 1)
        for a, b in (
            (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
            (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
        )
    ),
    upper_body=tuple(range(11)),
)

_AIC_NAMES = (
    "Right Shoulder", "Right Elbow", "Right Wrist", "Left Shoulder", "Left Elbow", "Left Wrist",
    "Right Hip", "Right Knee", "Right Ankle", "Left Hip", "Left Knee", "Left Ankle", "Head top", "Neck",
)

AIC14 = Skeleton(
    name="aic14",
    keypoints=_AIC_NAMES,
    flip_pairs=((0, 3), (1, 4), (2, 5), (6, 9), (7, 10), (8, 11)),
    # The AI Challenger evaluation constants c_k, used as COCO-style sigmas (as mmpose does).
    # The official AIC OKS is exp(-d² / (2 δ² (s + 1))) with δ = 2 c_k and s = the box area
    #; COCOeval computes exp(-d² / (2 (2σ)² A)), so σ = c_k (= δ/2) gives the same
    # value when the GT "area" A is the box area + 1 (what data.aic.aic_to_coco writes).
    sigmas=np.array(
        [0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642,
         0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173]
    ),
    edges=((2, 1), (1, 0), (0, 13), (13, 3), (3, 4), (4, 5), (8, 7), (7, 6), (6, 9), (9, 10),
           (10, 11), (12, 13), (0, 6), (3, 9)),
    upper_body=(0, 1, 2, 3, 4, 5, 12, 13),
)

_CROWDPOSE_NAMES = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck",
)

#: CrowdPose (Li et al., CVPR 2019), in the order of its annotation files (whose ``skeleton``
#: field holds COCO's 17-joint edges; these are its own). Sigmas: the CrowdPose API's.
CROWDPOSE14 = Skeleton(
    name="crowdpose14",
    keypoints=_CROWDPOSE_NAMES,
    flip_pairs=((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)),
    sigmas=np.array([0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89, 0.79, 0.79]) / 10.0,
    edges=((10, 8), (8, 6), (11, 9), (9, 7), (6, 7), (0, 6), (1, 7), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5),
           (12, 13), (1, 13), (0, 13)),
    upper_body=(0, 1, 2, 3, 4, 5, 12, 13),
)

#: PoseTrack 2017/2018 (the 17 joints of its COCO-format files: COCO's, with the eyes replaced
#: by the bottom and top of the head). Sigmas: PoseTrack's evaluation (COCO's, 0.025 for both
#: head points).
POSETRACK17 = Skeleton(
    name="posetrack17",
    keypoints=("nose", "head_bottom", "head_top", *_COCO_NAMES[3:]),
    flip_pairs=((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    sigmas=np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0,
    edges=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
           (0, 1), (0, 2), (1, 5), (1, 6)),
    upper_body=tuple(range(11)),
)

_MPII_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis",
    "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder",
    "left_shoulder", "left_elbow", "left_wrist",
)

#: MPII Human Pose, in the order of the HRNet/SimpleBaseline JSON and of ``gt_valid.mat``
#: (reference short names: rank, rkne, rhip, lhip, lkne, lank, root, thorax, upper neck,
#: head top, rwri, relb, rsho, lsho, lelb, lwri). MPII is evaluated with PCKh, not OKS; the
#: sigmas are mmpose's (adapted from COCO) and only serve OKS-NMS / OKS-based tooling.
MPII16 = Skeleton(
    name="mpii16",
    keypoints=_MPII_NAMES,
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    sigmas=np.array(
        [0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179,
         0.179, 0.072, 0.062]
    ),
    edges=((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (8, 12), (12, 11),
           (11, 10), (8, 13), (13, 14), (14, 15)),
    upper_body=(7, 8, 9, 10, 11, 12, 13, 14, 15),
)

_UNION_NAMES = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "belly", "thorax", "neck", "upper_neck", "nose", "head", "head_top", "left_shoulder",
    "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist", "right_eye",
    "left_eye", "right_ear", "left_ear",
)

_COCO_SIG = dict(zip(_COCO_NAMES, COCO17.sigmas))

#: The 24-joint union skeleton of the reference (``JointsDataset.py:63-92``): every
#: dataset is remapped into it and the networks always output 24 channels. Ids 0–6 are lower
#: body, 7–23 upper body. The sigmas are COCO's for the 17 COCO joints; the others (pelvis,
#: belly: hip value; thorax, neck, upper neck: shoulder value; head, head top: ear value) are
#: stand-ins used only by OKS-NMS on union predictions — evaluation always maps back to the
#: dataset's own order and sigmas.
UNION24 = Skeleton(
    name="union24",
    keypoints=_UNION_NAMES,
    flip_pairs=((1, 4), (2, 5), (3, 6), (14, 17), (15, 18), (16, 19), (20, 21), (22, 23)),
    sigmas=np.array(
        [_COCO_SIG.get(n, {"pelvis": 0.107, "belly": 0.107, "thorax": 0.079, "neck": 0.079,
                           "upper_neck": 0.079, "head": 0.035, "head_top": 0.035}.get(n, 0.0))
         for n in _UNION_NAMES]
    ),
    edges=((3, 2), (2, 1), (1, 0), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
           (10, 12), (12, 13), (8, 14), (14, 15), (15, 16), (8, 17), (17, 18), (18, 19), (11, 20),
           (11, 21), (20, 22), (21, 23), (10, 11)),
    upper_body=tuple(range(7, 24)),
)

BUILTIN_SKELETONS: dict[str, Skeleton] = {s.name: s for s in (COCO17, AIC14, CROWDPOSE14, POSETRACK17, MPII16, UNION24)}

#: Union channel of each COCO-17 joint.
COCO_TO_UNION: tuple[int, ...] = (11, 21, 20, 23, 22, 14, 17, 15, 18, 16, 19, 4, 1, 5, 2, 6, 3)
#: Union channel of each MPII-16 joint.
MPII_TO_UNION: tuple[int, ...] = (3, 2, 1, 4, 5, 6, 0, 8, 10, 13, 19, 18, 17, 14, 15, 16)
#: Union channel of each AIC-14 joint.
AIC_TO_UNION: tuple[int, ...] = (17, 18, 19, 14, 15, 16, 1, 2, 3, 4, 5, 6, 13, 9)


@dataclass(frozen=True, eq=False)
class SkeletonMapping:
    """Index mapping between a dataset's keypoint order and a larger (union) keypoint set.

    Attributes:
        source: the dataset's skeleton (K joints).
        target: the union skeleton (U joints, e.g. :data:`UNION24`).
        index: ``(K,)`` int64, the target channel of each source joint (distinct).

    Derived: :attr:`inverse` ``(U,)`` (source joint of each target channel, −1 where the
    dataset has none — the reference's ``combine_evaluate`` list for COCO) and
    :attr:`supervised` ``(U,)`` bool (channels the dataset labels; the others get zero
    visibility and hence zero target weight; see ``docs/differences.md``).
    """

    source: Skeleton
    target: Skeleton
    index: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        idx = np.asarray(self.index, dtype=np.int64).reshape(-1)
        k, u = self.source.num_keypoints, self.target.num_keypoints
        if idx.shape[0] != k:
            raise DataFormatError(f"mapping {self.source.name}->{self.target.name}: {idx.shape[0]} indices for K={k}")
        if idx.min(initial=0) < 0 or idx.max(initial=0) >= u or len(set(idx.tolist())) != k:
            raise DataFormatError(f"mapping {self.source.name}->{self.target.name}: indices must be distinct in [0, {u})")
        object.__setattr__(self, "index", idx)

    @property
    def inverse(self) -> np.ndarray:
        """``(U,)`` int64: the source joint of each target channel, −1 for unmapped channels."""
        inv = np.full(self.target.num_keypoints, -1, dtype=np.int64)
        inv[self.index] = np.arange(self.source.num_keypoints)
        return inv

    @property
    def supervised(self) -> np.ndarray:
        """``(U,)`` bool: target channels this dataset labels."""
        return self.inverse >= 0

    def to_union(self, x: Any, axis: int = -2) -> Any:
        """Scatter ``(..., K, ...)`` dataset-order values into ``(..., U, ...)`` union order.

        Works on numpy arrays and torch tensors; unmapped channels are zero (as the
        reference's ``do_mapping`` does for joints and visibilities). ``axis`` is the joint
        axis (default ``-2``: keypoints ``(..., K, 2|3)``; use ``-1`` for ``(..., K)``
        visibilities and ``1`` for ``(N, K, h, w)`` heatmaps).
        """
        k = self.source.num_keypoints
        shape = list(x.shape)
        ax = axis % len(shape)
        if shape[ax] != k:
            raise DataFormatError(f"to_union({self.source.name}): axis {axis} has size {shape[ax]}, expected K={k}")
        shape[ax] = self.target.num_keypoints
        if _is_torch(x):
            import torch

            out = x.new_zeros(shape)
            idx = torch.as_tensor(self.index, device=x.device)
            return out.index_copy(ax, idx, x)
        arr = np.asarray(x)
        out = np.zeros(shape, dtype=arr.dtype)
        sl: list[Any] = [slice(None)] * len(shape)
        sl[ax] = self.index
        out[tuple(sl)] = arr
        return out

    def from_union(self, x: Any, axis: int = -2) -> Any:
        """Gather ``(..., U, ...)`` union-order values back into ``(..., K, ...)`` dataset order
        (applied before evaluation). numpy or torch; ``axis`` as in :meth:`to_union`."""
        u = self.target.num_keypoints
        ax = axis % x.ndim
        if x.shape[ax] != u:
            raise DataFormatError(f"from_union({self.source.name}): axis {axis} has size {x.shape[ax]}, expected U={u}")
        if _is_torch(x):
            import torch

            return x.index_select(ax, torch.as_tensor(self.index, device=x.device))
        return np.take(np.asarray(x), self.index, axis=ax)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


#: ``{dataset skeleton name: mapping into UNION24}``.
UNION_MAPPINGS: dict[str, SkeletonMapping] = {
    "coco17": SkeletonMapping(COCO17, UNION24, np.array(COCO_TO_UNION)),
    "mpii16": SkeletonMapping(MPII16, UNION24, np.array(MPII_TO_UNION)),
    "aic14": SkeletonMapping(AIC14, UNION24, np.array(AIC_TO_UNION)),
}


def get_union_mapping(dataset: str | Skeleton) -> SkeletonMapping:
    """The :class:`SkeletonMapping` of a built-in dataset skeleton (``coco17``, ``mpii16``,
    ``aic14``) into :data:`UNION24`."""
    key = dataset.name if isinstance(dataset, Skeleton) else str(dataset).lower()
    if key not in UNION_MAPPINGS:
        raise DataFormatError(f"no union mapping for skeleton {key!r}; known: {sorted(UNION_MAPPINGS)}")
    return UNION_MAPPINGS[key]


def keypoint_name_mismatch(model: Skeleton, data: Skeleton) -> str | None:
    """Why a model predicting ``model``'s keypoints cannot be scored on data labelled with
    ``data``'s, or None when the names agree (count and order)."""
    if model.num_keypoints != data.num_keypoints:
        return f"the model predicts {model.num_keypoints} keypoints ({model.name}), the data has {data.num_keypoints} ({data.name})"
    if model.keypoints == data.keypoints:
        return None
    i = next(i for i, (a, b) in enumerate(zip(model.keypoints, data.keypoints)) if a != b)
    return (
        f"keypoint names differ: the model's {model.name} has {model.keypoints[i]!r} where the data's {data.name} has "
        f"{data.keypoints[i]!r} (keypoint {i}; {sum(a != b for a, b in zip(model.keypoints, data.keypoints))} of {model.num_keypoints} differ)"
    )


def get_skeleton(spec: str | Mapping[str, Any] | Skeleton) -> Skeleton:
    """Resolve a skeleton from a built-in name, a plain-data block or a :class:`Skeleton`."""
    if isinstance(spec, Skeleton):
        return spec
    if isinstance(spec, str):
        key = spec.lower()
        if key not in BUILTIN_SKELETONS:
            raise DataFormatError(f"unknown skeleton {spec!r}; built-in: {sorted(BUILTIN_SKELETONS)}")
        return BUILTIN_SKELETONS[key]
    if isinstance(spec, Mapping):
        return Skeleton.from_dict(spec)
    raise DataFormatError(f"cannot make a skeleton from {type(spec).__name__}")
