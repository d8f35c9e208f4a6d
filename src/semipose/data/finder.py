"""The instance finder's data (``task: finder``): whole frames whose one target channel holds a
Gaussian at every labelled instance's anchor.

The anchor of an instance is the centre of its labelled keypoints' extent
(:func:`instance_anchor`), a fact of the labels alone, so the finder and the crops it gives are
defined without the boxes an import writes. A frame becomes one :class:`PoseRecord` with a
whole-frame box and ``M`` "keypoints", its instances' anchors (``M``: the most instances of any
frame; absent ones ``v = 0``); the ordinary top-down transform crops and augments it, and
:class:`FinderDataset` folds the ``M`` target channels into one (their maximum, weight 1: a frame
with no instance teaches "nothing here").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..codec import HeatmapCodec
from ..config import Config
from ..errors import DataFormatError
from ..image import ImageCache
from ..skeletons import Skeleton
from .records import PoseRecord
from .sources import EvalData, TrainData, build_label_records, build_skeleton, check_images, load_split
from .topdown import TopDownDataset, TopDownTransform

__all__ = ["ANCHOR", "instance_anchor", "anchor_skeleton", "frame_records", "FinderDataset", "frame_anchors", "build_finder_data"]

#: the name of the finder's one output channel
ANCHOR = "anchor"


def instance_anchor(keypoints: np.ndarray) -> np.ndarray | None:
    """``(2,)`` the centre of the labelled keypoints' extent of ``keypoints`` ``(K, 3)``; None if none is labelled."""
    vis = keypoints[:, 2] > 0
    if not vis.any():
        return None
    pts = keypoints[vis, :2]
    return ((pts.min(0) + pts.max(0)) / 2).astype(np.float32)


def anchor_skeleton(m: int) -> Skeleton:
    """The keypoint set of a finder record: ``m`` interchangeable anchors (no flip pairs: a
    mirrored frame's anchors are still anchors; any OKS sigma, none is scored)."""
    return Skeleton(f"{ANCHOR}s{m}", tuple(f"{ANCHOR}{i}" for i in range(m)), (), np.full(m, 0.1))


def frame_anchors(records: Sequence[PoseRecord]) -> dict[int, list[np.ndarray]]:
    """``{image_id: [anchor (2,), ...]}`` of the labelled instances of ``records`` (instances with no labelled keypoint are left out)."""
    out: dict[int, list[np.ndarray]] = {}
    for r in records:
        a = instance_anchor(r.keypoints)
        out.setdefault(r.image_id, []).extend([] if a is None else [a])
    return out


def frame_records(records: Sequence[PoseRecord], frames: Sequence[int] | None = None) -> tuple[list[PoseRecord], int]:
    """One whole-frame record per frame of ``records`` (instance records), its keypoints the
    anchors of every instance of that frame in ``records``.

    Args:
        records: instance records (every instance of the frames used, so none is taught as background).
        frames: the image ids to keep (default: all), in this order.

    Returns:
        ``(frame records, M)``: keypoints ``(M, 3)`` each, ``M`` the most instances of a frame (≥ 1).

    Raises:
        DataFormatError: a record's frame size is unknown (a whole-frame box needs it).
    """
    anchors = frame_anchors(records)
    first: dict[int, PoseRecord] = {}
    for r in records:
        first.setdefault(r.image_id, r)
    ids = list(frames) if frames is not None else list(first)
    m = max([len(anchors.get(i, [])) for i in ids] + [1])
    out = []
    for i in ids:
        r = first[i]
        w, h = r.image_size
        if w <= 0 or h <= 0:
            raise DataFormatError(f"{r.image_path}: frame size unknown (the annotation file's width/height); the finder crops whole frames")
        kp = np.zeros((m, 3), np.float32)
        for j, a in enumerate(anchors.get(i, [])):
            kp[j] = (a[0], a[1], 2)
        out.append(dataclasses.replace(r, bbox=np.array([0, 0, w, h], np.float32), keypoints=kp, ann_id=-1, raw_bbox=None,
                                       padding=1.0))
    return out, m


class FinderDataset(TopDownDataset):
    """Whole-frame crops with one target channel: the maximum of the anchors' Gaussians, weight 1.

    Items are :class:`~semipose.data.batches.LabelledSample` dicts with ``target`` ``(1, h, w)``
    and ``target_weight`` ``(1,)``; ``joints`` keeps the ``(M, 3)`` anchors in crop pixels.
    """

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = super().__getitem__(index)
        sample["target"] = sample["target"].amax(0, keepdim=True)
        sample["target_weight"] = torch.ones(1, dtype=sample["target_weight"].dtype)
        return sample


def build_finder_data(cfg: Config, codec: HeatmapCodec) -> tuple[TrainData, EvalData, Skeleton]:
    """A finder run's data: every instance of the labelled frames (the configured label
    subset chooses frames: all their instances are anchors) as whole-frame training crops, the
    validation split's frames, and the one-channel keypoint set the network predicts.

    The validation :class:`EvalData` has ``metric`` ``finder``: its records are the frames with
    their anchors as keypoints, ``eval_skeleton`` their :func:`anchor_skeleton`.
    """
    d = cfg.data
    skeleton = build_skeleton(cfg)
    chosen, everyone, _ = build_label_records(cfg, skeleton)
    frames = list(dict.fromkeys(r.image_id for r in chosen))
    train_frames, m = frame_records(everyone, frames)
    aug = dataclasses.replace(d.augment, half_body_prob=0.0)  # no body halves of a whole frame
    images = ImageCache(d.image_cache_mb)
    transform = TopDownTransform(codec, anchor_skeleton(m), train=True, aug=aug, color=d.color, padding=1.0)
    labelled = FinderDataset(train_frames, transform, seed=cfg.seed, images=images)
    val, _, _ = load_split(cfg, d.val, skeleton, key="val")
    val = check_images(val, f"data.val ({d.val.ann_file})", skip=d.skip_bad_images)
    val_frames, m_val = frame_records(val)
    v_transform = TopDownTransform(codec, anchor_skeleton(m_val), train=False, color=d.color, padding=1.0)
    protocol = {"boxes": "whole frames", "metric": "instances found: anchors matched within finder.min_distance", "instances":
                sum(int((r.keypoints[:, 2] > 0).sum()) for r in val_frames), "frames": len(val_frames)}
    n_inst = sum(int((r.keypoints[:, 2] > 0).sum()) for r in train_frames)
    desc = f"{len(train_frames)} labelled frames ({n_inst} instances, at most {m} a frame) of {len({r.image_id for r in everyone})}"
    eval_data = EvalData(TopDownDataset(val_frames, v_transform, seed=cfg.seed, images=images), val_frames, None, protocol,
                         metric="finder", eval_skeleton=anchor_skeleton(m_val))
    return TrainData(labelled, None, desc), eval_data, anchor_skeleton(1)
