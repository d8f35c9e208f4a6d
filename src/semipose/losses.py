"""Heatmap losses.

Shape symbols: N instances, K keypoints, ``[h, w]`` heatmap size.
"""

from __future__ import annotations

import torch

__all__ = ["joints_mse_loss"]


def joints_mse_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted heatmap MSE, ``0.5 · mean_{n,k,y,x} w_nk (pred − target)²``.

    Equal to the reference ``JointsMSELoss`` with target weights for weights in
    {0, 1}: zero-weight channels still count in the mean's divisor. One fused expression,
    no per-joint loop.

    Args:
        pred: ``(N, K, h, w)`` predicted heatmaps.
        target: ``(N, K, h, w)`` target heatmaps.
        weight: ``(N, K)`` (or ``(N, K, 1)``) per-keypoint weights.

    Returns:
        Scalar loss.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    w = weight.reshape(weight.shape[0], weight.shape[1], 1, 1).to(pred.dtype)
    return 0.5 * (w * (pred - target) ** 2).mean()
