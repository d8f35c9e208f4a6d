"""Object keypoint similarity (OKS) and greedy OKS non-maximum suppression.

OKS follows the COCO keypoint formula used by COCOeval and by the reference code's
``oks_iou``: for keypoint ``k`` with OKS sigma ``s_k``::

    var_k = (2 * s_k) ** 2
    e_k   = d_k ** 2 / var_k / ((area_a + area_b) / 2 + eps) / 2
    OKS   = mean_k exp(-e_k)

where ``d_k`` is the pixel distance between the two instances' keypoints, the areas are the
instances' (padded-box) areas and ``eps = np.spacing(1)``. Unlike COCOeval (which compares a
prediction to a ground truth and averages over the *labelled* ground-truth keypoints), this
symmetric form compares two predictions and, by default, averages over *all* K keypoints.
With ``vis_thr`` set, only keypoints whose score (third column) exceeds ``vis_thr`` in *both*
instances count, and an OKS over no keypoints is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["oks_iou", "oks_matrix", "oks_nms"]

_EPS = float(np.spacing(1))


def _as_sigmas(sigmas: Sequence[float] | np.ndarray, k: int) -> np.ndarray:
    sig = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if sig.shape[0] != k:
        raise ValueError(f"OKS: {k} keypoints but {sig.shape[0]} sigmas")
    return sig


def _check_kpts(kpts: np.ndarray, name: str, ndim: int, vis_thr: float | None) -> np.ndarray:
    arr = np.asarray(kpts, dtype=np.float64)
    if arr.ndim != ndim or arr.shape[-1] not in (2, 3):
        want = "(K, 3)" if ndim == 2 else "(N, K, 3)"
        raise ValueError(f"OKS: {name} must have shape {want}, got {arr.shape}")
    if vis_thr is not None and arr.shape[-1] != 3:
        raise ValueError(f"OKS: vis_thr needs keypoint scores, {name} has shape {arr.shape}")
    return arr


def _oks_from_sq_dist(
    d2: np.ndarray, area_mean: np.ndarray, var: np.ndarray, mask: np.ndarray | None
) -> np.ndarray:
    """OKS from squared distances ``(..., K)``, mean areas ``(...)`` and an optional mask."""
    e = d2 / var / (area_mean[..., None] + _EPS) / 2.0
    sim = np.exp(-e)
    if mask is None:
        return sim.mean(axis=-1)
    count = mask.sum(axis=-1)
    total = np.where(mask, sim, 0.0).sum(axis=-1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def oks_iou(
    kpts_a: np.ndarray,
    kpts_b: np.ndarray,
    area_a: float,
    areas_b: np.ndarray | float,
    sigmas: Sequence[float] | np.ndarray,
    *,
    vis_thr: float | None = None,
) -> np.ndarray | float:
    """OKS between one instance and many.

    Args:
        kpts_a: ``(K, 3)`` keypoints ``(x, y, score)`` of the reference instance (``(K, 2)``
            is accepted when ``vis_thr`` is ``None``).
        kpts_b: ``(N, K, 3)`` keypoints of the other instances, or a single ``(K, 3)``.
        area_a: area of the reference instance in pixels².
        areas_b: ``(N,)`` areas of the other instances (a scalar for a single instance).
        sigmas: ``(K,)`` OKS sigmas (COCO convention; the variance factor is ``(2σ)²``).
        vis_thr: if given, only keypoints whose score exceeds it in both instances count.

    Returns:
        ``(N,)`` float64 OKS values, or a float when ``kpts_b`` is a single ``(K, 3)``.
    """
    a = _check_kpts(kpts_a, "kpts_a", 2, vis_thr)
    single = np.ndim(kpts_b) == 2
    b = _check_kpts(np.asarray(kpts_b)[None] if single else kpts_b, "kpts_b", 3, vis_thr)
    k = a.shape[0]
    if b.shape[1] != k:
        raise ValueError(f"OKS: kpts_a has {k} keypoints, kpts_b has {b.shape[1]}")
    var = (2.0 * _as_sigmas(sigmas, k)) ** 2
    ab = np.broadcast_to(np.asarray(areas_b, dtype=np.float64).reshape(-1), (b.shape[0],))
    d2 = ((b[..., :2] - a[None, :, :2]) ** 2).sum(axis=-1)  # (N, K)
    mask = None
    if vis_thr is not None:
        mask = (a[None, :, 2] > vis_thr) & (b[..., 2] > vis_thr)
    out = _oks_from_sq_dist(d2, (float(area_a) + ab) / 2.0, var, mask)
    return float(out[0]) if single else out


def oks_matrix(
    kpts: np.ndarray,
    areas: np.ndarray,
    sigmas: Sequence[float] | np.ndarray,
    *,
    vis_thr: float | None = None,
) -> np.ndarray:
    """Pairwise OKS between N instances (fully vectorised).

    Args:
        kpts: ``(N, K, 3)`` keypoints ``(x, y, score)`` (``(N, K, 2)`` when ``vis_thr`` is
            ``None``).
        areas: ``(N,)`` instance areas in pixels².
        sigmas: ``(K,)`` OKS sigmas.
        vis_thr: optional keypoint-score threshold (see module docstring).

    Returns:
        ``(N, N)`` float64 symmetric matrix; the diagonal is 1 (0 for an instance with no
        keypoint above ``vis_thr``).
    """
    p = _check_kpts(kpts, "kpts", 3, vis_thr)
    n, k = p.shape[:2]
    ar = np.asarray(areas, dtype=np.float64).reshape(-1)
    if ar.shape[0] != n:
        raise ValueError(f"oks_matrix: {n} instances but {ar.shape[0]} areas")
    var = (2.0 * _as_sigmas(sigmas, k)) ** 2
    d2 = ((p[:, None, :, :2] - p[None, :, :, :2]) ** 2).sum(axis=-1)  # (N, N, K)
    mask = None
    if vis_thr is not None:
        vis = p[..., 2] > vis_thr
        mask = vis[:, None, :] & vis[None, :, :]
    return _oks_from_sq_dist(d2, (ar[:, None] + ar[None, :]) / 2.0, var, mask)


def oks_nms(
    kpts: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    sigmas: Sequence[float] | np.ndarray,
    thr: float = 0.9,
    *,
    vis_thr: float | None = None,
) -> np.ndarray:
    """Greedy OKS non-maximum suppression.

    Instances are visited by descending score (ties in input order); each kept instance
    suppresses every remaining one whose OKS with it exceeds ``thr``.

    Args:
        kpts: ``(N, K, 3)`` keypoints ``(x, y, score)`` in image pixels.
        scores: ``(N,)`` instance scores.
        areas: ``(N,)`` instance areas in pixels² (the reference uses the padded box area).
        sigmas: ``(K,)`` OKS sigmas.
        thr: suppression threshold (strictly greater is suppressed).
        vis_thr: optional keypoint-score threshold for the OKS (off in the reference).

    Returns:
        ``(M,)`` int64 indices of the kept instances, by descending score. Empty for N = 0;
        if nothing were kept, all indices are returned (as the reference does).
    """
    p = _check_kpts(kpts, "kpts", 3, vis_thr)
    n = p.shape[0]
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    ar = np.asarray(areas, dtype=np.float64).reshape(-1)
    if sc.shape[0] != n or ar.shape[0] != n:
        raise ValueError(f"oks_nms: {n} instances but {sc.shape[0]} scores and {ar.shape[0]} areas")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-sc, kind="stable")
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        ovr = oks_iou(p[i], p[rest], ar[i], ar[rest], sigmas, vis_thr=vis_thr)
        order = rest[ovr <= thr]
    if not keep:  # cannot happen for N > 0; kept for parity with the reference
        return np.arange(n, dtype=np.int64)
    return np.asarray(keep, dtype=np.int64)
