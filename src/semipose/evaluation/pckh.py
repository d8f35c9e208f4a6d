"""MPII PCKh evaluation, as the reference ``MPIIDataset.evaluate`` computes it.

Steps, for predictions ``(N, 16, 2)`` in MPII joint order and 0-based image pixels:

1. add 1 (back to MATLAB's 1-based pixels, the convention of ``gt_valid.mat``);
2. head size = ‖headbox corner 2 − corner 1‖ × ``sc_bias`` (0.6);
3. normalised error = ‖pred − gt‖ / head size, over the joints not marked missing;
4. per joint, PCKh = 100 · (#visible with error ≤ ``threshold``) / #visible;
5. the parts are the means of left and right; "Mean" leaves out pelvis and thorax (indices 6
   and 7) and weights each joint by its visible count (= correct / visible over the other 14
   joints);
6. "Mean@0.1" … "Mean@0.4" read the threshold grid ``np.arange(0, 0.51, 0.01)`` at indices 11,
   20, 30 and 40. **Index 11 is the threshold 0.11, not 0.1** — a quirk inherited by the
   reference and kept here for parity; the key ``"Mean@0.1(exact)"`` gives the true 0.1 value.

The ground truth is the ``gt_valid.mat`` of the HRNet/SimpleBaseline MPII release
(``dataset_joints``, ``jnt_missing`` (16, N), ``pos_gt_src`` (16, 2, N), ``headboxes_src``
(2, 2, N)), read with :func:`load_mpii_gt`, or built from arrays with
:meth:`MPIIGroundTruth.from_arrays`. The shared sample data has no head boxes, so it carries no
such file.

Values are percentages, as printed by the reference. :func:`format_pckh_table` prints them in
the reference's markdown layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._typing import PathLike
from ..errors import DataFormatError, InputError, MissingFileError

__all__ = [
    "PCKH_KEYS",
    "MEAN_AT_01_EXACT",
    "MPII_GT_JOINT_NAMES",
    "MPIIGroundTruth",
    "load_mpii_gt",
    "evaluate_pckh",
    "format_pckh_table",
]


#: Keys of :func:`evaluate_pckh`'s result, in the reference's print order.
PCKH_KEYS: tuple[str, ...] = (
    "Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean",
    "Mean@0.1", "Mean@0.2", "Mean@0.3", "Mean@0.4",
)
#: Extra key: the weighted mean PCKh at exactly 0.1 (the reference's "Mean@0.1" is at 0.11).
MEAN_AT_01_EXACT = "Mean@0.1(exact)"

#: ``dataset_joints`` of MPII's ``gt_valid.mat`` (the MPII joint order, :data:`~semipose.skeletons.MPII16`).
MPII_GT_JOINT_NAMES: tuple[str, ...] = (
    "rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor",
    "neck", "head", "rwri", "relb", "rsho", "lsho", "lelb", "lwri",
)

#: Threshold grid of the reference and the grid indices reported as Mean@0.1 … Mean@0.4.
_GRID = np.arange(0, 0.5 + 0.01, 0.01)
_MEAN_AT = {"Mean@0.1": 11, "Mean@0.2": 20, "Mean@0.3": 30, "Mean@0.4": 40}
_MASKED = (6, 7)  # pelvis, thorax (by index, as the reference)
_PARTS = (("Shoulder", "sho"), ("Elbow", "elb"), ("Wrist", "wri"), ("Hip", "hip"), ("Knee", "kne"), ("Ankle", "ank"))


@dataclass
class MPIIGroundTruth:
    """MPII evaluation ground truth in the layout of ``gt_valid.mat``.

    Attributes:
        joint_names: 16 short names (``"head"``, ``"lsho"``, … as in :data:`MPII_GT_JOINT_NAMES`).
        jnt_missing: ``(16, N)`` 1 where the joint is not annotated.
        pos_gt_src: ``(16, 2, N)`` joint positions, 1-based pixels.
        headboxes_src: ``(2, 2, N)`` head box corners ``[corner, xy, person]``.
    """

    joint_names: tuple[str, ...]
    jnt_missing: np.ndarray
    pos_gt_src: np.ndarray
    headboxes_src: np.ndarray

    def __post_init__(self) -> None:
        self.jnt_missing = np.asarray(self.jnt_missing, dtype=np.float64)
        self.pos_gt_src = np.asarray(self.pos_gt_src, dtype=np.float64)
        self.headboxes_src = np.asarray(self.headboxes_src, dtype=np.float64)
        self.joint_names = tuple(str(n) for n in self.joint_names)
        if self.jnt_missing.ndim != 2 or self.jnt_missing.shape[0] != 16:
            raise DataFormatError(f"MPII ground truth: jnt_missing must be (16, N), got {self.jnt_missing.shape}")
        n = self.jnt_missing.shape[1]
        if self.pos_gt_src.shape != (16, 2, n):
            raise DataFormatError(f"MPII ground truth: pos_gt_src must be (16, 2, {n}), got {self.pos_gt_src.shape}")
        if self.headboxes_src.shape != (2, 2, n):
            raise DataFormatError(f"MPII ground truth: headboxes_src must be (2, 2, {n}), got {self.headboxes_src.shape}")
        if len(self.joint_names) != 16:
            raise DataFormatError(f"MPII ground truth: 16 joint names expected, got {len(self.joint_names)}")

    @property
    def num_persons(self) -> int:
        return int(self.jnt_missing.shape[1])

    @classmethod
    def from_arrays(
        cls,
        joints: np.ndarray,
        visible: np.ndarray,
        headboxes: np.ndarray,
        joint_names: Sequence[str] = MPII_GT_JOINT_NAMES,
    ) -> MPIIGroundTruth:
        """Build the ground truth from person-first arrays.

        Args:
            joints: ``(N, 16, 2)`` positions in **1-based** pixels (as in the MPII JSON /
                ``gt_valid.mat``).
            visible: ``(N, 16)`` truthy where the joint is annotated.
            headboxes: ``(N, 2, 2)`` head box corners ``[[x1, y1], [x2, y2]]``.
        """
        j = np.asarray(joints, dtype=np.float64)
        v = np.asarray(visible) > 0
        hb = np.asarray(headboxes, dtype=np.float64)
        return cls(
            joint_names=tuple(joint_names),
            jnt_missing=(~v).T.astype(np.float64),
            pos_gt_src=np.transpose(j, (1, 2, 0)),
            headboxes_src=np.transpose(hb, (1, 2, 0)),
        )


def _names_from_mat(value: Any) -> tuple[str, ...]:
    names = []
    for e in np.asarray(value, dtype=object).reshape(-1):
        while isinstance(e, np.ndarray):
            e = e.reshape(-1)[0] if e.size else ""
        names.append(str(e).strip())
    return tuple(names)


def load_mpii_gt(source: PathLike | Mapping[str, Any]) -> MPIIGroundTruth:
    """Read ``gt_valid.mat`` (or a dict with its four arrays, e.g. ``scipy.io.loadmat`` output).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unreadable file, missing arrays or wrong shapes (naming the file).
    """
    if isinstance(source, Mapping):
        src, d = "<MPII ground-truth dict>", source
    else:
        path = Path(source)
        src = str(path)
        if not path.is_file():
            raise MissingFileError(f"MPII ground-truth file not found: {src}")
        from scipy.io import loadmat

        try:
            d = loadmat(str(path))
        except Exception as e:  # scipy raises several types for non-.mat input
            raise DataFormatError(f"{src}: not a readable .mat file ({e})") from e
    missing = [k for k in ("dataset_joints", "jnt_missing", "pos_gt_src", "headboxes_src") if k not in d]
    if missing:
        raise DataFormatError(f"{src}: missing {missing} (expected MPII's gt_valid.mat layout)")
    try:
        return MPIIGroundTruth(
            _names_from_mat(d["dataset_joints"]), d["jnt_missing"], d["pos_gt_src"], d["headboxes_src"]
        )
    except ValueError as e:
        raise DataFormatError(f"{src}: {e}") from e


def evaluate_pckh(
    preds: np.ndarray,
    gt: MPIIGroundTruth | PathLike | Mapping[str, Any],
    *,
    sc_bias: float = 0.6,
    threshold: float = 0.5,
    zero_based: bool = True,
) -> dict[str, float]:
    """PCKh of MPII predictions (percentages; see the module docstring for every rule).

    Args:
        preds: ``(N, 16, 2|3)`` predictions in MPII joint order, image pixels (a third column,
            e.g. confidences, is ignored). ``(N, 24, 2|3)`` union-order predictions are mapped
            to MPII order first (:func:`~semipose.skeletons.get_union_mapping`).
        gt: :class:`MPIIGroundTruth`, a ``gt_valid.mat`` path or a dict of its arrays.
        sc_bias: head-size factor (0.6 in the reference).
        threshold: PCKh threshold (0.5).
        zero_based: ``preds`` are 0-based pixels and get +1 before the comparison (reference
            step 1); ``False`` for predictions already in the MATLAB convention.

    Returns:
        ``{key: value}`` for :data:`PCKH_KEYS` plus :data:`MEAN_AT_01_EXACT`. A joint with no
        visible instance has PCKh NaN (as in the reference), which makes its part NaN; "Mean"
        stays finite (correct / visible over the 14 counted joints).

    Raises:
        ValueError: shape mismatches between predictions and ground truth.
    """
    g = gt if isinstance(gt, MPIIGroundTruth) else load_mpii_gt(gt)
    p = np.asarray(preds, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] < 2 or p.shape[1] not in (16, 24):
        raise InputError(f"evaluate_pckh: preds must be (N, 16, 2) (MPII order) or (N, 24, 2) (union), got {p.shape}")
    if p.shape[1] == 24:
        from ..skeletons import get_union_mapping

        p = get_union_mapping("mpii16").from_union(p)
    if p.shape[0] != g.num_persons:
        raise InputError(f"evaluate_pckh: {p.shape[0]} predictions but {g.num_persons} ground-truth persons")
    xy = p[..., :2] + (1.0 if zero_based else 0.0)
    pos_pred = np.transpose(xy, (1, 2, 0))  # (16, 2, N)

    visible = 1.0 - g.jnt_missing  # (16, N)
    uv_err = np.linalg.norm(pos_pred - g.pos_gt_src, axis=1)  # (16, N)
    headsizes = np.linalg.norm(g.headboxes_src[1] - g.headboxes_src[0], axis=0) * sc_bias  # (N,)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(visible > 0, uv_err / headsizes[None, :], 0.0)
    vis = visible > 0
    jnt_count = vis.sum(axis=1).astype(np.float64)  # (16,)

    def correct_at(t: float | np.ndarray) -> np.ndarray:
        return ((scaled <= t) & vis).sum(axis=-1)

    with np.errstate(divide="ignore", invalid="ignore"):
        pckh = 100.0 * correct_at(threshold) / jnt_count
        grid_correct = ((scaled[None] <= _GRID[:, None, None]) & vis[None]).sum(axis=-1)  # (51, 16)

    keep = np.ones(16, dtype=bool)
    keep[list(_MASKED)] = False
    total = jnt_count[keep].sum()

    def weighted(correct: np.ndarray) -> float:
        return float(100.0 * correct[keep].sum() / total) if total > 0 else float("nan")

    idx = {n: i for i, n in enumerate(g.joint_names)}

    def j(name: str) -> int:
        if name not in idx:
            raise InputError(f"evaluate_pckh: ground truth has no joint named {name!r} (names: {g.joint_names})")
        return idx[name]

    out: dict[str, float] = {"Head": float(pckh[j("head")])}
    for part, suffix in _PARTS:
        out[part] = float(0.5 * (pckh[j("l" + suffix)] + pckh[j("r" + suffix)]))
    out["Mean"] = weighted(correct_at(threshold))
    for key, gi in _MEAN_AT.items():
        out[key] = weighted(grid_correct[gi])
    out[MEAN_AT_01_EXACT] = weighted(correct_at(0.1))
    return out


def format_pckh_table(
    rows: Mapping[str, Mapping[str, float]],
    *,
    title_col: str = "Arch",
    columns: Sequence[str] = PCKH_KEYS,
) -> str:
    """Markdown table of PCKh results in the reference's layout.

    Args:
        rows: ``{row name: evaluate_pckh result}``, e.g. ``{"net1": m1, "net2": m2, "ensemble": m3}``.
        title_col: header of the first column (``Arch`` in the reference).
        columns: metric keys to print (default :data:`PCKH_KEYS`; add
            :data:`MEAN_AT_01_EXACT` to show the exact-0.1 mean). A missing key prints ``-``.

    Returns:
        Header row ``| Arch | Head | … |``, separator ``|---|…``, one row per entry with values
        to 4 decimals; no trailing newline.
    """
    from .coco import format_metrics_table

    return format_metrics_table(rows, title_col=title_col, keys=columns)
