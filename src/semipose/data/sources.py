"""Config → data: the keypoint set, the labelled / unlabelled / validation persons of the
configured splits (any reader, the union remap, label subsets, labels stripped for the
unlabelled set) and their datasets.

This is the one place that turns ``cfg.data`` into records and datasets; the readers below it
take plain arguments.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..codec import HeatmapCodec
from ..config import Config
from ..detect.base import Detector
from ..errors import ConfigError, DataFormatError
from ..image import ImageCache, check_image_file
from ..skeletons import UNION_MAPPINGS, Skeleton, SkeletonMapping, get_skeleton
from .aic import load_aic
from .coco import load_coco_keypoints, load_detections
from .cocojson import skeleton_from_coco_file
from .context import FrameTupleDataset
from .mixed import MixedDataset, read_label_ids, select_labelled, write_label_subset
from .mpii import load_mpii
from .records import PoseRecord
from .topdown import TopDownDataset, TopDownTransform

__all__ = [
    "build_skeleton",
    "load_split",
    "check_images",
    "build_label_records",
    "build_train_dataset",
    "build_unlabelled_records",
    "TrainData",
    "build_train_data",
    "EvalData",
    "build_eval_data",
]

log = logging.getLogger(__name__)


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
    return skeleton_from_coco_file(ann, default_sigma=cfg.data.default_sigma)


def _union_mapping(source: Skeleton) -> SkeletonMapping:
    """The mapping of a dataset skeleton into the 24-joint union (matched by keypoint names)."""
    for m in UNION_MAPPINGS.values():
        if m.source.keypoints == source.keypoints:
            return m
    raise ConfigError(f"data.skeleton union24: no union mapping for the {source.num_keypoints}-keypoint set {source.name!r}")


def load_split(cfg: Config, split: Any, skeleton: Skeleton, *, key: str) -> tuple[list[PoseRecord], np.ndarray, Skeleton]:
    """Ground-truth persons of one split in the run's keypoint order.

    The split is read in its own layout (``split.format``) and keypoint set; with the
    ``union24`` skeleton its keypoints are scattered into union order.

    Returns:
        ``(records, supervised, source_skeleton)``: ``supervised`` ``(K,)`` bool marks the
        run's channels this split labels.
    """
    d = cfg.data
    ann, img_dir = d.resolve(split.ann_file), d.resolve(split.image_dir) or ""
    if not ann:
        raise ConfigError(f"data.{key}.ann_file is not set")
    union = skeleton.name == "union24"
    if split.format == "mpii":
        data = load_mpii(ann, img_dir)
    elif split.format == "aic":
        data = load_aic(ann, img_dir)
    else:
        data = load_coco_keypoints(ann, img_dir, skeleton=None if union else skeleton,
                                   default_sigma=d.default_sigma)
    src = data.skeleton
    if union and src.num_keypoints != skeleton.num_keypoints:
        mapping = _union_mapping(src)
        records = [dataclasses.replace(r, keypoints=mapping.to_union(r.keypoints, axis=0).astype(np.float32)) for r in data.records]
        return records, mapping.supervised.copy(), src
    if src.num_keypoints != skeleton.num_keypoints:
        raise ConfigError(
            f"data.{key}: {ann} has {src.num_keypoints} keypoints ({src.name}), the run's skeleton {skeleton.name!r} has "
            f"{skeleton.num_keypoints}; use data.skeleton: union24 to mix keypoint sets"
        )
    return data.records, np.ones(skeleton.num_keypoints, bool), src


def check_images(records: list[PoseRecord], what: str, *, skip: bool) -> list[PoseRecord]:
    """The pre-flight image check of a split: every image file exists, is not empty and is
    not cut short (its first and last bytes are read, not decoded).

    Returns:
        ``records`` (without the persons on bad images when ``skip``; the count is logged).

    Raises:
        DataFormatError: some images are bad and ``skip`` is false; the message gives their
            number and the first few files with their problems.
    """
    paths = list(dict.fromkeys(r.image_path for r in records))
    bad = {p: prob for p in paths if (prob := check_image_file(p))}
    if not bad:
        return records
    shown = "; ".join(f"{p}: {prob}" for p, prob in list(bad.items())[:3])
    if not skip:
        raise DataFormatError(
            f"{what}: {len(bad)} of {len(paths)} images are unusable ({shown}{' ...' if len(bad) > 3 else ''}); "
            "list them all with `semipose data check CONFIG`, or skip them with data.skip_bad_images=true"
        )
    kept = [r for r in records if r.image_path not in bad]
    log.warning("%s: skipped %d persons on %d unusable images (%s)", what, len(records) - len(kept), len(bad), shown)
    if not kept:
        raise DataFormatError(f"{what}: every image is unusable ({shown})")
    return kept


def build_label_records(cfg: Config, skeleton: Skeleton) -> tuple[list[PoseRecord], list[PoseRecord], np.ndarray]:
    """``(labelled, all, supervised)``: the chosen labelled persons, every person of the
    training file, and the ``(K,)`` mask of the channels the training file labels."""
    d = cfg.data
    everyone, supervised, _ = load_split(cfg, d.train, skeleton, key="train")
    everyone = check_images(everyone, f"data.train ({d.train.ann_file})", skip=d.skip_bad_images)
    ids = read_label_ids(d.resolve(d.label_ids_file)) if d.label_ids_file else None  # type: ignore[arg-type]
    try:
        chosen = select_labelled(everyone, d.max_train_instances, mode=d.label_subset, seed=cfg.seed, ids=ids)
    except ValueError as e:
        raise ConfigError(f"data.label_ids_file {d.label_ids_file}: {e}") from None
    return chosen, everyone, supervised


def build_train_dataset(cfg: Config, skeleton: Skeleton, codec: HeatmapCodec) -> TopDownDataset:
    """Labelled training crops (the configured label subset)."""
    d = cfg.data
    records, _, _ = build_label_records(cfg, skeleton)
    transform = TopDownTransform(codec, skeleton, train=True, aug=d.augment, color=d.color, padding=d.padding)
    return TopDownDataset(records, transform, seed=cfg.seed, images=ImageCache(d.image_cache_mb))


def _unlabel(r: PoseRecord, k: int) -> PoseRecord:
    return dataclasses.replace(r, keypoints=np.zeros((k, 3), np.float32))


def build_unlabelled_records(cfg: Config, skeleton: Skeleton, everyone: list[PoseRecord], *,
                             detector: Detector | None = None) -> tuple[list[PoseRecord], str]:
    """The unlabelled persons (labels removed) and a description of their source (``detector``:
    the persons of ``data.unlabeled.videos`` frames, see :func:`~semipose.data.videos.video_frame_records`)."""
    d = cfg.data
    k = skeleton.num_keypoints
    ann, img_dir, det = d.resolve(d.unlabeled.ann_file), d.resolve(d.unlabeled.image_dir), d.resolve(d.unlabeled.det_file)
    if d.unlabeled.videos:
        if ann or det:
            raise ConfigError("data.unlabeled: give videos or an ann_file / det_file, not both")
        from .videos import video_frame_records

        records, what = video_frame_records(d.unlabeled.videos, k, root=d.root, stride=d.unlabeled.frame_stride,
                                            num_frames=d.unlabeled.num_frames, seed=cfg.seed, detector=detector,
                                            frame_range=d.unlabeled.frame_range)
        if d.max_unlabeled_instances:
            records = records[: d.max_unlabeled_instances]
        return records, what
    if not ann:
        if det:
            raise ConfigError("data.unlabeled.det_file needs data.unlabeled.ann_file (the image_info file of those images)")
        records, what = everyone, f"the {len(everyone)} persons of the training file, labels ignored"
    elif d.unlabeled.format != "coco":
        records, _, _ = load_split(cfg, d.unlabeled, skeleton, key="unlabeled")
        what = f"GT boxes of {ann} ({d.unlabeled.format})"
    elif det:
        records, skipped = load_detections(
            det, ann, img_dir or "", num_keypoints=k, score_thr=d.unlabeled_det_score_thr,
        )
        what = f"detector boxes {det} (score ≥ {d.unlabeled_det_score_thr}; skipped {sum(skipped.values())})"
    else:
        records = load_coco_keypoints(ann, img_dir or "", skeleton=None).records
        what = f"GT boxes of {ann}"
    if d.max_unlabeled_instances:
        records = records[: d.max_unlabeled_instances]
    if records and ann:
        records = check_images(records, f"data.unlabeled ({ann})", skip=d.skip_bad_images)
    if not records:
        raise ConfigError(f"no unlabelled persons ({what})")
    return [_unlabel(r, k) for r in records], what


@dataclass
class TrainData:
    """Training data: the labelled crops, and for the semi-supervised methods the mixed set."""

    labelled: TopDownDataset
    mixed: MixedDataset | None
    description: str


def build_train_data(cfg: Config, skeleton: Skeleton, codec: HeatmapCodec, *, run_dir: Path | None = None,
                     detector: Detector | None = None) -> TrainData:
    """Labelled crops, plus unlabelled easy views when the method is semi-supervised
    (``detector``: finds the persons of ``data.unlabeled.videos`` frames).

    The chosen labelled annotation ids are written to ``run_dir/label_subset.json``.
    """
    d = cfg.data
    labelled_records, everyone, supervised = build_label_records(cfg, skeleton)
    if run_dir is not None:
        write_label_subset(
            run_dir / "label_subset.json", labelled_records,
            {"ann_file": d.train.ann_file, "mode": "ids" if d.label_ids_file else d.label_subset,
             "max_train_instances": d.max_train_instances, "seed": cfg.seed},
        )
    transform = TopDownTransform(codec, skeleton, train=True, aug=d.augment, color=d.color, padding=d.padding)
    images = ImageCache(d.image_cache_mb)  # one budget for the labelled and unlabelled crops (often the same photos)
    labelled = TopDownDataset(labelled_records, transform, seed=cfg.seed, images=images)
    desc = f"{len(labelled_records)} labelled persons of {len(everyone)}"
    if not cfg.semi_supervised:
        return TrainData(labelled, None, desc)
    unl_records, what = build_unlabelled_records(cfg, skeleton, everyone, detector=detector)
    # the easy view: the dataset's random scale/rotation/flip, no half-body (it needs labels)
    u_transform = TopDownTransform(
        codec, skeleton, train=True, aug=dataclasses.replace(d.augment, half_body_prob=0.0), color=d.color, padding=d.padding,
    )
    unlabelled: TopDownDataset
    if cfg.ssl.temporal.weight > 0:  # each crop with its neighbouring frames, cropped alike
        unlabelled = FrameTupleDataset(unl_records, u_transform, gap=cfg.ssl.temporal.frame_gap, seed=cfg.seed * 7919 + 1, images=images)
        if unlabelled.stills:
            log.warning("ssl.temporal: %d of %d unlabelled crops are still images (no neighbouring frames): no temporal term for them",
                        unlabelled.stills, len(unl_records))
            what += f"; {unlabelled.stills} still"
        what += f"; with frames ±{cfg.ssl.temporal.frame_gap}"
    else:
        unlabelled = TopDownDataset(unl_records, u_transform, seed=cfg.seed * 7919 + 1, images=images)
    mixed = MixedDataset(labelled, unlabelled, supervised)
    return TrainData(labelled, mixed, f"{desc}; {len(unl_records)} unlabelled: {what}")


@dataclass
class EvalData:
    """What evaluation needs: the dataset of crops, its records and the ground truth.

    Attributes:
        dataset: crops of the persons to predict.
        records: those persons.
        ann_file: COCO ground truth (None: format-only, or PCKh).
        protocol: a description printed above the results (boxes, flip, decoder …).
        metric: ``coco`` (pycocotools AP/AR), ``pckh`` (MPII PCKh@0.5 with ``gt_file``) or
            ``finder`` (instances found on whole frames: :mod:`semipose.data.finder`).
        eval_skeleton: the keypoint set scored (the dataset's; differs from the run's when
            the run predicts the 24-joint union).
        mapping: union → dataset order before scoring, or None.
        gt_file: MPII ``gt_valid.mat`` for PCKh.
    """

    dataset: TopDownDataset
    records: list[PoseRecord]
    ann_file: str | None
    protocol: dict[str, Any]
    metric: str = "coco"
    eval_skeleton: Skeleton | None = None  # set by build_eval_data: the dataset's keypoint set
    mapping: Any = None
    gt_file: str | None = None
    _crops: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)

    def crop_boxes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(centers, scales)`` ``(N, 2)`` of the crops of :attr:`records`, as the dataset's
        transform takes them (what the predictions are mapped back through); computed once."""
        if self._crops is None:
            boxes = [self.dataset.transform.crop_box(r) for r in self.records]
            self._crops = (np.stack([c for c, _ in boxes]), np.stack([s for _, s in boxes]))
        return self._crops

    @property
    def score_key(self) -> str:
        """The metric that picks the best checkpoint: ``AP``, PCKh ``Mean`` or a finder's ``F1``."""
        return {"pckh": "Mean", "finder": "F1"}.get(self.metric, "AP")


def build_eval_data(cfg: Config, skeleton: Skeleton, codec: HeatmapCodec, *, use_gt_boxes: bool | None = None) -> EvalData:
    """Validation crops from GT boxes or from the detector-box file (``data.val.det_file``);
    an MPII split (``data.val.format: mpii``) is scored with PCKh against ``data.val.gt_file``."""
    d, e = cfg.data, cfg.eval
    ann, img_dir = d.resolve(d.val.ann_file), d.resolve(d.val.image_dir)
    if not ann:
        raise ConfigError("data.val.ann_file is not set")
    gt = e.use_gt_boxes if use_gt_boxes is None else use_gt_boxes
    union = skeleton.name == "union24"
    mapping, eval_skeleton = None, skeleton
    if gt or d.val.format != "coco":
        records, _, src = load_split(cfg, d.val, skeleton, key="val")
        if union and src.num_keypoints != skeleton.num_keypoints:
            mapping, eval_skeleton = _union_mapping(src), src
        boxes = "ground truth"
    else:
        det = d.resolve(d.val.det_file)
        if not det:
            raise ConfigError("eval.use_gt_boxes is false but data.val.det_file is not set")
        if union:
            eval_skeleton = skeleton_from_coco_file(ann, default_sigma=d.default_sigma)
            mapping = _union_mapping(eval_skeleton)
        records, _ = load_detections(
            det, ann, img_dir or "", num_keypoints=skeleton.num_keypoints, score_thr=e.det_score_thr,
        )
        if not records:
            raise ConfigError(f"{det}: no detections at or above eval.det_score_thr={e.det_score_thr}")
        boxes = f"detector ({det}, score ≥ {e.det_score_thr})"
    metric, gt_file = "coco", None
    if d.val.format == "mpii":
        metric, gt_file = "pckh", d.resolve(d.val.gt_file)
        if not gt_file:
            raise ConfigError("data.val.gt_file: PCKh on an MPII split needs the official gt_valid.mat (head boxes)")
    records = check_images(records, f"data.val ({d.val.ann_file})", skip=d.skip_bad_images)
    transform = TopDownTransform(codec, skeleton, train=False, color=d.color, padding=d.padding)
    protocol = {
        "boxes": boxes,
        "flip_test": e.flip_test,
        "decoder": {"shift": "argmax + quarter offset", "dark": "DARK (11x11 blur + Taylor)", "argmax": "argmax"}[e.decoder],
        "metric": "PCKh@0.5 (SC_BIAS 0.6)" if metric == "pckh" else f"COCO OKS AP ({eval_skeleton.name} sigmas)",
        "rescoring_thr": e.in_vis_thr,
        "oks_nms": e.oks_nms_thr if e.use_nms else None,
        "instances": len(records),
    }
    if e.format_only:
        if metric != "coco":
            raise ConfigError("eval.format_only writes COCO results JSON; it does not apply to an MPII split")
        protocol["metric"] = "format only: results JSON written, not scored"
    return EvalData(
        TopDownDataset(records, transform, seed=cfg.seed, images=ImageCache(d.image_cache_mb)), records,
        ann if metric == "coco" and not e.format_only else None, protocol,
        metric=metric, eval_skeleton=eval_skeleton, mapping=mapping, gt_file=gt_file,
    )


def check_data(cfg: Config) -> tuple[list[str], int]:
    """Read every split of ``cfg`` and check every image file (missing, empty, cut short):
    ``(lines, problems)``, a line per problem and per split, as ``semipose data check`` prints them."""
    skeleton = build_skeleton(cfg)
    lines: list[str] = []
    problems = 0
    for key in ("train", "val", "unlabeled"):
        split = getattr(cfg.data, key)
        if not split.ann_file or (key == "unlabeled" and split.det_file):
            continue
        try:
            records, _, _ = load_split(cfg, split, skeleton, key=key)
        except DataFormatError as e:
            lines.append(f"data.{key}: {e}")
            problems += 1
            continue
        paths = list(dict.fromkeys(r.image_path for r in records))
        bad = [(p, prob) for p in paths if (prob := check_image_file(p))]
        lines += [f"data.{key}: {p}: {prob}" for p, prob in bad]
        problems += len(bad)
        lines.append(f"data.{key}: {len(records)} persons on {len(paths)} images; {len(bad)} unusable image(s)")
    return lines, problems
