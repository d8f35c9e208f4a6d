"""The heatmap head every pose network ends with: a ``1×1`` (or ``3×3``) convolution from the
last feature map to one heatmap per keypoint, with a bias. Initialised by its network (the
reference's N(0, 0.001), bias 0, in the network's own order)."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError

__all__ = ["heatmap_head"]


def heatmap_head(in_channels: int, num_joints: int, kernel: int = 1) -> nn.Conv2d:
    """``Conv2d(in_channels → num_joints, kernel, padding kernel // 2, bias)``: features
    ``(N, C, h, w)`` → heatmaps ``(N, K, h, w)``.

    Raises:
        ConfigError: ``kernel`` is not 1 or 3.
    """
    if kernel not in (1, 3):
        raise ConfigError(f"final_kernel must be 1 or 3, got {kernel!r}")
    return nn.Conv2d(in_channels, num_joints, kernel_size=kernel, stride=1, padding=kernel // 2, bias=True)
