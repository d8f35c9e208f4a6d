"""The instance finder: a heatmap network on the whole frame whose peaks are the instances
(``task: finder``; trained by ``semipose train finder.yaml``, data: :mod:`semipose.data.finder`).

:class:`CentroidFinder` implements the detector contract (:mod:`semipose.detect.base`): the
frame is cropped whole (padded to the network's aspect), the one-channel heatmap's local
maxima above ``threshold`` are kept best first, no two closer than ``min_distance`` frame
pixels, each refined to sub-pixel by the parabola through the log of its neighbours (exact for a Gaussian), and each becomes a box of
``crop`` frame pixels centred on it. So anything that takes a detector — ``semipose predict``,
:class:`~semipose.predict.PoseEstimator`, the unlabelled video frames of a training run — takes
a finder file (:func:`open_instance_detector`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch

from ..detect.base import Detector
from ..device import autocast, resolve_device, resolve_precision
from ..errors import CheckpointError
from ..geometry import affine_matrix, box_to_center_scale
from ..image import normalize_crop, warp_crop
from ..params import FinderParams
from .card import ModelCard
from .reader import ModelFile

__all__ = ["find_peaks", "peak_decoder", "finder_min_distance", "CentroidFinder", "finder_params", "open_instance_detector"]


def find_peaks(heatmap: np.ndarray, threshold: float, min_distance: float, max_peaks: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The instances of a one-channel heatmap.

    Args:
        heatmap: ``(h, w)`` float.
        threshold: a peak's value must reach this.
        min_distance: heatmap pixels; of two peaks closer than this the weaker is dropped.
        max_peaks: keep at most this many, best first (0: all).

    Returns:
        ``(P, 2)`` float32 sub-pixel ``(x, y)`` in heatmap pixels and ``(P,)`` float32 values, best first.
    """
    hm = np.asarray(heatmap, np.float32)
    h, w = hm.shape
    pad = np.pad(hm, 1, constant_values=-np.inf)
    neigh = np.stack([pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
    ys, xs = np.nonzero((hm >= threshold) & (hm >= neigh.max(0)))
    order = np.argsort(-hm[ys, xs], kind="stable")
    kept: list[int] = []
    for i in order:
        if all((xs[i] - xs[j]) ** 2 + (ys[i] - ys[j]) ** 2 >= min_distance ** 2 for j in kept):
            kept.append(int(i))
            if max_peaks and len(kept) == max_peaks:
                break
    out = np.zeros((len(kept), 2), np.float32)
    logs = np.log(np.clip(pad, 1e-6, None))  # a Gaussian's log is a parabola: its vertex is the sub-pixel peak
    for n, i in enumerate(kept):
        y, x = ys[i] + 1, xs[i] + 1  # in the padded map
        off = []
        for lo, c, hi in ((logs[y, x - 1], logs[y, x], logs[y, x + 1]), (logs[y - 1, x], logs[y, x], logs[y + 1, x])):
            den = lo - 2 * c + hi
            off.append(float(np.clip(0.5 * (lo - hi) / den, -0.5, 0.5)) if den < 0 and np.isfinite(den) else 0.0)
        out[n] = (xs[i] + off[0], ys[i] + off[1])
    return out, hm[ys[kept], xs[kept]].astype(np.float32)


def peak_decoder(k: int, threshold: float, min_distance: float, max_peaks: int = 0) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """A batch decoder of one-channel heatmaps ``(N, 1, h, w)`` → ``(N, k, 2)`` peaks in heatmap
    pixels and ``(N, k)`` scores (:func:`find_peaks`, the best ``k``; score 0 where a frame has fewer)."""

    def decode(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hm = heatmaps[:, 0].float().cpu().numpy()
        xy, sc = np.zeros((len(hm), k, 2), np.float32), np.zeros((len(hm), k), np.float32)
        for i, h in enumerate(hm):
            p, s = find_peaks(h, threshold, min_distance, min(k, max_peaks) if max_peaks else k)
            xy[i, :len(p)], sc[i, :len(s)] = p, s
        return torch.from_numpy(xy), torch.from_numpy(sc)

    return decode


def finder_min_distance(params: FinderParams) -> float:
    """Frame pixels within which two peaks are one instance: ``min_distance``, else a third of the crop's short side."""
    assert params.crop is not None
    return float(params.min_distance) or float(min(params.crop)) / 3


def finder_params(card: ModelCard, where: str) -> FinderParams:
    """The finder settings a finder's model file carries (its training config's ``finder``).

    Raises:
        CheckpointError: the file is not a finder's.
    """
    cfg = card.config or {}
    if cfg.get("task") != "finder":
        raise CheckpointError(f"{where}: a pose model, not an instance finder (train one with `semipose train finder.yaml`, "
                              "which `semipose data import` writes for a project with several animals per frame)")
    f = dict(cfg.get("finder") or {})
    return FinderParams(**{k: f[k] for k in ("crop", "min_distance", "threshold", "max_instances") if k in f})


class CentroidFinder:
    """Instances of a frame from a finder network (the detector contract; see the module docstring).

    Args:
        net: ``(1, 3, H, W)`` normalised input → ``(1, 1, h, w)`` heatmap.
        card: the finder's model card (input and heatmap size, colour order, normalisation).
        params: crop, minimum distance, threshold, at most how many.
        device, precision: where and how the network runs.
    """

    def __init__(self, net: torch.nn.Module, card: ModelCard, params: FinderParams, *, device: torch.device | None = None,
                 precision: str = "fp32") -> None:
        if params.crop is None:
            raise CheckpointError("an instance finder needs finder.crop (the [width, height] of its boxes)")
        self.net, self.card, self.params = net.eval(), card, params
        self.device = device or torch.device("cpu")
        self.precision = precision
        self.crop = np.asarray(params.crop, np.float32)
        self.min_distance = finder_min_distance(params)
        self._mean = np.asarray(card.mean, np.float32) * 255.0
        self._std = np.asarray(card.std, np.float32) * 255.0
        self.description = "instance finder"
        self.codec = card.codec()

    @classmethod
    def from_model_file(cls, mf: ModelFile, *, device: str | torch.device = "cpu", precision: str = "fp32") -> CentroidFinder:
        """The finder of a read model file (``precision`` ``auto``: bf16 where native)."""
        dev = resolve_device(device) if isinstance(device, str) else device
        card = mf.model_card
        params = finder_params(card, str(mf.path))
        finder = cls(card.predictor(mf.build_nets(dev)), card, params, device=dev, precision=resolve_precision(precision, dev))
        finder.description = f"instance finder {mf.path}"
        return finder

    def frame_crop(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """``(center, scale)`` of the whole frame's crop."""
        w, h = self.card.input_size
        return box_to_center_scale(np.array([0.0, 0.0, width, height]), w / h, 1.0)

    @torch.no_grad()
    def heatmap(self, image: np.ndarray, crop: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """``(h, w)`` float32 heatmap of an ``(H, W, 3)`` uint8 BGR frame (``crop``: its :meth:`frame_crop`, when known)."""
        center, scale = crop or self.frame_crop(image.shape[1], image.shape[0])
        size = tuple(self.card.input_size)
        patch = warp_crop(image, affine_matrix(center, scale, 0.0, size), size)  # type: ignore[arg-type]
        x = torch.from_numpy(normalize_crop(patch, self._mean, self._std, reverse_channels=self.card.color == "rgb"))
        with autocast(self.precision, self.device):
            out = self.net(x[None].to(self.device))
        return out[0, 0].float().cpu().numpy()

    def anchors(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(P, 2)`` anchors in frame pixels and their ``(P,)`` scores, best first."""
        center, scale = self.frame_crop(image.shape[1], image.shape[0])
        hm = self.heatmap(image, (center, scale))
        frame_per_hm = float(scale[0]) * 200.0 / hm.shape[1]
        xy, score = find_peaks(hm, self.params.threshold, self.min_distance / frame_per_hm, self.params.max_instances)
        return self.codec.to_image(xy[None], center[None], scale[None])[0], score

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The detector contract: ``(P, 4)`` boxes ``(x, y, w, h)`` of ``crop`` around each anchor, ``(P,)`` scores."""
        pts, score = self.anchors(image)
        boxes = np.concatenate([pts - self.crop / 2, np.broadcast_to(self.crop, pts.shape)], axis=1) if len(pts) else np.zeros((0, 4))
        return boxes.astype(np.float32), score


def _is_model_file(spec: str) -> bool:
    return os.path.splitext(spec)[1].lower() in (".pt", ".pth") and not spec.startswith(("http://", "https://", "hf://"))


def open_instance_detector(spec: str | os.PathLike[str] | Detector, score_thr: float | None = None, *, device: str = "cpu",
                           precision: str = "auto", trust: bool = False, progress: bool = True) -> Detector:
    """Who finds the instances: a callable as it is, a finder's model file (``.pt``: a
    :class:`CentroidFinder`; ``score_thr`` overrides its threshold), or an ONNX person
    detector's source (:func:`semipose.detect.person.open_detector`).

    Raises:
        CheckpointError: a ``.pt`` file that is not a finder's, naming it.
    """
    if callable(spec):
        return spec
    s = os.fspath(spec)
    if _is_model_file(s):
        from .modelfile import read_model

        finder = CentroidFinder.from_model_file(read_model(s, trust=trust), device=device, precision=precision)
        if score_thr is not None:
            finder.params.threshold = float(score_thr)
        return finder
    from ..detect.person import open_detector

    return open_detector(s, score_thr, progress=progress)

