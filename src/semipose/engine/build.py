"""Config → the training objects: codec, networks (with their initial weights), the method's
step model and optimizer (the learning rate is :func:`semipose.engine.trainer.lr_at`). (Config → data lives in
:mod:`semipose.data.sources`.)"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..codec import HeatmapCodec
from ..config import Config
from ..errors import ConfigError, DataFormatError, DownloadError
from ..hub import IMAGENET_BACKBONES, KNOWN_MODELS, resolve_source
from ..models import build_pose_model, load_imagenet_backbone
from ..models.reader import ModelFile, read_weights

if TYPE_CHECKING:
    from ..ssl.methods import SemiSupervisedModel
    from ..ssl.video_losses import VideoLoss

__all__ = ["build_codec", "build_model", "build_ssl_model", "build_video_losses", "build_optimizer", "pretrained_source", "read_pretrained"]

log = logging.getLogger(__name__)


def build_codec(cfg: Config) -> HeatmapCodec:
    w, h = cfg.data.input_size
    return HeatmapCodec((w, h), cfg.heatmap_size, cfg.data.sigma, unbiased=cfg.data.unbiased_encoding, decoder=cfg.eval.decoder)


def build_model(cfg: Config, num_joints: int, *, load_pretrained: bool = True, trust: bool = False,
                pretrained: ModelFile | None = None) -> nn.Module:
    """One network as configured; with ``load_pretrained`` its backbone from
    ``model.pretrained`` (``pretrained``: that file already read by :func:`read_pretrained`;
    otherwise read here, safely unless ``trust``)."""
    m = cfg.model
    model = build_pose_model(
        m.arch, num_joints, num_deconv_layers=len(m.deconv_filters), deconv_filters=tuple(m.deconv_filters),
        deconv_kernels=tuple(m.deconv_kernels), final_kernel=m.final_kernel,
    )
    if load_pretrained and m.pretrained:
        wf = pretrained or read_pretrained(cfg, trust=trust)
        report = load_imagenet_backbone(model, wf.states[0], name=str(wf.path))
        log.info("ImageNet backbone from %s: %s", wf.path, report)
    return model


def pretrained_source(cfg: Config) -> Path:
    """The local file of ``model.pretrained``: a path, URL, ``hf://`` path or known name
    (:func:`semipose.hub.resolve_source`), or ``imagenet``: the architecture's ImageNet
    backbone, the file the seeds train from."""
    spec = cfg.model.pretrained
    assert spec
    if spec == "imagenet":
        if cfg.model.arch not in IMAGENET_BACKBONES:
            raise ConfigError(f"model.pretrained: imagenet: no ImageNet backbone is known for {cfg.model.arch!r}")
        spec = IMAGENET_BACKBONES[cfg.model.arch]
    try:
        return resolve_source(spec)
    except DownloadError as e:
        name = next((n for n, m in KNOWN_MODELS.items() if m.url == spec or n == spec), spec)
        raise DownloadError(f"model.pretrained: {e}; or train without it (model.pretrained=null, from random initialisation), "
                            f"or fill the cache on a machine with a network: semipose models fetch {name}") from None


def read_pretrained(cfg: Config, *, trust: bool = False) -> ModelFile:
    """``model.pretrained`` read once (:func:`pretrained_source`, then
    :func:`~semipose.models.reader.read_weights`); it must be an ImageNet backbone file."""
    wf = read_weights(pretrained_source(cfg), trust=trust)
    if wf.kind == "reference" and wf.layout == "plain":
        keys = ", ".join(list(wf.states[0])[:4]) if wf.states else "none"
        raise ConfigError(
            f"model.pretrained: {wf.path} is neither an ImageNet backbone nor a pose model: its keys fit no known layout "
            f"(first keys: {keys}); model.pretrained takes an ImageNet backbone of {cfg.model.arch} (or imagenet)"
        )
    if wf.kind != "imagenet":
        raise ConfigError(
            f"model.pretrained: {wf.path} is a {wf.kind} file ({wf.layout}), not an ImageNet backbone; "
            "the weights of a trained pose network go in model.init_weights"
        )
    return wf

def build_video_losses(cfg: Config, stride: int, *, poses: np.ndarray | None = None, flip_index: Sequence[int] | None = None) -> list[VideoLoss]:
    """The configured video-native terms (``ssl.temporal``, ``ssl.pose_prior``; those of weight > 0).

    Args:
        stride: the networks' output stride (input pixels per heatmap pixel).
        poses: ``(N, K, 3)`` the labelled keypoints (image pixels, ``v > 0`` labelled) the pose
            prior is fitted on, as the easy views show them (mirrored with ``flip_index`` when
            the crops are flipped, rotated by ±1 and ±2 ``rot_factor`` when they are rotated).
    """
    from ..ssl.video_losses import PosePriorLoss, TemporalLoss, augmented_poses

    q, aug = cfg.ssl, cfg.data.augment
    out: list[VideoLoss] = []
    if q.temporal.weight > 0:
        out.append(TemporalLoss(weight=q.temporal.weight, epsilon=q.temporal.epsilon, conf_thr=q.temporal.conf_thr, stride=stride))
    if q.pose_prior.weight > 0:
        if poses is None or len(poses) == 0:
            raise ConfigError("ssl.pose_prior: the prior is fitted on the labelled poses, and none were given")
        kp = torch.as_tensor(np.asarray(poses, np.float64))
        rf = aug.rot_factor if aug.rot_prob > 0 else 0.0
        xy, vis = augmented_poses(kp[..., :2], kp[..., 2] > 0, flip_index=flip_index if aug.flip_prob > 0 else None,
                                  rotations=(-2 * rf, -rf, rf, 2 * rf) if rf else ())
        prior = PosePriorLoss(weight=q.pose_prior.weight, epsilon=q.pose_prior.epsilon, variance=q.pose_prior.variance)
        try:
            prior.fit(xy, vis)
        except DataFormatError as e:
            raise ConfigError(f"ssl.pose_prior: {e} (from {len(poses)} labelled poses, with their mirrored and rotated "
                              "copies); label more frames with every keypoint, or set ssl.pose_prior.weight=0") from None
        assert prior.components is not None
        complete = int((kp[..., 2] > 0).all(dim=1).sum())
        log.info("ssl.pose_prior: %d components (%.0f %% of the variance) from %d labelled poses with every keypoint",
                 prior.components.shape[0], 100 * q.pose_prior.variance, complete)
        if int(vis.all(dim=1).sum()) < 2 * kp.shape[1]:
            log.warning("ssl.pose_prior: %d complete labelled poses (%d with their copies) for %d coordinates: the prior is the "
                        "span of those poses, a narrow one", complete, int(vis.all(dim=1).sum()), 2 * kp.shape[1])
        out.append(prior)
    return out


def build_ssl_model(cfg: Config, num_joints: int, *, load_pretrained: bool = True, trust: bool = False,
                    poses: np.ndarray | None = None, flip_index: Sequence[int] | None = None) -> SemiSupervisedModel:
    """The run's network(s) wrapped with the configured method's step loss
    (:class:`semipose.ssl.methods.SemiSupervisedModel`); ``model.pretrained`` and
    ``model.init_weights`` are read safely unless ``trust``; ``poses`` and ``flip_index``:
    the labelled keypoints of the pose prior (:func:`build_video_losses`)."""
    from ..ssl.methods import ConsistencyLoss, SemiSupervisedModel

    q = cfg.ssl
    pretrained = read_pretrained(cfg, trust=trust) if load_pretrained and cfg.model.pretrained else None
    dual_init = pretrained is not None and cfg.num_nets == 2
    nets = [build_model(cfg, num_joints, load_pretrained=load_pretrained and not dual_init, pretrained=pretrained)
            for _ in range(cfg.num_nets)]
    if dual_init and pretrained:
        # a PoseDual initialisation file (resnet./resnet2.) gives the two networks different
        # backbones; a plain ImageNet file gives both the same one (as the reference does)
        from ..models import load_dual_imagenet_backbones

        reports = load_dual_imagenet_backbones(nets, pretrained.states[0], name=str(pretrained.path), layout=pretrained.layout)
        log.info("ImageNet backbones from %s: %s", pretrained.path, "; ".join(str(r) for r in reports))
    if load_pretrained and cfg.model.init_weights:
        from ..models.netweights import load_nets_weights

        init = cfg.model.init_weights
        if isinstance(init, list):  # one file per network
            for i, (net, src) in enumerate(zip(nets, init)):
                log.info("network %d weights from %s", i + 1, load_nets_weights([net], src, trust=trust))
        else:
            log.info("network weights from %s", load_nets_weights(nets, init, trust=trust))
        if len(nets) > 1 and _identical(nets):
            log.warning(
                "model.init_weights: the %d networks of %s start identical (one network's weights for all). Views they share "
                "(the affine of ssl.paths [none]) keep them identical, so the method is not what it says: give one file per "
                "network (model.init_weights: [a.pt, b.pt], e.g. two supervised runs of different seeds)", len(nets), q.method)
    return SemiSupervisedModel(
        nets, method=q.method, paths=q.paths, repeat=q.repeat, hard_affine=q.affine if q.hard_affine else None,
        augment=q.augment, sup_weight=q.sup_weight, unsup_weight=q.unsup_weight,
        consistency=ConsistencyLoss(conf_masking=q.conf_masking, conf_thresh=q.conf_thresh, sharpen=q.sharpen, heat_fusion=q.heat_fusion),
        concat_views=q.concat_views, collapse_thr=q.collapse_thr, teacher=q.teacher, ema_decay=q.ema_decay, ema_warmup=q.ema_warmup,
        teacher_view=q.teacher_view, student_view=q.student_view, sspcm=q.sspcm, reference_geometry=q.reference_geometry,
        video_losses=build_video_losses(cfg, int(nets[0].output_stride),  # type: ignore[arg-type]
                                         poses=poses, flip_index=flip_index),
    )


def _identical(nets: list[nn.Module]) -> bool:
    """Whether every network holds the same parameters as the first."""
    first = list(nets[0].parameters())
    return all(all(torch.equal(a, b) for a, b in zip(first, n.parameters())) for n in nets[1:])


def build_optimizer(cfg: Config, params: Any) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay, nesterov=True)
