"""Supervised, PoseCons, PoseDual and MultiAugs as one module: teacher/student pairs.

Every method is the same computation with different pairs:

* **supervised** — one network, no consistency term;
* **PoseCons** — one network; its easy-view prediction teaches itself on the hard views
  (``teacher_of = [0]``);
* **PoseDual** — two networks; each one's easy-view prediction teaches the *other* one's hard
  views, and each network's hard views are occluded at the other network's predicted joints
  (``teacher_of = [1, 0]``, spec §3.5, §4.8);
* **multi-path / repeat** (MultiAugs) — a list of hard-view recipes per student, one student
  pass and one consistency loss each, summed.

One step (:meth:`SemiSupervisedModel.forward`), shape symbols N labelled, M unlabelled crops,
K keypoints, ``[H, W]`` input, ``[h, w]`` heatmaps:

1. supervised pass of every network on the labelled crops ``(N, 3, H, W)`` → MSE to targets;
2. teacher pass of every network on the easy views ``(M, 3, H, W)``, without autograd (BatchNorm
   in training mode, as the reference: spec B7);
3. one random affine per unlabelled crop, shared by all networks and paths (spec B5);
4. for each student network ``s`` and teacher ``t = teacher_of[s]``: the teacher's heatmaps are
   warped by the affine (the consistency target); the teacher's argmax joints (on the joints
   the labelled set supervises) drive JC/JO; each recipe makes a hard image from the easy view,
   which is warped by the same affine; the student predicts it → MSE to the target.

Everything runs on the device with an explicit ``torch.Generator``; there is no per-sample
Python loop and no host synchronisation in the step (losses are returned as tensors).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ..image import IMAGENET_MEAN, IMAGENET_STD
from ..losses import joints_mse_loss
from ..models.ensemble import EnsembleNet
from .recipes import AugmentContext, Recipe
from ..params import AugmentParams, HardAffineParams
from .views import sample_hard_affine, warp
from ..errors import ConfigError

__all__ = ["METHODS", "SemiSupervisedModel", "EnsembleNet", "argmax_joints", "sigmoid_rampup", "spatial_softmax"]

#: method name → the teacher of each student network (empty: no consistency)
METHODS: dict[str, list[int]] = {"supervised": [], "posecons": [0], "posedual": [1, 0]}


def argmax_joints(heatmaps: Tensor) -> tuple[Tensor, Tensor]:
    """Integer peak of every heatmap.

    Args:
        heatmaps: ``(N, K, h, w)``.

    Returns:
        ``(coords, peaks)``: ``(N, K, 2)`` float (x, y) in heatmap pixels and ``(N, K)`` maxima.
    """
    n, k, h, w = heatmaps.shape
    peaks, idx = heatmaps.reshape(n, k, h * w).max(dim=2)
    coords = torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], dim=2).to(heatmaps.dtype)
    return coords, peaks


def spatial_softmax(heatmaps: Tensor) -> Tensor:
    """Softmax over the ``h × w`` pixels of each ``(N, K, h, w)`` heatmap (``sharpen``)."""
    n, k, h, w = heatmaps.shape
    return torch.softmax(heatmaps.reshape(n, k, h * w), dim=2).reshape(n, k, h, w)


def sigmoid_rampup(step: int, length: int) -> float:
    """``exp(−5 (1 − t)²)`` for ``t = step / length`` clipped to [0, 1]; 1 when ``length`` is 0."""
    if length <= 0:
        return 1.0
    t = min(max(step / length, 0.0), 1.0)
    return float(math.exp(-5.0 * (1.0 - t) ** 2))


class SemiSupervisedModel(nn.Module):
    """The networks of a run and the loss of one training step.

    Args:
        nets: one network (supervised, PoseCons) or two (PoseDual); each maps
            ``(N, 3, H, W)`` → ``(N, K, h, w)``.
        method: a key of :data:`METHODS`.
        paths: hard-view recipe specs, one student pass each (``"none"``, ``"JO+CO"``,
            ``"JOCO"`` …); ``repeat`` repeats the list.
        stride: input pixels per heatmap pixel.
        hard_affine: the random affine of the hard view, or None for none.
        augment: parameters of the augmentations.
        sup_weight: weight of each network's supervised loss (default 1 for one network,
            0.5 for two — spec §5).
        unsup_weight: weight of each consistency loss.
        conf_masking, conf_thresh: drop teacher joints whose peak is ≤ ``conf_thresh``.
        sharpen: spatial softmax before the consistency MSE.
        heat_fusion: one loss on the mean of a student's path heatmaps.
        concat_views: one student forward over all paths concatenated (changes BatchNorm
            statistics; off by default).
        collapse_thr: a teacher peak below this counts as "lost" in the collapse statistics.
        mean, std: the images' normalisation (for the photometric augmentations).
    """

    def __init__(
        self,
        nets: Sequence[nn.Module],
        *,
        method: str = "posecons",
        paths: Sequence[str] = ("none",),
        repeat: int = 1,
        stride: float = 4.0,
        hard_affine: HardAffineParams | None = None,
        augment: AugmentParams | None = None,
        sup_weight: float | None = None,
        unsup_weight: float = 1.0,
        conf_masking: bool = False,
        conf_thresh: float = 0.5,
        sharpen: bool = False,
        heat_fusion: bool = False,
        concat_views: bool = False,
        collapse_thr: float = 0.1,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
        self.teacher_of = list(METHODS[method])
        need = max(len(self.teacher_of), 1)
        if method == "supervised" and len(nets) not in (1, 2):
            raise ConfigError("the supervised method trains one (or two independent) networks")
        if method != "supervised" and len(nets) != need:
            raise ConfigError(f"{method} needs {need} network(s), got {len(nets)}")
        self.nets = nn.ModuleList(nets)
        self.method = method
        params = augment or AugmentParams()
        self.recipes = [Recipe(p, params) for p in paths] * int(repeat)
        self.stride = float(stride)
        self.hard_affine = hard_affine
        self.sup_weight = (1.0 if len(nets) == 1 else 0.5) if sup_weight is None else float(sup_weight)
        self.unsup_weight = float(unsup_weight)
        self.conf_masking, self.conf_thresh = conf_masking, float(conf_thresh)
        self.sharpen, self.heat_fusion, self.concat_views = sharpen, heat_fusion, concat_views
        self.collapse_thr = float(collapse_thr)
        self.mean, self.std = tuple(mean), tuple(std)

    @property
    def num_nets(self) -> int:
        return len(self.nets)

    def _name(self, base: str, k: int) -> str:
        return f"{base}{k + 1}" if self.num_nets > 1 else base

    def forward(
        self,
        sup_images: Tensor,
        sup_target: Tensor,
        sup_weight: Tensor,
        unsup_images: Tensor | None = None,
        unsup_weight: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        unsup_scale: float = 1.0,
    ) -> dict[str, Any]:
        """One training step's loss.

        Args:
            sup_images: ``(N, 3, H, W)`` labelled crops; ``sup_target`` ``(N, K, h, w)``;
                ``sup_weight`` ``(N, K)``.
            unsup_images: ``(M, 3, H, W)`` easy views of unlabelled crops (None: supervised
                only); ``unsup_weight`` ``(M, K)``, 1 on the supervised joints.
            generator: randomness of the hard views (on the images' device).
            unsup_scale: multiplies the consistency weight (ramp-up).

        Returns:
            dict with ``loss`` (scalar, with autograd), ``terms`` (name → detached scalar:
            ``sup``/``sup1``/``sup2``, ``cons``/``cons1``/``cons2`` and ``cons<k>_p<i>`` per
            path) and ``stats`` (collapse signal per teacher: ``conf_sum``, ``low``, ``count``
            as detached tensors, to be summed over an epoch).
        """
        terms: dict[str, Tensor] = {}
        loss = sup_images.new_zeros(())
        for k, net in enumerate(self.nets):
            l_sup = joints_mse_loss(net(sup_images).float(), sup_target, sup_weight)
            terms[self._name("sup", k)] = l_sup.detach()
            loss = loss + self.sup_weight * l_sup
        stats: dict[str, Tensor] = {}
        if unsup_images is None or not self.teacher_of:
            return {"loss": loss, "terms": terms, "stats": stats}
        if generator is None:
            raise ConfigError("the consistency methods need a torch.Generator for the hard views")
        m, _, h_in, w_in = unsup_images.shape
        if unsup_weight is None:
            unsup_weight = unsup_images.new_ones(m, 1)
        supervised = unsup_weight > 0
        with torch.no_grad():
            teach = [net(unsup_images).float() for net in self.nets]
            joints, peaks = zip(*(argmax_joints(t) for t in teach))
            for t, p in enumerate(peaks):
                sel = supervised.expand_as(p).float()
                stats[self._name("conf_sum", t)] = (p * sel).sum()
                stats[self._name("low", t)] = ((p < self.collapse_thr).float() * sel).sum()
                stats[self._name("count", t)] = sel.sum()
            affine = (
                sample_hard_affine(m, (w_in, h_in), self.hard_affine, generator=generator, device=unsup_images.device)
                if self.hard_affine is not None else None
            )
        w_cons = self.unsup_weight * unsup_scale
        for s, student in enumerate(self.nets):
            t = self.teacher_of[s]
            with torch.no_grad():
                target = warp(teach[t], affine, self.stride) if affine is not None else teach[t]
                weight = unsup_weight.expand(m, target.shape[1]).to(target.dtype)
                if self.conf_masking:
                    weight = weight * (peaks[t] > self.conf_thresh).to(weight.dtype)
                if self.sharpen:
                    target = spatial_softmax(target)
                ctx = AugmentContext(
                    joints=joints[t] * self.stride, joint_valid=supervised.expand_as(peaks[t]) & (peaks[t] > 0),
                    generator=generator, mean=self.mean, std=self.std,
                )
                views = []
                for recipe in self.recipes:
                    v = recipe(unsup_images, ctx)
                    views.append(warp(v, affine) if affine is not None else v)
            if self.concat_views and len(views) > 1:
                preds = list(student(torch.cat(views)).float().split(m))
            else:
                preds = [student(v).float() for v in views]
            if self.sharpen:
                preds = [spatial_softmax(p) for p in preds]
            if self.heat_fusion and len(preds) > 1:
                l_cons = joints_mse_loss(torch.stack(preds).mean(0), target, weight)
            else:
                per_path = [joints_mse_loss(p, target, weight) for p in preds]
                if len(per_path) > 1:
                    for i, lp in enumerate(per_path):
                        terms[f"{self._name('cons', s)}_p{i + 1}"] = lp.detach()
                l_cons = torch.stack(per_path).sum()
            terms[self._name("cons", s)] = l_cons.detach()
            loss = loss + w_cons * l_cons
        return {"loss": loss, "terms": terms, "stats": stats}
