"""Several networks as one: the mean of their heatmaps (the PoseDual ensemble)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["EnsembleNet"]


class EnsembleNet(nn.Module):
    """``(N, 3, H, W)`` → the mean of the networks' ``(N, K, h, w)`` heatmaps."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: Tensor) -> Tensor:
        out = self.nets[0](x)
        for net in self.nets[1:]:
            out = out + net(x)
        return out / len(self.nets)
