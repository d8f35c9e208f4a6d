"""Supervised, PoseCons, PoseDual and MultiAugs as one module: teacher/student pairs.

Every method is the same computation with different pairs:

* **supervised** — one network, no consistency term;
* **PoseCons** — one network; its easy-view prediction teaches itself on the hard views
  (``teacher_of = [0]``);
* **PoseDual** — two networks; each one's easy-view prediction teaches the *other* one's hard
  views, and each network's hard views are occluded at the other network's predicted joints
  (``teacher_of = [1, 0]``);
* **SSPCM** — three networks: PoseDual between networks 1 and 2, and an auxiliary network 3
  taught by their mean heatmap (``teacher_of = [1, 0, (0, 1)]``), with the agreement and
  temporal corrections of :mod:`semipose.ssl.sspcm`;
* **multi-path / repeat** (MultiAugs) — a list of hard-view recipes per student, one student
  pass and one consistency loss each, summed;
* **EMA teacher** (mean teacher) — any of the consistency methods with ``teacher="ema"``: the
  teacher passes use an exponential moving average of the networks instead of the networks
  themselves (PoseCons: the student's own EMA; PoseDual: the EMA of the *other* network),
  updated after every optimiser step by :meth:`SemiSupervisedModel.update_ema`.

One step (:meth:`SemiSupervisedModel.forward`), shape symbols N labelled, M unlabelled crops,
K keypoints, ``[H, W]`` input, ``[h, w]`` heatmaps:

1. supervised pass of every network on the labelled crops ``(N, 3, H, W)`` → MSE to targets;
2. teacher pass of every network on the easy views ``(M, 3, H, W)``, without autograd (BatchNorm
   in training mode, as the reference);
3. one random affine per unlabelled crop, shared by all networks and paths;
4. for each student network ``s`` and teacher ``t = teacher_of[s]``: the teacher's heatmaps are
   warped by the affine (the consistency target); the teacher's argmax joints (on the joints
   the labelled set supervises) drive JC/JO; each recipe makes a hard image from the easy view,
   which is warped by the same affine; the student predicts it → MSE to the target.

The step returns a :class:`StepOutput` (loss, the terms under names the model owns, the
teachers' collapse statistics); the consistency term itself (sharpening, confidence mask, heat
fusion, per-path terms) is a :class:`ConsistencyLoss`. Everything runs on the device with an
explicit ``torch.Generator``; there is no per-sample Python loop and no host synchronisation in
the step (losses are returned as tensors).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..codec import argmax_heatmaps
from ..errors import ConfigError
from ..image import IMAGENET_MEAN, IMAGENET_STD
from ..losses import joints_mse_loss
from ..params import METHODS, SIZE_RELATIVE, TEACHERS, VIEWS, AugmentParams, HardAffineParams, SSPCMParams
from .recipes import AugmentContext, Recipe, instance_scale
from .sspcm import sspcm_corrections, temporal_pair
from .video_losses import TemporalLoss, VideoLoss
from .views import compose_affine, invert_affine, sample_hard_affine, warp

__all__ = [
    "SemiSupervisedModel",
    "StepOutput",
    "TeacherStats",
    "ConsistencyLoss",
    "argmax_joints",
    "sigmoid_rampup",
    "spatial_softmax",
    "ema_decay_at",
]


def argmax_joints(heatmaps: Tensor) -> tuple[Tensor, Tensor]:
    """Integer peak of every heatmap (:func:`semipose.codec.argmax_heatmaps`) as points.

    Args:
        heatmaps: ``(N, K, h, w)``.

    Returns:
        ``(coords, peaks)``: ``(N, K, 2)`` float (x, y) in heatmap pixels and ``(N, K)`` maxima.
    """
    px, py, peaks = argmax_heatmaps(heatmaps)
    return torch.stack([px, py], dim=2).to(heatmaps.dtype), peaks


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


@contextlib.contextmanager
def _still_bn_statistics(module: nn.Module | None) -> Iterator[None]:
    """Within: ``module``'s BatchNorm layers normalise with the batch statistics (training
    mode) but leave their running statistics unchanged (momentum 0), so an EMA network's
    statistics stay the average of its network's."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if module is not None else []
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


def ema_decay_at(step: int, decay: float, warmup: bool = True) -> float:
    """The EMA decay of update ``step`` (0-based): ``decay``, or with ``warmup``
    ``min(decay, (1 + step) / (10 + step))`` (the schedule of TensorFlow's
    ``ExponentialMovingAverage(num_updates=…)``), so the average first follows the network
    quickly (0.1 at the first update, 0.9 at the 81st, 0.99 at the 891st)."""
    return min(float(decay), (1.0 + step) / (10.0 + step)) if warmup else float(decay)


@dataclass
class TeacherStats:
    """One teacher's collapse statistics over the supervised joints of the unlabelled crops, as
    detached tensors to be summed over an epoch: the sum of its heatmap peaks, the number of
    peaks below ``collapse_thr`` ("lost") and the number of joints counted. Both the mean peak
    and the share kept fall towards 0 when a consistency method collapses."""

    conf_sum: Tensor
    low: Tensor
    count: Tensor

    def __add__(self, other: TeacherStats) -> TeacherStats:
        return TeacherStats(self.conf_sum + other.conf_sum, self.low + other.low, self.count + other.count)


@dataclass
class StepOutput:
    """What one training step computed.

    Attributes:
        loss: scalar, with autograd: the weighted sum of every term.
        terms: detached scalars under the model's names: ``sup`` / ``sup1``, ``sup2`` (each
            network's supervised MSE), ``cons`` / ``cons1``, ``cons2`` (each student's
            consistency loss, summed over its paths).
        path_terms: detached per-path consistency losses, ``{"cons": [p1, p2, …]}`` for a
            student with several paths (empty otherwise).
        teachers: each teacher's collapse statistics, in network order; empty for the
            supervised method.
    """

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)
    path_terms: dict[str, list[Tensor]] = field(default_factory=dict)
    teachers: list[TeacherStats] = field(default_factory=list)


@dataclass
class ConsistencyLoss:
    """The consistency term of one student: MSE between its hard-view heatmaps and the teacher's
    (warped) easy-view heatmaps.

    Args:
        conf_masking, conf_thresh: drop the joints whose target peak is ≤ ``conf_thresh``: the
            maximum of the (warped) target heatmap, as the reference thresholds it (the warp's
            interpolation lowers a peak, so this differs from the teacher's own maximum).
        sharpen: spatial softmax on both sides before the MSE.
        heat_fusion: one loss on the mean of the student's path heatmaps instead of one per path.
    """

    conf_masking: bool = False
    conf_thresh: float = 0.5
    sharpen: bool = False
    heat_fusion: bool = False

    def target(self, heatmaps: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
        """The teacher's ``(M, K, h, w)`` heatmaps, warped into the student's view, and ``(M, K)``
        joint weights as the student's target."""
        if self.conf_masking:
            weight = weight * (heatmaps.amax(dim=(2, 3)) > self.conf_thresh).to(weight.dtype)
        return (spatial_softmax(heatmaps) if self.sharpen else heatmaps), weight

    def __call__(self, preds: Sequence[Tensor], target: Tensor, weight: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``(loss, per_path)``: the summed loss over the student's ``(M, K, h, w)`` path
        predictions, and each path's loss when there are several and they are not fused."""
        if self.sharpen:
            preds = [spatial_softmax(p) for p in preds]
        if self.heat_fusion and len(preds) > 1:
            return joints_mse_loss(torch.stack(list(preds)).mean(0), target, weight), []
        per_path = [joints_mse_loss(p, target, weight) for p in preds]
        return torch.stack(per_path).sum(), (per_path if len(per_path) > 1 else [])


class SemiSupervisedModel(nn.Module):
    """The networks of a run and the loss of one training step.

    Args:
        nets: one network (supervised, PoseCons) or two (PoseDual); each maps
            ``(N, 3, H, W)`` → ``(N, K, h, w)`` and states its ``output_stride`` (input pixels
            per heatmap pixel).
        method: a key of :data:`semipose.params.METHODS` (its teacher of each student).
        paths: hard-view recipe specs, one student pass each (``"none"``, ``"JO+CO"``,
            ``"JOCO"`` …); ``repeat`` repeats the list.
        hard_affine: the random affine of the hard view, or None for none.
        augment: parameters of the augmentations.
        sup_weight: weight of each network's supervised loss (default 1 for one network,
            0.5 for two, as the reference).
        unsup_weight: weight of each consistency loss.
        consistency: the consistency term (sharpening, confidence mask, heat fusion).
        concat_views: one student forward over all paths concatenated (changes BatchNorm
            statistics; off by default).
        collapse_thr: a teacher peak below this counts as "lost" in the collapse statistics.
        mean, std: the images' normalisation (for the photometric augmentations).
        teacher: ``online`` (the networks teach) or ``ema`` (their moving averages teach;
            a consistency method only).
        teacher_view, student_view: what each side sees, ``easy`` (the dataset crop) or
            ``hard`` (a path's recipe + the affine). The methods are ``easy`` → ``hard``; the
            collapse study's controls are ``hard`` → ``hard`` (two independent hard views of
            the same difficulty) and ``hard`` → ``easy`` (the reversed pair). A ``hard``
            teacher view needs one path; its heatmaps are mapped into the student's frame.
        ema_decay, ema_warmup: the average's decay and its warm-up (:func:`ema_decay_at`).
        sspcm: SSPCM's corrections (``method="sspcm"``).
        reference_geometry: the reference's hard-view matrix and heatmap warp
            (:func:`~semipose.ssl.views.hard_affine_matrix`), instead of the corrected ones.
        video_losses: video-native terms on every network's prediction of the unlabelled easy
            views (:mod:`semipose.ssl.video_losses`), with any method (supervised included):
            each adds ``weight × unsup_scale × term`` under its own name.
    """

    def __init__(
        self,
        nets: Sequence[nn.Module],
        *,
        method: str = "posecons",
        paths: Sequence[str] = ("none",),
        repeat: int = 1,
        hard_affine: HardAffineParams | None = None,
        augment: AugmentParams | None = None,
        sup_weight: float | None = None,
        unsup_weight: float = 1.0,
        consistency: ConsistencyLoss | None = None,
        concat_views: bool = False,
        collapse_thr: float = 0.1,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        teacher: str = "online",
        ema_decay: float = 0.999,
        ema_warmup: bool = True,
        teacher_view: str = "easy",
        student_view: str = "hard",
        sspcm: SSPCMParams | None = None,
        reference_geometry: bool = False,
        video_losses: Sequence[VideoLoss] = (),
    ) -> None:
        super().__init__()
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
        if teacher not in TEACHERS:
            raise ConfigError(f"unknown teacher {teacher!r}; known: {', '.join(TEACHERS)}")
        self.video_losses = list(video_losses)
        names = [v.name for v in self.video_losses]
        if len(set(names)) != len(names):
            raise ConfigError(f"video losses need distinct names, got {names}")
        if teacher == "ema" and not METHODS[method]:
            raise ConfigError("an EMA teacher needs a consistency method (posecons or posedual), not supervised")
        if not 0.0 <= ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {ema_decay}")
        self.teacher_of = list(METHODS[method])
        need = max(len(self.teacher_of), 1)
        if method == "supervised" and len(nets) not in (1, 2):
            raise ConfigError("the supervised method trains one (or two independent) networks")
        if method != "supervised" and len(nets) != need:
            raise ConfigError(f"{method} needs {need} network(s), got {len(nets)}")
        strides = {getattr(n, "output_stride", None) for n in nets}
        if len(strides) != 1 or None in strides:
            raise ConfigError(f"every network must state one output_stride (input pixels per heatmap pixel), got {strides}")
        self.nets = nn.ModuleList(nets)
        self.method = method
        params = augment or AugmentParams()
        self.recipes = [Recipe(p, params) for p in paths] * int(repeat)
        if params.size_relative_to not in SIZE_RELATIVE:
            raise ConfigError(f"ssl.augment.size_relative_to: expected one of {', '.join(SIZE_RELATIVE)}, got {params.size_relative_to!r}")
        #: instance-relative hard views: the keypoint extent the configured box sizes are for (None: crop pixels)
        self.instance_extent = float(params.instance_extent_px) if params.size_relative_to == "instance" else None
        self.stride = float(strides.pop())  # type: ignore[arg-type]
        self.hard_affine = hard_affine
        self.reference_geometry = bool(reference_geometry)
        self.sup_weight = (1.0 if len(nets) == 1 else 0.5) if sup_weight is None else float(sup_weight)
        self.unsup_weight = float(unsup_weight)
        self.consistency = consistency or ConsistencyLoss()
        self.concat_views = concat_views
        for key, v in (("teacher_view", teacher_view), ("student_view", student_view)):
            if v not in VIEWS:
                raise ConfigError(f"{key} must be one of {', '.join(VIEWS)}, got {v!r}")
        if teacher_view == "hard" and len(self.recipes) != 1:
            raise ConfigError(f"a hard teacher view needs exactly one path (one hard view each side), got {len(self.recipes)}")
        if teacher_view == "hard" and any(isinstance(t, tuple) for t in self.teacher_of):
            raise ConfigError(f"a hard teacher view is not defined for {method}'s mean-of-networks teacher")
        #: the networks whose easy-view predictions teach (all but SSPCM's auxiliary one)
        self.teaching = sorted({i for t in self.teacher_of for i in (t if isinstance(t, tuple) else (t,))})
        self.sspcm = (sspcm or SSPCMParams()) if method == "sspcm" else None
        #: SSPCM's temporal correction: the interactive networks as they were at the start of
        #: the epoch (:meth:`start_epoch`), and whether the correction is on this epoch
        self.prev_nets: nn.ModuleList | None = None
        self.temporal_active = False
        if self.sspcm is not None and self.sspcm.temporal:
            self.prev_nets = nn.ModuleList(copy.deepcopy(nets[i]) for i in (0, 1))
            self.prev_nets.requires_grad_(False)
        self.teacher_view, self.student_view = teacher_view, student_view
        self.collapse_thr = float(collapse_thr)
        self.mean, self.std = tuple(mean), tuple(std)
        self.teacher = teacher
        self.ema_decay, self.ema_warmup = float(ema_decay), bool(ema_warmup)
        #: the moving averages of ``nets`` (``teacher="ema"``), never trained by the optimiser
        self.ema_nets: nn.ModuleList | None = None
        if teacher == "ema":
            self.ema_nets = nn.ModuleList(copy.deepcopy(n) for n in nets)
            self.ema_nets.requires_grad_(False)

    def _hard_teacher(
        self, teacher: nn.Module, easy: Tensor, ctx: AugmentContext, student_affine: Tensor | None, generator: torch.Generator,
    ) -> Tensor:
        """The teacher's heatmaps on a hard view of its own (the path's recipe and an affine
        drawn independently of the student's), mapped into the student's frame."""
        m, _, h_in, w_in = easy.shape
        own = (
            sample_hard_affine(m, (w_in, h_in), self.hard_affine, generator=generator, device=easy.device, reference=self.reference_geometry)
            if self.hard_affine is not None else None
        )
        v = self.recipes[0](easy, ctx)
        hm = teacher(warp(v, own) if own is not None else v).float()
        # a student-frame point → the easy frame (its affine) → the teacher's frame (inverse of own)
        if own is None:
            return self._warp_heatmaps(hm, student_affine) if student_affine is not None else hm
        mat = compose_affine(invert_affine(own), student_affine) if student_affine is not None else invert_affine(own)
        return self._warp_heatmaps(hm, mat)

    def _warp_heatmaps(self, hm: Tensor, m: Tensor) -> Tensor:
        """``(M, K, h, w)`` heatmaps through the image-pixel matrices ``m`` (with the image's θ
        under ``reference_geometry``, as the reference)."""
        return warp(hm, m, self.stride, reference=self.reference_geometry)

    def start_epoch(self, epoch: int) -> None:
        """Called by the trainer before epoch ``epoch`` (0-based): SSPCM's temporal correction
        copies the interactive networks as "the previous epoch's model" and is on from epoch
        ``temporal_warmup_epochs + 1``. A resumed run calls it again at its first epoch, from
        the restored networks, so nothing extra is saved. No-op for the other methods."""
        if self.prev_nets is None or self.sspcm is None:
            return
        for prev, i in zip(self.prev_nets, (0, 1)):
            prev.load_state_dict(self.nets[i].state_dict())
        self.temporal_active = epoch > self.sspcm.temporal_warmup_epochs

    def _mean_teacher(
        self, idx: tuple[int, ...], teach: Mapping[int | tuple[int, ...], Tensor], joints: Mapping[int | tuple[int, ...], Tensor],
        unsup_images: Tensor,
    ) -> Tensor:
        """The heatmaps of a mean-of-networks teacher (SSPCM's auxiliary target): the mean of
        ``idx``'s, or with the temporal correction on, the best-agreeing pair per joint."""
        if self.prev_nets is not None and self.temporal_active and idx == (0, 1):
            with _still_bn_statistics(self.prev_nets):
                prev = [net(unsup_images).float() for net in self.prev_nets]
            prev_joints = [argmax_joints(p)[0] for p in prev]
            return temporal_pair([teach[0], teach[1], *prev], [joints[0], joints[1], *prev_joints])
        return torch.stack([teach[i] for i in idx]).mean(0)

    def student_parameters(self) -> list[nn.Parameter]:
        """The trained parameters: the networks' (not their moving averages)."""
        return list(self.nets.parameters())

    def teacher_nets(self) -> list[nn.Module]:
        """The modules whose easy-view predictions teach: the EMA copies, else the networks."""
        return list(self.ema_nets if self.ema_nets is not None else self.nets)

    @torch.no_grad()
    def update_ema(self, step: int) -> None:
        """Move every EMA network towards its network after optimiser step ``step`` (0-based):
        ``ema ← d·ema + (1 − d)·net`` with ``d = ema_decay_at(step)``, for the parameters and
        the floating-point buffers (BatchNorm statistics); integer buffers are copied. One fused
        update on the device, no host sync. No-op without an EMA teacher."""
        if self.ema_nets is None:
            return
        w = 1.0 - ema_decay_at(step, self.ema_decay, self.ema_warmup)
        ema_f, net_f = [], []
        for ema, net in zip(self.ema_nets, self.nets):
            for e, n in zip(ema.state_dict(keep_vars=True).values(), net.state_dict(keep_vars=True).values()):
                if e.dtype.is_floating_point:
                    ema_f.append(e.data)
                    net_f.append(n.data)
                else:
                    e.copy_(n)
        if ema_f:
            torch._foreach_lerp_(ema_f, net_f, w)

    @property
    def num_nets(self) -> int:
        return len(self.nets)

    def net_suffix(self, k: int) -> str:
        """How names tell network ``k`` apart: ``""`` for one network, ``"1"``, ``"2"`` for two."""
        return str(k + 1) if self.num_nets > 1 else ""

    def _name(self, base: str, k: int) -> str:
        return base + self.net_suffix(k)

    @property
    def needs_context(self) -> bool:
        """Whether the step needs each unlabelled crop's neighbouring frames (a temporal term)."""
        return any(isinstance(v, TemporalLoss) for v in self.video_losses)

    def forward(self, sup_images: Tensor, sup_target: Tensor, sup_weight: Tensor, unsup_images: Tensor | None = None,
                unsup_weight: Tensor | None = None, unsup_context: Tensor | None = None, *, generator: torch.Generator | None = None,
                unsup_scale: float = 1.0) -> StepOutput:
        """One training step's loss: the supervised terms, then (unlabelled crops given) the
        teachers' easy-view predictions, the plug-in corrections (SSPCM), the hard views and one
        consistency term per student.

        Args:
            sup_images: ``(N, 3, H, W)`` labelled crops; ``sup_target`` ``(N, K, h, w)``; ``sup_weight`` ``(N, K)``.
            unsup_images: ``(M, 3, H, W)`` easy views of unlabelled crops (None: supervised
                only); ``unsup_weight`` ``(M, K)``, 1 on the supervised joints.
            unsup_context: ``(M, 2, 3, H, W)`` the frames before and after each unlabelled
                crop, cropped identically (the temporal term; None without one).
            generator: randomness of the hard views (on the images' device).
            unsup_scale: multiplies the consistency weight (ramp-up).
        """
        out = self._supervised(sup_images, sup_target, sup_weight)
        if unsup_images is not None and self.video_losses:
            self._video_terms(out, unsup_images, unsup_context, unsup_scale)
        if unsup_images is None or not self.teacher_of:
            return out
        if generator is None:
            raise ConfigError("the consistency methods need a torch.Generator for the hard views")
        m, _, h_in, w_in = unsup_images.shape
        supervised = (unsup_weight if unsup_weight is not None else unsup_images.new_ones(m, 1)) > 0
        with torch.no_grad(), _still_bn_statistics(self.ema_nets):
            teach, joints, peaks = self._teach(unsup_images, supervised, out)
            corrections = self._corrections(teach, joints, peaks)
            affine = (
                sample_hard_affine(m, (w_in, h_in), self.hard_affine, generator=generator, device=unsup_images.device,
                                   reference=self.reference_geometry)
                if self.hard_affine is not None else None
            )
        for s, student in enumerate(self.nets):
            t = self.teacher_of[s]
            target, weight, views = self._consistency_target(unsup_images, unsup_weight, supervised, teach[t], joints[t], peaks[t], t,
                                                             corrections.get(t), affine, generator)
            self._consistency_term(out, s, student, views, target, weight, self.unsup_weight * unsup_scale)
        return out

    def _video_terms(self, out: StepOutput, images: Tensor, context: Tensor | None, scale: float) -> None:
        """Every network's video-native terms on its own prediction of the easy views ``(M, 3, H, W)``
        (and with ``context`` ``(M, 2, 3, H, W)``, of the frames before and after: one pass over the three)."""
        m = images.shape[0]
        if self.needs_context and context is None:
            raise ConfigError("the temporal term needs each unlabelled crop's neighbouring frames (unsup_context)")
        frames = images if not self.needs_context or context is None else torch.cat([context[:, 0], images, context[:, 1]])
        if frames is not images and images.is_contiguous(memory_format=torch.channels_last):
            frames = frames.contiguous(memory_format=torch.channels_last)
        for k, net in enumerate(self.nets):
            preds = list(net(frames).float().split(m))
            centre = preds[len(preds) // 2]
            for term in self.video_losses:
                value = term(preds) if isinstance(term, TemporalLoss) else term(centre)
                out.terms[self._name(term.name, k)] = value.detach()
                out.loss = out.loss + term.weight * scale * value

    def _supervised(self, images: Tensor, target: Tensor, weight: Tensor) -> StepOutput:
        """Every network's supervised term: ``(N, 3, H, W)`` labelled crops, ``(N, K, h, w)`` targets, ``(N, K)`` weights."""
        out = StepOutput(images.new_zeros(()))
        for k, net in enumerate(self.nets):
            l_sup = joints_mse_loss(net(images).float(), target, weight)
            out.terms[self._name("sup", k)] = l_sup.detach()
            out.loss = out.loss + self.sup_weight * l_sup
        return out

    def _teach(self, images: Tensor, supervised: Tensor, out: StepOutput) -> tuple[dict[Any, Tensor], dict[Any, Tensor], dict[Any, Tensor]]:
        """The teachers' easy-view heatmaps ``(M, K, h, w)``, argmax joints ``(M, K, 2)`` and peaks
        ``(M, K)``, per teaching network and mean-of-networks teacher; their collapse statistics go to ``out``."""
        teacher_nets = self.teacher_nets()
        teach: dict[Any, Tensor] = {i: teacher_nets[i](images).float() for i in self.teaching}
        joints: dict[Any, Tensor] = {}
        peaks: dict[Any, Tensor] = {}
        for i, hm in teach.items():
            joints[i], peaks[i] = argmax_joints(hm)
            sel = supervised.expand_as(peaks[i]).float()
            low = ((peaks[i] < self.collapse_thr).float() * sel).sum()
            out.teachers.append(TeacherStats((peaks[i] * sel).sum(), low, sel.sum()))
        for idx in {t for t in self.teacher_of if isinstance(t, tuple)}:  # mean-of-networks teachers
            teach[idx] = self._mean_teacher(idx, teach, joints, images)
            joints[idx], peaks[idx] = argmax_joints(teach[idx])
        return teach, joints, peaks

    def _corrections(self, teach: Mapping[Any, Tensor], joints: Mapping[Any, Tensor], peaks: Mapping[Any, Tensor]) -> dict[Any, Tensor]:
        """The plug-in weight corrections per teacher (SSPCM's agreement weights; none for the other methods)."""
        if self.sspcm is None:
            return {}
        hm_size = (int(teach[0].shape[2]), int(teach[0].shape[3]))
        return sspcm_corrections(self.sspcm, joints, peaks, hm_size, self.teacher_of)

    def _consistency_target(self, images: Tensor, unsup_weight: Tensor | None, supervised: Tensor, teach: Tensor, joints: Tensor,
                            peaks: Tensor, t: Any, correction: Tensor | None, affine: Tensor | None,
                            generator: torch.Generator) -> tuple[Tensor, Tensor, list[Tensor]]:
        """One student's target ``(M, K, h, w)``, weights ``(M, K)`` and input views (each ``(M, 3, H, W)``)
        from its teacher ``t``'s easy-view prediction (no gradient)."""
        m = images.shape[0]
        student_affine = affine if self.student_view == "hard" else None
        with torch.no_grad(), _still_bn_statistics(self.ema_nets):
            valid_t = supervised.expand_as(peaks) & (peaks > 0)
            ctx = AugmentContext(
                joints=joints * self.stride, joint_valid=valid_t, generator=generator, mean=self.mean, std=self.std,
                size_scale=instance_scale(joints * self.stride, valid_t, self.instance_extent) if self.instance_extent else None,
            )
            if self.teacher_view == "easy":
                warped = self._warp_heatmaps(teach, student_affine) if student_affine is not None else teach
            else:
                assert isinstance(t, int)  # a hard teacher view is refused for mean teachers
                warped = self._hard_teacher(self.teacher_nets()[t], images, ctx, student_affine, generator)
            base = unsup_weight if unsup_weight is not None else images.new_ones(m, 1)
            weight = base.expand(m, warped.shape[1]).to(warped.dtype)
            if correction is not None:
                weight = weight * correction.to(weight.dtype)
            target, weight = self.consistency.target(warped, weight)
            if self.student_view == "easy":
                return target, weight, [images]
            views = []
            for recipe in self.recipes:
                v = recipe(images, ctx)
                views.append(warp(v, affine) if affine is not None else v)
        return target, weight, views

    def _consistency_term(self, out: StepOutput, s: int, student: nn.Module, views: list[Tensor], target: Tensor, weight: Tensor,
                          w_cons: float) -> None:
        """Student ``s``'s consistency term on its views (one batched pass when ``concat_views``), added to ``out``."""
        m = views[0].shape[0]
        if self.concat_views and len(views) > 1:
            preds = list(student(torch.cat(views)).float().split(m))
        else:
            preds = [student(v).float() for v in views]
        l_cons, per_path = self.consistency(preds, target, weight)
        name = self._name("cons", s)
        out.terms[name] = l_cons.detach()
        if per_path:
            out.path_terms[name] = [lp.detach() for lp in per_path]
        out.loss = out.loss + w_cons * l_cons
