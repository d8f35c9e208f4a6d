"""Batched inference over a top-down dataset: network → (flip test) → decoded image coordinates.

Everything after the DataLoader happens on the model's device: the flipped input is made with
``torch.flip``, the flipped heatmaps are mirrored back with the skeleton's channel
permutation (:func:`semipose.codec.flip_back`), and the argmax/quarter-offset decoding is a
batched tensor operation. Only the final ``(N, K, 2)`` coordinates go back to the host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..codec import HeatmapCodec, flip_back
from ..device import autocast, to_memory_format
from ..threads import tick

__all__ = ["Predictions", "predict_heatmaps", "run_inference"]


@dataclass
class Predictions:
    """Decoded predictions for a dataset, in dataset order.

    Attributes:
        coords: ``(N, K, 2)`` float32 original-image pixels.
        maxvals: ``(N, K)`` float32 heatmap peak values (keypoint confidences).
        filled: ``(N,)`` bool, which rows this process predicted (all of them unless the
            loader visits a shard, as in multi-process validation).
        seconds: wall time of the pass.
    """

    coords: np.ndarray
    maxvals: np.ndarray
    filled: np.ndarray
    seconds: float = 0.0


@torch.no_grad()
def predict_heatmaps(
    model: nn.Module,
    images: torch.Tensor,
    *,
    flip_index: Sequence[int] | np.ndarray | None = None,
    shift_heatmap: bool = True,
) -> torch.Tensor:
    """Heatmaps for a batch, optionally averaged with the flipped input's (flip test).

    Args:
        model: network mapping ``(N, 3, H, W)`` to ``(N, K, h, w)``.
        images: ``(N, 3, H, W)`` normalised input on the model's device.
        flip_index: ``(K,)`` left/right channel permutation; ``None`` disables the flip test.
        shift_heatmap: shift the un-flipped heatmaps one pixel right (reference behaviour).

    Returns:
        ``(N, K, h, w)`` float32 heatmaps.
    """
    out = model(images).float()
    if flip_index is not None:
        flipped = model(images.flip(3)).float()
        out = 0.5 * (out + flip_back(flipped, flip_index, shift=shift_heatmap))
    return out


@torch.no_grad()
def run_inference(
    model: nn.Module,
    loader: DataLoader,
    codec: HeatmapCodec,
    *,
    device: torch.device | str,
    flip_index: Sequence[int] | np.ndarray | None = None,
    shift_heatmap: bool = True,
    precision: str = "fp32",
    channels_last: bool = False,
    progress: bool = True,
    desc: str = "eval",
    num_keypoints: int | None = None,
    require_all: bool = True,
    decode: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> Predictions:
    """Predict every sample of ``loader`` (which must not shuffle).

    The batches must carry ``image``, ``center``, ``scale`` and ``index`` (as produced by
    :class:`~semipose.data.topdown.TopDownDataset`). Results are placed by ``index``, so any
    sampler order works; with ``require_all=False`` the loader may visit only a shard
    (rows it did not visit stay zero and ``filled`` is False there). The codec's ``decoder``
    refines the peaks. ``precision`` (resolved: fp32, bf16, fp16) and ``channels_last`` are the
    network's; heatmaps are decoded in fp32. ``decode``: ``(N, C, h, w)`` heatmaps → ``(N, K, 2)``
    heatmap coordinates and ``(N, K)`` scores, instead of the codec's (an instance finder's peaks).

    Returns:
        :class:`Predictions` with ``N = len(loader.dataset)`` rows.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    n = len(loader.dataset)  # type: ignore[arg-type]
    k = num_keypoints or 0
    coords = np.zeros((n, k, 2), np.float32)
    maxvals = np.zeros((n, k), np.float32)
    filled = np.zeros(n, bool)
    t0 = time.perf_counter()
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        tick()
        images = to_memory_format(batch["image"].to(device, non_blocking=True), channels_last)
        with autocast(precision, device):
            hm = predict_heatmaps(model, images, flip_index=flip_index, shift_heatmap=shift_heatmap)
        c, m = (decode or codec.decode)(hm.float())
        idx = batch["index"].numpy()
        img_xy = codec.to_image(c.cpu().numpy(), batch["center"].numpy(), batch["scale"].numpy())
        if coords.shape[1] == 0:
            k = img_xy.shape[1]
            coords = np.zeros((n, k, 2), np.float32)
            maxvals = np.zeros((n, k), np.float32)
        coords[idx] = img_xy
        maxvals[idx] = m.cpu().numpy()
        filled[idx] = True
    if require_all and not filled.all():
        raise RuntimeError(f"inference covered {int(filled.sum())} of {n} samples; the loader must visit every sample once")
    model.train(was_training)
    return Predictions(coords, maxvals, filled, time.perf_counter() - t0)
