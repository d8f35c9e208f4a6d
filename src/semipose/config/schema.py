"""The experiment schema: typed dataclasses mirroring the YAML keys, and their cross-field
checks (against the allowed names of :mod:`semipose.params`). No torch, no OpenCV."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..geometry import DEFAULT_INPUT_SIZE, DEFAULT_PADDING
from ..params import (
    ARCHITECTURES,
    CHANNELS_LAST,
    COLORS,
    DATA_FORMATS,
    DECODERS,
    DECONV_LAYERS,
    METHODS,
    OPTIMIZERS,
    PRECISIONS,
    SELECT_MODES,
    SIZE_RELATIVE,
    TASKS,
    TEACHERS,
    VIEWS,
    AugmentConfig,
    AugmentParams,
    FinderParams,
    HardAffineParams,
    PosePriorParams,
    SSPCMParams,
    TemporalParams,
    num_nets_of,
    output_stride,
    parse_recipe,
)

__all__ = ["SplitConfig", "DataConfig", "ModelConfig", "TrainConfig", "EvalConfig", "SSLConfig", "Config", "LABEL_SUBSET_MODES"]

#: How a labelled subset is drawn from the training annotations.
LABEL_SUBSET_MODES: tuple[str, ...] = ("first", "random")


def _choice(key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: expected one of {', '.join(allowed)}, got {value!r}")


@dataclass
class SplitConfig:
    """One set of images.

    Attributes:
        ann_file: COCO-format JSON (keypoint file, or an ``image_info`` file when boxes come
            from ``det_file``).
        image_dir: folder the JSON's ``file_name`` entries are relative to.
        det_file: person-detector results (COCO results format); used for evaluation when
            ``eval.use_gt_boxes`` is false.
        format: ``coco``, ``mpii`` or ``aic`` (see below).
        gt_file: MPII ``gt_valid.mat`` (PCKh evaluation of an ``mpii`` validation split).
    """

    ann_file: str = ""
    image_dir: str = ""
    det_file: str | None = None
    #: annotation layout: ``coco`` (COCO keypoint JSON, also the COCO-style AI Challenger
    #: conversion), ``mpii`` (the HRNet MPII JSON) or ``aic`` (the official AI Challenger JSON)
    format: str = "coco"
    #: MPII evaluation ground truth (the official ``gt_valid.mat``) for PCKh
    gt_file: str | None = None
    #: ``data.unlabeled`` only: video files or folders of videos whose frames are the
    #: unlabelled set (decoded by the loader workers, nothing written to disk), one
    #: whole-frame box each (a single-instance project)
    videos: list[str] = field(default_factory=list)
    #: every this-many-th frame of the videos
    frame_stride: int = 1
    #: ``[start, stop)``: only the videos' frames in this range (0-based; e.g. frames no test set holds)
    frame_range: list[int] | None = None
    #: > 0: a diverse subset of this many frames (k-means on downscaled frames, the frame
    #: nearest each centre), as labelling tools pick frames; 0: every ``frame_stride``-th
    num_frames: int = 0
    #: ``data.unlabeled`` with ``videos`` only: an ONNX person detector (a name ``semipose
    #: models`` lists, a file, a URL or an ``hf://`` path) or an instance finder's model file
    #: (``.pt``, ``task: finder``) whose boxes in each chosen frame are the unlabelled
    #: instances, instead of one whole-frame box (several persons or animals a frame)
    detector: str | None = None
    #: its score threshold
    detector_score_thr: float = 0.3


@dataclass
class DataConfig:
    """Data, crops, targets and augmentation."""

    root: str = ""
    train: SplitConfig = field(default_factory=SplitConfig)
    val: SplitConfig = field(default_factory=SplitConfig)
    #: built-in name (``coco17``, ``aic14``), a custom block (keypoints, flip_pairs, sigmas,
    #: edges), or null to read the keypoint set from the training file's categories.
    skeleton: str | dict | None = None
    #: OKS sigma for every keypoint of a custom keypoint set whose file gives none (with a
    #: warning: AP is then not comparable with other keypoint sets)
    default_sigma: float = 0.07
    input_size: list[int] = field(default_factory=lambda: list(DEFAULT_INPUT_SIZE))  # W, H
    heatmap_size: list[int] | None = None  # default: input_size / the head's stride
    sigma: float = 2.0
    unbiased_encoding: bool = False
    padding: float = DEFAULT_PADDING
    color: str = "rgb"
    #: random scale / rotation / flip / half-body of training crops
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    #: keep N labelled person instances (0 = all): the first N in file order (the papers'
    #: 1K/5K/10K protocol) or a seeded random N, see ``label_subset``
    max_train_instances: int = 0
    #: ``first`` (file order) or ``random`` (seeded by ``seed``)
    label_subset: str = "first"
    #: a ``label_subset.json`` written by an earlier run (or a JSON list of annotation ids):
    #: reuse exactly that labelled split
    label_ids_file: str | None = None
    #: unlabelled images for the semi-supervised methods. No ``ann_file``: the training
    #: file's persons with their labels ignored. An ``ann_file`` with GT boxes, or an
    #: ``image_info`` file plus ``det_file`` (detector boxes, COCO "wild" style).
    unlabeled: SplitConfig = field(default_factory=SplitConfig)
    #: detector boxes for the unlabelled set below this score are skipped
    unlabeled_det_score_thr: float = 0.0
    #: keep only the first N unlabelled instances (0 = all)
    max_unlabeled_instances: int = 0
    #: images that are missing, empty or cut short (found by the check before training):
    #: false = stop with the list; true = skip their persons, counted in the log
    skip_bad_images: bool = False
    workers: int = 2
    #: decoded images kept per process (training and evaluation loaders, each worker its own),
    #: so an image is decoded once for all its persons while it stays in the budget; 0 = off
    image_cache_mb: float = 256

    def resolve(self, path: str | None) -> str | None:
        """``path`` joined to :attr:`root` unless it is absolute (or empty/None)."""
        if not path:
            return path
        return path if os.path.isabs(path) else os.path.join(self.root, path) if self.root else path


@dataclass
class ModelConfig:
    """Network (plain arguments of :func:`semipose.models.build_pose_model`)."""

    arch: str = "resnet50"
    #: ImageNet backbone checkpoint: a file, an http(s) URL, hf://OWNER/REPO/PATH, a name
    #: ``semipose models`` lists, or ``imagenet`` (the architecture's backbone the seeds train
    #: from, downloaded once into the cache); null = random initialisation.
    pretrained: str | None = None
    #: whole-network weights to start from (a semipose checkpoint, e.g. a supervised run's
    #: ``best.pt``, or a state_dict file); a two-network checkpoint initialises each network
    #: from its own weights, a one-network file initialises every network of the run (a file,
    #: URL or hf:// path, as ``pretrained``); a list: one file per network (e.g. two supervised
    #: runs of different seeds for PoseDual, so that its networks start different)
    init_weights: str | list[str] | None = None
    deconv_filters: list[int] = field(default_factory=lambda: [256, 256, 256])
    deconv_kernels: list[int] = field(default_factory=lambda: [4, 4, 4])
    final_kernel: int = 1


@dataclass
class TrainConfig:
    """Optimisation and the training loop."""

    epochs: int = 140
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    lr_steps: list[int] = field(default_factory=lambda: [90, 120])
    lr_factor: float = 0.1
    #: the LR milestones in optimiser steps instead of epochs (used instead of ``lr_steps``
    #: when given): with ``max_steps``, a schedule that means the same whatever the set sizes
    lr_step_iters: list[int] = field(default_factory=list)
    #: linear warm-up over this many optimiser steps
    warmup_iters: int = 0
    #: train exactly this many optimiser steps (0 = ``epochs`` epochs): the epochs are then as
    #: many as it takes (``max_iters_per_epoch`` or one pass each), the last one cut short, so
    #: methods are compared at equal steps whatever the labelled and unlabelled set sizes
    max_steps: int = 0
    #: validate (and pick ``best``) every N epochs; the last epoch is always validated
    val_every: int = 1
    #: network precision: fp32, bf16, fp16 (CUDA) or auto (bf16 where it is fast, else fp32)
    precision: str = "fp32"
    #: channels_last (NHWC) networks and inputs: true, false or auto (with bf16 / fp16)
    channels_last: bool | str = "auto"
    #: convert BatchNorm to SyncBatchNorm when training with several processes
    sync_bn: bool = False
    grad_clip: float = 0.0
    log_every: int = 20
    #: cap on iterations per epoch (0 = one pass: over the labelled set for supervised runs,
    #: over the unlabelled set otherwise). A supervised run on a labelled set smaller than
    #: this many batches makes its epochs span several passes, so it can be compared with a
    #: semi-supervised run at equal steps.
    max_iters_per_epoch: int = 0
    #: unlabelled crops per batch for the semi-supervised methods (0 = ``batch_size``);
    #: ``batch_size`` is then the number of labelled crops
    unlabeled_batch_size: int = 0


@dataclass
class EvalConfig:
    """Evaluation protocol."""

    batch_size: int = 64
    #: precision and memory format of validation and ``semipose eval`` (as ``train.*``)
    precision: str = "fp32"
    channels_last: bool | str = "auto"
    flip_test: bool = False
    shift_heatmap: bool = True
    #: heatmap decoding: ``shift`` (argmax + quarter-pixel offset), ``dark`` (DARK Taylor
    #: refinement after an 11x11 Gaussian blur) or ``argmax``
    decoder: str = "shift"
    use_gt_boxes: bool = True
    det_score_thr: float = 0.0
    in_vis_thr: float = 0.2
    oks_nms_thr: float = 0.9
    use_nms: bool = True
    #: write the results JSON without scoring (COCO test-dev: an image_info file + detector
    #: boxes, no ground truth); ``semipose eval --format-only``
    format_only: bool = False
    #: number of val images drawn with predictions into the run folder
    num_vis_images: int = 8


@dataclass
class SSLConfig:
    """The training method: supervised, PoseCons, PoseDual, with MultiAugs hard views.

    A hard view is the easy (dataset) crop of an unlabelled person passed through a chain of
    augmentations (``paths`` entries such as ``"JO+CO"``; ``"none"`` = no occlusion) and then
    the random affine ``affine`` (when ``hard_affine``). One student pass and one consistency
    loss per path; ``repeat`` repeats the path list (MultiAugs' ``--repeat_aug``).
    """

    #: ``supervised``, ``posecons`` (one network teaches itself), ``posedual`` (two
    #: networks teach each other) or ``sspcm`` (PoseDual + an auxiliary third network taught
    #: by the two, with SSPCM's corrections, ``ssl.sspcm``)
    method: str = "supervised"
    #: hard-view recipes, one student pass each: codes CO, CM, MU, JC, JO, RA, TA, YOCORA,
    #: YOCOTA, joined by ``+`` (applied in order); JOCO = JO+CO, JCCM = JC+CM; ``none``
    paths: list[str] = field(default_factory=lambda: ["none"])
    repeat: int = 1
    hard_affine: bool = True
    affine: HardAffineParams = field(default_factory=HardAffineParams)
    augment: AugmentParams = field(default_factory=AugmentParams)
    #: weight of each network's supervised loss (null: 1 for one network, 0.5 for two)
    sup_weight: float | None = None
    #: weight of each consistency loss (each path of each network)
    unsup_weight: float = 1.0
    #: sigmoid ramp-up of ``unsup_weight`` over this many iterations (0 = none)
    rampup_iters: int = 0
    #: drop teacher joints whose peak is below ``conf_thresh`` from the consistency loss
    conf_masking: bool = False
    conf_thresh: float = 0.5
    #: spatial softmax of student and teacher heatmaps before the consistency MSE
    sharpen: bool = False
    #: one consistency loss on the mean of the paths' heatmaps instead of one per path
    heat_fusion: bool = False
    #: run all student views of a network as one concatenated batch (faster; changes
    #: BatchNorm statistics, so off by default; see ``docs/differences.md``)
    concat_views: bool = False
    #: a teacher joint whose heatmap peak is below this counts as "lost" in the collapse log
    collapse_thr: float = 0.1
    #: pick ``best`` by: two networks, the ``mean`` of the two APs, ``net1`` or the
    #: ``ensemble``; ``ema``: the EMA teacher(s) (``teacher: ema``), whose weights ``best.pt``
    #: then holds
    select: str = "mean"
    #: the consistency teachers: ``online`` (the networks, as the papers) or ``ema`` (a moving
    #: average of them: PoseCons' teacher is the student's EMA, PoseDual's the other network's)
    teacher: str = "online"
    #: decay of the EMA teacher, per optimiser step
    ema_decay: float = 0.999
    #: warm the decay up as min(ema_decay, (1 + step) / (10 + step)), so the average follows
    #: the networks quickly at first
    ema_warmup: bool = True
    #: what the teacher and the student see: ``easy`` (the dataset crop) or ``hard`` (the
    #: path's recipe + the affine). The methods are easy → hard; the collapse study's
    #: controls are hard → hard (independent hard views, no easy–hard gap) and hard → easy
    #: (reversed). A hard teacher view needs one path.
    teacher_view: str = "easy"
    student_view: str = "hard"
    #: SSPCM's pseudo-label corrections (``method: sspcm``; the reference's defaults)
    sspcm: SSPCMParams = field(default_factory=SSPCMParams)
    #: video-native terms on the unlabelled crops, combinable with any method (supervised
    #: included): temporal continuity on consecutive frames, and a PCA prior of the labelled
    #: poses; each off at weight 0
    temporal: TemporalParams = field(default_factory=TemporalParams)
    pose_prior: PosePriorParams = field(default_factory=PosePriorParams)
    #: the reference's hard-view geometry, to reproduce its tables: OpenCV's rotation matrix
    #: used as affine_grid's normalised θ (a shear on non-square crops) and the heatmaps
    #: warped with the image's θ (off-centre by up to 0.66 heatmap px); default: corrected
    reference_geometry: bool = False


@dataclass
class Config:
    """A whole experiment."""

    name: str = "experiment"
    seed: int = 0
    #: ``auto`` (CUDA if available), ``cpu``, ``cuda``, ``cuda:1`` …
    device: str = "auto"
    #: torch CPU threads for the main process (0 = torch's default)
    num_threads: int = 0
    output_dir: str = "runs"
    #: ``pose`` (keypoints per instance crop) or ``finder`` (instance anchors on whole frames: ``finder``)
    task: str = "pose"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ssl: SSLConfig = field(default_factory=SSLConfig)
    finder: FinderParams = field(default_factory=FinderParams)

    @property
    def num_nets(self) -> int:
        return num_nets_of(self.ssl.method)

    @property
    def consistency(self) -> bool:
        """Whether the method has teacher–student consistency terms (all but ``supervised``)."""
        return self.ssl.method != "supervised"

    @property
    def video_losses(self) -> bool:
        """Whether a video-native term (``ssl.temporal``, ``ssl.pose_prior``) is on."""
        return self.ssl.temporal.weight > 0 or self.ssl.pose_prior.weight > 0

    @property
    def semi_supervised(self) -> bool:
        """Whether the run reads unlabelled crops: a consistency method or a video-native term."""
        return self.consistency or self.video_losses

    def validate(self) -> Config:
        """Check cross-field constraints; returns self."""
        d, t, e = self.data, self.train, self.eval
        if len(d.input_size) != 2 or min(d.input_size) <= 0:
            raise ConfigError(f"data.input_size: expected [width, height], got {d.input_size}")
        if d.heatmap_size is not None and (len(d.heatmap_size) != 2 or min(d.heatmap_size) <= 0):
            raise ConfigError(f"data.heatmap_size: expected [width, height], got {d.heatmap_size}")
        _choice("data.color", d.color, COLORS)
        for key, v in (("data.sigma", d.sigma), ("data.padding", d.padding), ("train.lr", t.lr), ("data.default_sigma", d.default_sigma)):
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"{key}: must be a positive finite number, got {v}")
        for key, n in (("data.max_train_instances", d.max_train_instances), ("data.max_unlabeled_instances", d.max_unlabeled_instances),
                       ("train.max_iters_per_epoch", t.max_iters_per_epoch), ("train.warmup_iters", t.warmup_iters)):
            if n < 0:
                raise ConfigError(f"{key}: must be ≥ 0 (0 = all / none), got {n}")
        _choice("model.arch", self.model.arch, ARCHITECTURES)
        a = d.augment
        for key, v in (("rot_prob", a.rot_prob), ("flip_prob", a.flip_prob), ("half_body_prob", a.half_body_prob)):
            if not 0 <= v <= 1:
                raise ConfigError(f"data.augment.{key}: must be in [0, 1], got {v}")
        if not 0 <= a.scale_factor < 1:
            raise ConfigError(f"data.augment.scale_factor: must be in [0, 1), got {a.scale_factor}")
        counts = (("train.epochs", t.epochs), ("train.batch_size", t.batch_size), ("eval.batch_size", e.batch_size),
                  ("train.val_every", t.val_every))
        for key, v in counts:
            if v < 1:
                raise ConfigError(f"{key}: must be ≥ 1, got {v}")
        _choice("train.optimizer", t.optimizer, OPTIMIZERS)
        for key, steps in (("train.lr_steps", t.lr_steps), ("train.lr_step_iters", t.lr_step_iters)):
            if list(steps) != sorted(steps):
                raise ConfigError(f"{key}: must be increasing, got {steps}")
        for key, v in (("train.max_steps", t.max_steps), ("train.warmup_iters", t.warmup_iters)):
            if v < 0:
                raise ConfigError(f"{key}: must be ≥ 0 (0 = none), got {v}")
        if d.workers < 0:
            raise ConfigError(f"data.workers: must be ≥ 0, got {d.workers}")
        if not d.image_cache_mb >= 0:
            raise ConfigError(f"data.image_cache_mb: must be ≥ 0 MiB, got {d.image_cache_mb}")
        if len(self.model.deconv_filters) != len(self.model.deconv_kernels):
            raise ConfigError("model.deconv_filters and model.deconv_kernels must have the same length")
        if len(self.model.deconv_filters) not in DECONV_LAYERS:
            raise ConfigError(
                f"model.deconv_filters: {DECONV_LAYERS[0]} to {DECONV_LAYERS[-1]} deconvolution layers "
                f"(output stride {output_stride(DECONV_LAYERS[0])} to {output_stride(DECONV_LAYERS[-1])})"
            )
        for key, n in (("data.input_size", d.input_size[0]), ("data.input_size", d.input_size[1])):
            if n % 32:
                raise ConfigError(f"{key}: width and height must be multiples of 32 (the backbone's stride), got {d.input_size}")
        q = self.ssl
        _choice("eval.decoder", e.decoder, DECODERS)
        for key, prec, cl in (("train", t.precision, t.channels_last), ("eval", e.precision, e.channels_last)):
            _choice(f"{key}.precision", prec, PRECISIONS)
            if cl not in CHANNELS_LAST:
                raise ConfigError(f"{key}.channels_last: expected true, false or auto, got {cl!r}")
        _choice("ssl.method", q.method, tuple(METHODS))
        if isinstance(self.model.init_weights, list) and len(self.model.init_weights) != self.num_nets:
            raise ConfigError(f"model.init_weights: a list gives one file per network; {q.method} has {self.num_nets}, "
                              f"got {len(self.model.init_weights)}")
        _choice("ssl.select", q.select, SELECT_MODES)
        _choice("ssl.teacher", q.teacher, TEACHERS)
        _choice("ssl.augment.size_relative_to", q.augment.size_relative_to, SIZE_RELATIVE)
        if not q.augment.instance_extent_px > 0:
            raise ConfigError(f"ssl.augment.instance_extent_px: must be > 0, got {q.augment.instance_extent_px}")
        for key, w, eps in (("temporal", q.temporal.weight, q.temporal.epsilon), ("pose_prior", q.pose_prior.weight, q.pose_prior.epsilon)):
            if not (w >= 0 and math.isfinite(w)) or not (eps >= 0 and math.isfinite(eps)):
                raise ConfigError(f"ssl.{key}: weight and epsilon must be finite and ≥ 0, got weight {w}, epsilon {eps}")
        if isinstance(q.temporal.frame_gap, bool) or not isinstance(q.temporal.frame_gap, int) or q.temporal.frame_gap < 1:
            raise ConfigError(f"ssl.temporal.frame_gap: must be an int ≥ 1 (frames between neighbours), got {q.temporal.frame_gap!r}")
        if not 0 <= q.temporal.conf_thr <= 1:
            raise ConfigError(f"ssl.temporal.conf_thr: must be in [0, 1], got {q.temporal.conf_thr}")
        if not 0 < q.pose_prior.variance <= 1:
            raise ConfigError(f"ssl.pose_prior.variance: must be in (0, 1], got {q.pose_prior.variance}")
        if q.teacher == "ema" and not self.consistency:
            raise ConfigError("ssl.teacher: ema needs a consistency method (ssl.method: posecons or posedual)")
        if q.select == "ema" and q.teacher != "ema":
            raise ConfigError("ssl.select: ema needs ssl.teacher: ema")
        if not 0 <= q.ema_decay < 1:
            raise ConfigError(f"ssl.ema_decay: must be in [0, 1), got {q.ema_decay}")
        _choice("ssl.teacher_view", q.teacher_view, VIEWS)
        _choice("ssl.student_view", q.student_view, VIEWS)
        pc = q.sspcm
        if not 0 <= pc.score_thr <= 1 or not 0 < pc.dist_thr <= 1:
            raise ConfigError(f"ssl.sspcm: score_thr must be in [0, 1] and dist_thr in (0, 1], got {pc.score_thr}, {pc.dist_thr}")
        if pc.temporal_warmup_epochs < 0:
            raise ConfigError(f"ssl.sspcm.temporal_warmup_epochs: must be ≥ 0, got {pc.temporal_warmup_epochs}")
        if q.method == "sspcm" and q.teacher_view == "hard":
            raise ConfigError("ssl.teacher_view: hard is not defined for sspcm (its auxiliary network's teacher is the mean of two)")
        if q.teacher_view == "hard" and len(q.paths) * q.repeat != 1:
            raise ConfigError(f"ssl.teacher_view: hard needs exactly one path, got ssl.paths {q.paths} × repeat {q.repeat}")
        for key, sp in (("train", d.train), ("val", d.val)):
            if sp.videos:
                raise ConfigError(f"data.{key}.videos: videos are an unlabelled source only (data.unlabeled.videos)")
            if sp.detector:
                raise ConfigError(f"data.{key}.detector: a detector finds the persons of unlabelled videos only (data.unlabeled.detector)")
        if d.unlabeled.detector and not d.unlabeled.videos:
            raise ConfigError("data.unlabeled.detector: finds the persons in the frames of data.unlabeled.videos (give videos; "
                              "for images, give data.unlabeled.det_file)")
        if not 0.0 <= d.unlabeled.detector_score_thr <= 1.0:
            raise ConfigError(f"data.unlabeled.detector_score_thr: must be in [0, 1], got {d.unlabeled.detector_score_thr}")
        fr = d.unlabeled.frame_range
        if fr is not None and (len(fr) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in fr) or not 0 <= fr[0] < fr[1]):
            raise ConfigError(f"data.unlabeled.frame_range: expected [start, stop) frame numbers with 0 ≤ start < stop, got {fr}")
        if d.unlabeled.frame_stride < 1 or d.unlabeled.num_frames < 0:
            raise ConfigError(f"data.unlabeled.frame_stride must be ≥ 1 and num_frames ≥ 0, got {d.unlabeled.frame_stride}, "
                              f"{d.unlabeled.num_frames}")
        for key, sp in (("train", d.train), ("val", d.val), ("unlabeled", d.unlabeled)):
            _choice(f"data.{key}.format", sp.format, DATA_FORMATS)
        if d.val.format == "aic":
            raise ConfigError("data.val.format: evaluate AI Challenger through its COCO-style conversion (format coco)")
        _choice("data.label_subset", d.label_subset, LABEL_SUBSET_MODES)
        if q.repeat < 1 or not q.paths:
            raise ConfigError("ssl.paths must name at least one path and ssl.repeat must be ≥ 1")
        for i, p in enumerate(q.paths):
            try:
                parse_recipe(p)
            except ConfigError as err:
                raise ConfigError(f"ssl.paths[{i}]: {err}") from None
        _choice("task", self.task, TASKS)
        fi = self.finder
        if fi.crop is not None and (len(fi.crop) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in fi.crop)):
            raise ConfigError(f"finder.crop: expected [width, height] in frame pixels, got {fi.crop}")
        if not (fi.min_distance >= 0 and math.isfinite(fi.min_distance)) or not 0 <= fi.threshold <= 1 or fi.max_instances < 0:
            raise ConfigError(f"finder: min_distance must be ≥ 0, threshold in [0, 1], max_instances ≥ 0, got "
                              f"{fi.min_distance}, {fi.threshold}, {fi.max_instances}")
        if self.task == "finder":
            if fi.crop is None:
                raise ConfigError("finder.crop: a finder needs the [width, height] of its boxes (semipose data import writes it)")
            if self.semi_supervised:
                raise ConfigError("task: finder trains supervised on the labelled frames (ssl.method: supervised, no video terms)")
        if t.unlabeled_batch_size < 0:
            raise ConfigError(f"train.unlabeled_batch_size: must be ≥ 0, got {t.unlabeled_batch_size}")
        if isinstance(self.num_threads, bool) or not isinstance(self.num_threads, int) or self.num_threads < 0:
            from ..threads import check_threads

            check_threads(self.num_threads)  # the one rule and message (the upper bound is checked where the run starts)
        return self

    @property
    def output_stride(self) -> int:
        """Input pixels per heatmap pixel: 32 / 2^(number of deconvolution layers)."""
        return output_stride(len(self.model.deconv_filters))

    @property
    def heatmap_size(self) -> tuple[int, int]:
        if self.data.heatmap_size:
            return (int(self.data.heatmap_size[0]), int(self.data.heatmap_size[1]))
        w, h = self.data.input_size
        return (int(w) // self.output_stride, int(h) // self.output_stride)
