"""Config → objects: the only place that reads a :class:`~semipose.config.Config` to build the
plain-argument components (skeleton, codec, datasets, model, optimizer)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..codec import HeatmapCodec
from ..config import Config, ConfigError
from ..data.coco import load_coco_keypoints, load_detections, skeleton_from_coco_file
from ..data.records import PoseRecord
from ..data.topdown import TopDownDataset, TopDownTransform
from ..models import build_pose_model, load_imagenet_backbone
from ..skeletons import Skeleton, get_skeleton

__all__ = [
    "resolve_device",
    "build_skeleton",
    "build_codec",
    "build_train_dataset",
    "EvalData",
    "build_eval_data",
    "build_model",
    "build_optimizer",
    "build_scheduler",
]

log = logging.getLogger(__name__)


def resolve_device(spec: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise ``torch.device(spec)`` (checked)."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {spec!r} requested but CUDA is not available")
    return dev


def build_skeleton(cfg: Config) -> Skeleton:
    """The configured keypoint set, or the training file's (validation file's if no training file)."""
    if cfg.data.skeleton is not None:
        try:
            return get_skeleton(cfg.data.skeleton)
        except ValueError as e:
            raise ConfigError(f"data.skeleton: {e}") from e
    ann = cfg.data.resolve(cfg.data.train.ann_file) or cfg.data.resolve(cfg.data.val.ann_file)
    if not ann:
        raise ConfigError("data.skeleton is null and no annotation file is configured to read it from")
    return skeleton_from_coco_file(ann)


def build_codec(cfg: Config) -> HeatmapCodec:
    w, h = cfg.data.input_size
    return HeatmapCodec((w, h), cfg.heatmap_size, cfg.data.sigma, unbiased=cfg.data.unbiased_encoding)


def _aspect(cfg: Config) -> float:
    return cfg.data.input_size[0] / cfg.data.input_size[1]


def build_train_dataset(cfg: Config, skeleton: Skeleton, codec: HeatmapCodec) -> TopDownDataset:
    d = cfg.data
    ann, img_dir = d.resolve(d.train.ann_file), d.resolve(d.train.image_dir)
    if not ann:
        raise ConfigError("data.train.ann_file is not set")
    subset = load_coco_keypoints(
        ann, img_dir or "", skeleton=skeleton, aspect_ratio=_aspect(cfg), padding=d.padding,
        max_instances=d.max_train_instances or None,
    )
    transform = TopDownTransform(codec, skeleton, train=True, aug=d.augment, color=d.color, padding=d.padding)
    return TopDownDataset(subset.records, transform, seed=cfg.seed)


@dataclass
class EvalData:
    """What evaluation needs: the dataset of crops, its records and the ground-truth file."""

    dataset: TopDownDataset
    records: list[PoseRecord]
    ann_file: str | None
    protocol: dict[str, Any]


def build_eval_data(cfg: Config, skeleton: Skeleton, codec: HeatmapCodec, *, use_gt_boxes: bool | None = None) -> EvalData:
    """Validation crops from GT boxes or from the detector-box file (``data.val.det_file``)."""
    d, e = cfg.data, cfg.eval
    ann, img_dir = d.resolve(d.val.ann_file), d.resolve(d.val.image_dir)
    if not ann:
        raise ConfigError("data.val.ann_file is not set")
    gt = e.use_gt_boxes if use_gt_boxes is None else use_gt_boxes
    if gt:
        records = load_coco_keypoints(ann, img_dir or "", skeleton=skeleton, aspect_ratio=_aspect(cfg), padding=d.padding).records
        boxes = "ground truth"
    else:
        det = d.resolve(d.val.det_file)
        if not det:
            raise ConfigError("eval.use_gt_boxes is false but data.val.det_file is not set")
        records, _ = load_detections(
            det, ann, img_dir or "", num_keypoints=skeleton.num_keypoints, score_thr=e.det_score_thr,
            aspect_ratio=_aspect(cfg), padding=d.padding,
        )
        if not records:
            raise ConfigError(f"{det}: no detections at or above eval.det_score_thr={e.det_score_thr}")
        boxes = f"detector ({det}, score ≥ {e.det_score_thr})"
    transform = TopDownTransform(codec, skeleton, train=False, color=d.color, padding=d.padding)
    protocol = {
        "boxes": boxes,
        "flip_test": e.flip_test,
        "decoder": "argmax + quarter offset",
        "rescoring_thr": e.in_vis_thr,
        "oks_nms": e.oks_nms_thr if e.use_nms else None,
        "instances": len(records),
    }
    return EvalData(TopDownDataset(records, transform, seed=cfg.seed), records, ann, protocol)


def build_model(cfg: Config, num_joints: int, *, load_pretrained: bool = True) -> nn.Module:
    m = cfg.model
    model = build_pose_model(
        m.arch, num_joints, num_deconv_layers=len(m.deconv_filters), deconv_filters=tuple(m.deconv_filters),
        deconv_kernels=tuple(m.deconv_kernels), final_kernel=m.final_kernel,
    )
    if load_pretrained and m.pretrained:
        report = load_imagenet_backbone(model, m.pretrained)
        log.info("ImageNet backbone from %s: %s", m.pretrained, report)
    return model


def build_optimizer(cfg: Config, params: Any) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay, nesterov=True)


def build_scheduler(cfg: Config, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """Multi-step decay, stepped once per epoch (spec §6)."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.train.lr_steps), gamma=cfg.train.lr_factor)
