"""Video-native unsupervised losses on the student's predictions for unlabelled frames: each a
loss object with its own ``name``, ``weight`` and ``epsilon``, penalising only what lies beyond
``epsilon`` (an ε-insensitive hinge, as lightning-pose's unsupervised losses do).

* :class:`TemporalLoss` — temporal continuity: a joint that moves more than ``epsilon`` pixels
  (of the network input) between consecutive frames ``t − 1, t, t + 1`` of one video is
  penalised by the excess, where the network is confident enough in both frames.
* :class:`PosePriorLoss` — a pose prior: a PCA of the labelled poses (each normalised to its
  instance: centred on its mean joint, divided by its RMS spread), fitted once
  (:meth:`PosePriorLoss.fit`); a predicted pose whose reconstruction error (in those normalised
  units) is larger than ``epsilon`` is penalised by the excess.

Both read the joints of ``(M, K, h, w)`` heatmaps with a differentiable soft-argmax
(:func:`soft_argmax`), so the gradient reaches the network. Shapes: ``M`` crops, ``K`` joints,
``[w, h]`` heatmap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..errors import ConfigError, DataFormatError

__all__ = ["MIN_PRIOR_POSES", "soft_argmax", "TemporalLoss", "PosePriorLoss", "augmented_poses", "VideoLoss"]


def soft_argmax(heatmaps: Tensor, radius: int = 2) -> tuple[Tensor, Tensor]:
    """Differentiable joint positions and confidences of heatmaps: the heatmap-weighted mean
    position in a ``(2r + 1)²`` window around each peak (sub-pixel, unlike a global softmax,
    which pulls towards the peak pixel, and blind to the rest of the map).

    Args:
        heatmaps: ``(M, K, h, w)``.
        radius: the window's half size, heatmap pixels.

    Returns:
        ``(xy, conf)``: ``(M, K, 2)`` positions in heatmap pixels (x, y), differentiable in
        the window's values, and ``(M, K)`` the heatmap maxima (no gradient).
    """
    m, k, h, w = heatmaps.shape
    hm = heatmaps.float()
    flat = hm.detach().reshape(m, k, h * w)
    conf, idx = flat.max(dim=2)
    py, px = (idx // w).float(), (idx % w).float()
    xs = torch.arange(w, device=hm.device, dtype=hm.dtype).view(1, 1, 1, w)
    ys = torch.arange(h, device=hm.device, dtype=hm.dtype).view(1, 1, h, 1)
    window = ((xs - px[..., None, None]).abs() <= radius) & ((ys - py[..., None, None]).abs() <= radius)
    wts = torch.relu(hm) * window
    total = wts.sum(dim=(2, 3)).clamp(min=1e-6)
    x = (wts * xs).sum(dim=(2, 3)) / total
    y = (wts * ys).sum(dim=(2, 3)) / total
    return torch.stack([x, y], dim=2), conf


def augmented_poses(keypoints: Tensor, visible: Tensor, *, flip_index: Sequence[int] | None = None,
                    rotations: Sequence[float] = ()) -> tuple[Tensor, Tensor]:
    """The labelled poses as the easy views show them: each pose, its mirror image (``x → −x``
    with left and right swapped by ``flip_index``) and each of those rotated by every angle of
    ``rotations`` (degrees), so a prior fitted on them accepts a flipped or rotated crop of a
    plausible pose (normalisation already removes position and size).

    Args:
        keypoints: ``(N, K, 2)``; visible: ``(N, K)`` bool.
        flip_index: the joint each joint becomes when mirrored (None: no mirrored copies).
        rotations: angles of the rotated copies (the unrotated pose is always kept).

    Returns:
        ``(keypoints, visible)``: ``(N · F · (1 + R), K, 2)`` and ``(N · F · (1 + R), K)``,
        ``F`` 2 with ``flip_index``, else 1.
    """
    kp, vis = [keypoints.double()], [visible]
    if flip_index is not None:
        idx = torch.as_tensor(list(flip_index), dtype=torch.long)
        mirrored = keypoints.double()[:, idx].clone()
        mirrored[..., 0] = -mirrored[..., 0]
        kp.append(mirrored)
        vis.append(visible[:, idx])
    base_kp, base_vis = torch.cat(kp), torch.cat(vis)
    out_kp, out_vis = [base_kp], [base_vis]
    for deg in rotations:
        a = torch.tensor(float(deg), dtype=torch.float64).deg2rad()
        rot = torch.stack([torch.stack([a.cos(), -a.sin()]), torch.stack([a.sin(), a.cos()])])
        out_kp.append(base_kp @ rot.T)
        out_vis.append(base_vis)
    return torch.cat(out_kp), torch.cat(out_vis)


#: the fewest complete poses (copies included) a pose prior is fitted on
MIN_PRIOR_POSES = 3


@dataclass
class TemporalLoss:
    """Temporal continuity on consecutive frames of one video.

    Attributes:
        name: the term's name in the step output and ``metrics.csv``.
        weight: its weight in the total loss.
        epsilon: pixels (of the network input) a joint may move between two frames unpenalised.
        conf_thr: a joint counts only where both frames' heatmap maxima reach this.
        stride: network input pixels per heatmap pixel.
    """

    name: str = "temporal"
    weight: float = 1.0
    epsilon: float = 8.0
    conf_thr: float = 0.2
    stride: int = 4

    def __call__(self, frames: list[Tensor]) -> Tensor:
        """The mean excess jump over the consecutive pairs of ``frames``.

        Args:
            frames: the heatmaps of ``T ≥ 2`` consecutive frames (``t − 1, t, t + 1``), each
                ``(M, K, h, w)``, row ``i`` of each from the same video and instance.

        Returns:
            A scalar: ``Σ relu(‖p_t − p_{t−1}‖ − ε) · gate / Σ gate`` over pairs, crops and joints
            (0 when no joint is confident).
        """
        if len(frames) < 2:
            raise ConfigError(f"{self.name}: needs at least two consecutive frames, got {len(frames)}")
        points = [soft_argmax(hm) for hm in frames]
        total = frames[0].new_zeros((), dtype=torch.float32)
        count = frames[0].new_zeros((), dtype=torch.float32)
        for (a, ca), (b, cb) in zip(points, points[1:]):
            gate = ((ca >= self.conf_thr) & (cb >= self.conf_thr)).float()
            jump = torch.linalg.vector_norm(a - b, dim=2) * self.stride
            total = total + (torch.relu(jump - self.epsilon) * gate).sum()
            count = count + gate.sum()
        return total / count.clamp(min=1.0)


@dataclass
class PosePriorLoss:
    """A PCA pose prior fitted on the labelled poses.

    Attributes:
        name: the term's name in the step output and ``metrics.csv``.
        weight: its weight in the total loss.
        epsilon: reconstruction error (normalised units: the pose's RMS spread is 1) allowed unpenalised.
        variance: the share of the labelled poses' variance the kept components explain.
        mean: ``(2K,)`` mean normalised pose; ``components``: ``(C, 2K)`` orthonormal rows (set by :meth:`fit`).
    """

    name: str = "pose_prior"
    weight: float = 1.0
    epsilon: float = 0.1
    variance: float = 0.99
    mean: Tensor | None = field(default=None, repr=False)
    components: Tensor | None = field(default=None, repr=False)

    @staticmethod
    def normalize(xy: Tensor) -> Tensor:
        """``(M, K, 2)`` poses → ``(M, 2K)``: centred on the mean joint, divided by the RMS distance to it."""
        c = xy - xy.mean(dim=1, keepdim=True)
        scale = c.pow(2).sum(2).mean(1).sqrt().clamp(min=1e-6)
        return (c / scale[:, None, None]).reshape(xy.shape[0], -1)

    def fit(self, keypoints: Tensor, visible: Tensor) -> PosePriorLoss:
        """Fit the PCA on the labelled poses whose every joint is labelled.

        Args:
            keypoints: ``(N, K, 2)`` labelled joints (any pixels: each pose is normalised).
            visible: ``(N, K)`` bool, labelled.

        Raises:
            DataFormatError: fewer than :data:`MIN_PRIOR_POSES` complete poses. With fewer complete
                poses than the pose has coordinates the prior is the span of the labelled ones: narrow, but
                a prior; the caller says so.
        """
        full = visible.all(dim=1)
        n = int(full.sum())
        if n < MIN_PRIOR_POSES:
            raise DataFormatError(f"{self.name}: {n} labelled poses with every joint labelled; a pose prior needs at least "
                                  f"{MIN_PRIOR_POSES}")
        x = self.normalize(keypoints[full].double())
        mean = x.mean(0)
        _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
        share = (s**2).cumsum(0) / (s**2).sum().clamp(min=1e-12)
        c = int((share < self.variance).sum().item()) + 1
        self.mean, self.components = mean.float(), vt[:c].float()
        return self

    def reconstruction_error(self, xy: Tensor) -> Tensor:
        """``(M,)`` distance of each normalised pose from its projection on the prior's components."""
        if self.mean is None or self.components is None:
            raise ConfigError(f"{self.name}: the prior is not fitted (PosePriorLoss.fit on the labelled poses)")
        x = self.normalize(xy.float()) - self.mean.to(xy.device)
        comp = self.components.to(xy.device)
        return torch.linalg.vector_norm(x - (x @ comp.T) @ comp, dim=1)

    def __call__(self, heatmaps: Tensor) -> Tensor:
        """The mean excess reconstruction error of the poses the ``(M, K, h, w)`` heatmaps predict."""
        xy, _ = soft_argmax(heatmaps)
        return torch.relu(self.reconstruction_error(xy) - self.epsilon).mean()


#: a video-native loss object: what :class:`~semipose.ssl.methods.SemiSupervisedModel` takes
VideoLoss = TemporalLoss | PosePriorLoss
