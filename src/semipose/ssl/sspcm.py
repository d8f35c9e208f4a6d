"""SSPCM's pseudo-label corrections (Huang et al., "Semi-Supervised 2D Human Pose Estimation
Driven by Position Inconsistency Pseudo Label Correction Module", CVPR 2023), as batched tensor
functions used by :class:`semipose.ssl.methods.SemiSupervisedModel` for ``method="sspcm"``.

SSPCM trains three networks: two interactive ones that teach each other as in PoseDual, and an
auxiliary one taught by their mean heatmap. Where the two interactive networks disagree, the
pseudo-labels are corrected:

* :func:`agreement_weights` — per unlabelled joint, a confidence filter on the two peaks and an
  optional re-weighting by their difference (every consistency term), plus a filter and a
  re-weighting by the distance between the two predicted joints (the auxiliary term);
* :func:`temporal_pair` — the temporal correction: per joint, of the four pairs (net 1, net 2)
  × (this step, the previous epoch's model), the one whose joints lie closest gives the
  auxiliary target (the mean of its two heatmaps).

Shapes: M unlabelled crops, K keypoints, ``[h, w]`` heatmaps; joints in heatmap pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..params import SSPCMParams

__all__ = ["agreement_weights", "temporal_pair"]


def _distance(a: Tensor, b: Tensor) -> Tensor:
    return torch.linalg.vector_norm(a - b, dim=-1)


def agreement_weights(
    joints1: Tensor, peaks1: Tensor, joints2: Tensor, peaks2: Tensor, heatmap_size: tuple[int, int], params: SSPCMParams,
) -> tuple[Tensor, Tensor]:
    """The joint weights of SSPCM's consistency terms from the two interactive networks'
    easy-view predictions.

    Args:
        joints1, joints2: ``(M, K, 2)`` argmax joints (heatmap pixels) of the two networks.
        peaks1, peaks2: ``(M, K)`` their heatmap maxima.
        heatmap_size: ``(h, w)``.
        params: which filters and re-weightings apply.

    Returns:
        ``(pair, aux)``: ``(M, K)`` float multipliers of the squared errors of the interactive
        networks' terms and of the auxiliary network's term (``aux`` = ``pair`` × the distance
        corrections). A re-weighting ``r`` enters squared: the reference multiplies the
        prediction and the target by ``r`` (``(r·p − r·t)² = r² (p − t)²``); the filters are 0/1.
    """
    pair = torch.ones_like(peaks1, dtype=torch.float32)
    if params.score_filter:
        pair = pair * ((peaks1 + peaks2) / 2 > params.score_thr).float()
    if params.score_reweight:
        pair = pair * (1.0 - (peaks1 - peaks2).abs()).clamp(0.0, 1.0) ** 2
    aux = pair
    if params.dist_filter or params.dist_reweight:
        h, w = heatmap_size
        diag = math.sqrt(float(h * h + w * w))
        frac = _distance(joints1.float(), joints2.float()).clamp(max=diag - 1.0) / diag
        if params.dist_filter:
            aux = aux * (frac < params.dist_thr).float()
        if params.dist_reweight:
            aux = aux * (1.0 - frac) ** 2
    return pair, aux


def temporal_pair(heatmaps: Sequence[Tensor], joints: Sequence[Tensor]) -> Tensor:
    """The temporally corrected auxiliary target.

    Args:
        heatmaps: ``[now1, now2, prev1, prev2]`` ``(M, K, h, w)`` easy-view heatmaps of the two
            interactive networks now and of their previous-epoch copies.
        joints: their ``(M, K, 2)`` argmax joints, in the same order.

    Returns:
        ``(M, K, h, w)``: per joint, the mean heatmap of the pair — (now1, now2), (prev1, now2),
        (now1, prev2) or (prev1, prev2), in this order of preference on ties — whose two joints
        are closest.
    """
    now1, now2, prev1, prev2 = heatmaps
    j1, j2, p1, p2 = joints
    pairs = ((now1, now2, j1, j2), (prev1, now2, p1, j2), (now1, prev2, j1, p2), (prev1, prev2, p1, p2))
    dist = torch.stack([_distance(a_j.float(), b_j.float()) for _, _, a_j, b_j in pairs])  # (4, M, K)
    best = dist.argmin(dim=0)  # (M, K): the first of equally close pairs
    out = torch.zeros_like(now1)
    for i, (a, b, _, _) in enumerate(pairs):
        out = torch.where((best == i)[..., None, None], 0.5 * (a + b), out)
    return out


def sspcm_corrections(params: SSPCMParams, joints: Mapping[Any, Tensor], peaks: Mapping[Any, Tensor], heatmap_size: tuple[int, int],
                      teachers: Sequence[Any]) -> dict[Any, Tensor]:
    """SSPCM as a plug of the teacher–student step: the ``(M, K)`` weight multiplier of each
    teacher's consistency term (``teachers``: the teacher of each student, an index or a tuple
    for the mean-of-networks teacher), from the easy-view joints and peaks of networks 0 and 1
    (:func:`agreement_weights`: ``pair`` for a network teacher, ``aux`` for the mean teacher)."""
    pair, aux = agreement_weights(joints[0], peaks[0], joints[1], peaks[1], heatmap_size, params)
    return {t: (aux if isinstance(t, tuple) else pair) for t in teachers}
