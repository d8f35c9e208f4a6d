"""The torch-free facts that configs are checked against: parameter dataclasses, the allowed
names of every choice, and the recipe grammar.

This is a ground-floor module (no torch, no OpenCV): :mod:`semipose.config` validates against
it, and the modules that *use* each fact (the codec, the networks, the augmentations, the
method) import it from here, so each name list exists once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = [
    "PRECISIONS",
    "CHANNELS_LAST",
    "DECODERS",
    "METHODS",
    "SELECT_MODES",
    "ENSEMBLE",
    "IMPORT_FORMATS",
    "SIZE_RELATIVE",
    "net_key",
    "card_choices",
    "parse_net",
    "eval_names",
    "ema_names",
    "selected_name",
    "SSPCMParams",
    "TemporalParams",
    "PosePriorParams",
    "FinderParams",
    "TASKS",
    "TEACHERS",
    "VIEWS",
    "COLORS",
    "DATA_FORMATS",
    "OPTIMIZERS",
    "RESNET_DEPTHS",
    "HRNET_WIDTH_NAMES",
    "ARCHITECTURES",
    "DECONV_LAYERS",
    "output_stride",
    "num_nets_of",
    "ScaleRotation",
    "scale_rotation",
    "AugmentConfig",
    "HardAffineParams",
    "AugmentParams",
    "AUGMENT_CODES",
    "JOINT_AUGMENTATIONS",
    "COMBOS",
    "parse_recipe",
]

#: Numeric precisions of the networks: ``auto`` = bf16 where the device runs it fast (CUDA with
#: bf16, CPUs with AMX / AVX512-BF16), else fp32. Losses, decoding and statistics stay fp32.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "auto")
#: Memory format of the networks and their inputs: ``auto`` = channels_last with bf16 / fp16.
CHANNELS_LAST: tuple[bool | str, ...] = (True, False, "auto")

#: Heatmap decoders (:meth:`semipose.codec.HeatmapCodec.decode`): integer peak, the reference's
#: quarter-pixel shift, DARK's Taylor step.
DECODERS: tuple[str, ...] = ("shift", "dark", "argmax")

#: Method name → the teacher of each student network (empty: no consistency term): a network
#: index, or a tuple of indices whose mean heatmap teaches. PoseDual is PoseCons with crossed
#: pairs; SSPCM is PoseDual plus an auxiliary third network taught by the mean of the two
#: (with the agreement corrections of :class:`SSPCMParams`); a new method is a new pairing.
METHODS: dict[str, tuple[int | tuple[int, ...], ...]] = {
    "supervised": (), "posecons": (0,), "posedual": (1, 0), "sspcm": (1, 0, (0, 1)),
}

#: What the hard views' box sizes and jitter are relative to (``ssl.augment.size_relative_to``).
SIZE_RELATIVE: tuple[str, ...] = ("crop", "instance")

#: The label formats ``semipose data import`` reads: DeepLabCut / lightning-pose CSV, a Label
#: Studio JSON export, COCO keypoints.
IMPORT_FORMATS: tuple[str, ...] = ("dlc", "sleap", "label-studio", "coco")

#: The names of a run's networks, spelled here once. A model file names its networks ``net1``,
#: ``net2`` … and their mean ``ensemble`` (the card's ``use``, ``--net``, ``ssl.select``);
#: evaluation rows and result files call a lone network ``net`` (``keypoints_net_results.json``)
#: and a lone EMA teacher ``ema``.
ENSEMBLE = "ensemble"


def net_key(k: int) -> str:
    """The name of network ``k`` (0-based) in a model file: ``net1``, ``net2`` …"""
    return f"net{k + 1}"


def card_choices(num_nets: int) -> list[str]:
    """What a model file of ``num_nets`` networks can predict with: each network, and for
    several their ensemble."""
    return [net_key(i) for i in range(num_nets)] + ([ENSEMBLE] if num_nets > 1 else [])


def parse_net(spec: str | int) -> str:
    """``1`` / ``"1"`` / ``"net1"`` → ``"net1"``; ``"ensemble"`` stays."""
    t = str(spec).lower()
    return t if t == ENSEMBLE or t.startswith("net") else f"net{t}"


def eval_names(num_nets: int) -> list[str]:
    """Row names of an evaluation: ``["net"]`` or ``["net1", "net2", "ensemble"]``."""
    return ["net"] if num_nets == 1 else card_choices(num_nets)


def ema_names(num_nets: int) -> list[str]:
    """Row names of the EMA teachers: ``["ema"]`` or ``["ema1", "ema2"]``."""
    return ["ema"] if num_nets == 1 else [f"ema{i + 1}" for i in range(num_nets)]


def selected_name(num_nets: int, select: str) -> str:
    """The evaluation row of the model ``ssl.select`` picks: the one network, the first EMA
    teacher (``ema``), the ensemble (``ensemble``), else the first network."""
    if select == "ema":
        return ema_names(num_nets)[0]
    names = eval_names(num_nets)
    return names[0] if num_nets == 1 else (ENSEMBLE if select == ENSEMBLE else names[0])


#: Which validation metrics pick ``best.pt``: for two networks the ``mean`` of the two, ``net1``
#: or the ``ensemble``; ``ema``: the EMA teacher(s) (their mean for two), whose weights then
#: go into ``best.pt``.
SELECT_MODES: tuple[str, ...] = ("mean", net_key(0), ENSEMBLE, "ema")
#: Where the consistency teachers come from: the ``online`` networks themselves (the
#: reference) or an ``ema`` (exponential moving average) copy of them (mean teacher).
TEACHERS: tuple[str, ...] = ("online", "ema")
#: What a consistency teacher or student sees: the dataset crop or a hard view.
VIEWS: tuple[str, ...] = ("easy", "hard")
#: Input channel orders.
COLORS: tuple[str, ...] = ("rgb", "bgr")
#: Annotation file formats of a data split.
DATA_FORMATS: tuple[str, ...] = ("coco", "mpii", "aic")
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")

RESNET_DEPTHS: tuple[int, ...] = (10, 18, 34, 50, 101, 152)
HRNET_WIDTH_NAMES: tuple[int, ...] = (32, 48)
#: Network names of ``model.arch`` (the builders: :data:`semipose.models.posenet.POSE_MODELS`).
ARCHITECTURES: tuple[str, ...] = tuple(f"resnet{d}" for d in RESNET_DEPTHS) + tuple(f"hrnet_w{w}" for w in HRNET_WIDTH_NAMES)
#: Allowed numbers of deconvolution layers of the SimpleBaseline head (output stride 16 … 2).
DECONV_LAYERS: tuple[int, ...] = (1, 2, 3, 4)


def output_stride(num_deconv_layers: int) -> int:
    """Input pixels per heatmap pixel of a stride-32 trunk followed by ``num_deconv_layers``
    stride-2 upsampling layers (4 for the usual three)."""
    return 32 // 2 ** int(num_deconv_layers)


def num_nets_of(method: str) -> int:
    """Networks a method trains: one per student of its pairing (at least one)."""
    return max(len(METHODS[method]), 1)


@dataclass
class SSPCMParams:
    """SSPCM's pseudo-label corrections (Huang et al., CVPR 2023; the reference's defaults, from
    its configs): computed from the two interactive networks' easy-view predictions of every
    unlabelled joint — their peaks ``p1``, ``p2`` and argmax joints ``j1``, ``j2``.

    Attributes:
        score_filter, score_thr: keep a joint only where ``(p1 + p2) / 2 > score_thr`` (every
            consistency term).
        score_reweight: weight every term by ``r = clip(1 − |p1 − p2|, 0, 1)``, applied as the
            reference applies it: to the prediction and the target, so ``r²`` on the squared error.
        dist_filter, dist_thr: the auxiliary network's term keeps a joint only where
            ``|j1 − j2|`` (heatmap pixels) is below ``dist_thr`` × the heatmap diagonal.
        dist_reweight: weight the auxiliary term by ``1 − |j1 − j2| / diagonal`` (squared on the
            error, as ``score_reweight``).
        temporal: the temporal correction: per joint, the auxiliary network's target is the
            mean of the pair, among (net 1, net 2) × (now, the previous epoch's model), whose
            joints agree best (from epoch ``temporal_warmup_epochs + 1`` on; before, and
            without it, the mean of the two current networks).
    """

    score_filter: bool = True
    score_thr: float = 0.1
    score_reweight: bool = False
    dist_filter: bool = False
    dist_thr: float = 0.6
    dist_reweight: bool = False
    temporal: bool = True
    temporal_warmup_epochs: int = 0


@dataclass
class ScaleRotation:
    """A random zoom and rotation: ``s = clip(1 + N(0,1)·sf, 1 − sf, 1 + sf)`` and
    ``r = clip(N(0,1)·rf, −2rf, 2rf)`` degrees, kept with probability ``rot_prob`` (0 otherwise).
    :func:`scale_rotation` turns the draws into ``(s, r)``.

    Attributes:
        scale_factor: ``sf``.
        rot_factor: ``rf``, degrees.
        rot_prob: probability of a rotation.
    """

    scale_factor: float = 0.25
    rot_factor: float = 30.0
    rot_prob: float = 0.6


def scale_rotation(z_scale: Any, z_rot: Any, u: Any, p: ScaleRotation) -> tuple[Any, Any]:
    """``(s, r)`` of :class:`ScaleRotation` from standard-normal draws ``z_scale``, ``z_rot``
    and uniform draws ``u`` in [0, 1): numpy arrays (the CPU crops) or torch tensors (the
    hard views on the device), of any shape; the one formula for both."""
    sf, rf = p.scale_factor, p.rot_factor
    s = (z_scale * sf + 1.0).clip(1.0 - sf, 1.0 + sf)
    r = (z_rot * rf).clip(-2.0 * rf, 2.0 * rf) * (u < p.rot_prob)
    return s, r


@dataclass
class TemporalParams:
    """Temporal continuity on unlabelled video frames (``ssl.temporal``;
    :class:`semipose.ssl.video_losses.TemporalLoss`): the loader gives each unlabelled crop the
    frames ``frame_gap`` before and after it, cropped identically, and a joint of the student's
    prediction that moves more than ``epsilon`` pixels (of the network input) between two of
    them is penalised by the excess, where both heatmap peaks reach ``conf_thr``.

    Attributes:
        weight: the term's weight (0: off).
        epsilon: pixels of the network input a joint may move between two frames unpenalised.
        conf_thr: a joint counts where both frames' heatmap maxima reach this.
        frame_gap: frames between the centre frame and each neighbour.
    """

    weight: float = 0.0
    epsilon: float = 8.0
    conf_thr: float = 0.2
    frame_gap: int = 1


@dataclass
class PosePriorParams:
    """A PCA pose prior fitted on the labelled poses (``ssl.pose_prior``;
    :class:`semipose.ssl.video_losses.PosePriorLoss`): the student's prediction on an
    unlabelled crop whose normalised pose lies further than ``epsilon`` from the prior's
    subspace is penalised by the excess.

    Attributes:
        weight: the term's weight (0: off).
        epsilon: reconstruction error allowed unpenalised (units of the pose's RMS spread).
        variance: the share of the labelled poses' variance the kept components explain.
    """

    weight: float = 0.0
    epsilon: float = 0.1
    variance: float = 0.99


#: What a run trains: ``pose`` (keypoints in per-instance crops) or ``finder`` (the instances'
#: anchors on the whole frame: :class:`FinderParams`).
TASKS: tuple[str, ...] = ("pose", "finder")


@dataclass
class FinderParams:
    """The instance finder of a project with several animals per frame (``finder``; ``task:
    finder``): a heatmap network on the downscaled whole frame with one channel, a Gaussian at
    each labelled instance's anchor (the centre of its keypoints' extent); its peaks are the
    instances, each given a fixed-size box (:class:`semipose.detect.centroid.CentroidFinder`).

    Attributes:
        crop: ``[width, height]`` of the box around each anchor, frame pixels (``semipose data
            import`` writes the labelled boxes' 90th percentile); the pose model's padding enlarges it.
        min_distance: two peaks closer than this (frame pixels) are one instance; 0: half the
            crop's short side.
        threshold: peaks below this heatmap value are not instances.
        max_instances: at most this many instances per frame, best first (0: no limit).
    """

    crop: list[float] | None = None
    min_distance: float = 0.0
    threshold: float = 0.2
    max_instances: int = 0


@dataclass
class AugmentConfig(ScaleRotation):
    """Random geometric augmentation of training crops on the CPU (the reference's defaults).

    Attributes (besides :class:`ScaleRotation`'s):
        flip_prob: horizontal flip probability.
        half_body_prob: probability of cropping to the upper or lower body (uniform draw;
            the reference draws a Gaussian, see ``docs/differences.md``).
        half_body_min_joints: half-body only when more labelled joints than this.
    """

    flip_prob: float = 0.5
    half_body_prob: float = 0.0
    half_body_min_joints: int = 8


@dataclass
class HardAffineParams(ScaleRotation):
    """The hard view's random affine on the device (the reference's defaults: rotation with
    probability 0.8); ``s > 1`` samples a larger region of the easy view (content shrinks)."""

    rot_prob: float = 0.8


@dataclass
class AugmentParams:
    """Hyper-parameters of the batch augmentations (plain ints / floats, YAML-friendly).

    Attributes:
        co_holes: CutOut holes per image.
        cm_holes: CutMix holes per image.
        jc_joints: Joint CutOut boxes per image.
        jo_joints: Joint Cut-Occlusion patches per image.
        half_size_min, half_size_max: integer box half-size range in pixels (all box ops).
        jitter: joint-centre jitter standard deviation in pixels (JC, JO).
        mixup_alpha: MixUp Beta concentration.
        mixup_min_lambda: MixUp lower bound of the own-image weight.
        ra_num_ops: RandAugment ops per image.
        ra_magnitude: RandAugment magnitude (0–30).
        fill: hole value for CO / JC in normalised space (0 = mean colour).
        size_relative_to: ``crop`` (the pixel sizes above, made for a person filling a
            256×192 crop: the seeds' configs) or ``instance``: box half sizes and jitter scaled
            per sample by its teacher keypoints' extent over ``instance_extent_px`` (at most 1),
            so a small animal in a whole frame gets holes of its own scale.
        instance_extent_px: the keypoint extent the pixel sizes were chosen for.
    """

    co_holes: int = 5
    cm_holes: int = 2
    jc_joints: int = 5
    jo_joints: int = 2
    half_size_min: int = 10
    half_size_max: int = 19
    jitter: float = 10.0
    mixup_alpha: float = 0.2
    mixup_min_lambda: float = 0.75
    ra_num_ops: int = 2
    ra_magnitude: float = 20.0
    fill: float = 0.0
    size_relative_to: str = "crop"
    instance_extent_px: float = 180.0

    @property
    def half_size(self) -> tuple[int, int]:
        return (int(self.half_size_min), int(self.half_size_max))


#: Augmentation codes of a hard-view recipe (implemented in :mod:`semipose.ssl.recipes`):
#: CutOut, CutMix, MixUp, Joint CutOut, Joint Cut-Occlusion, RandAugment, TrivialAugment, and
#: YOCO over two RA / TA views.
AUGMENT_CODES: tuple[str, ...] = ("CO", "CM", "MU", "JC", "JO", "RA", "TA", "YOCORA", "YOCOTA")
#: Codes that need the teacher's joints.
JOINT_AUGMENTATIONS: frozenset[str] = frozenset({"JC", "JO"})
#: Named combinations, expanded by :func:`parse_recipe`.
COMBOS: dict[str, tuple[str, ...]] = {"JOCO": ("JO", "CO"), "JCCM": ("JC", "CM")}


def parse_recipe(spec: str) -> tuple[str, ...]:
    """Parse an augmentation recipe into its ordered codes.

    Codes are joined with ``+`` (case and surrounding spaces ignored); combos (:data:`COMBOS`)
    are expanded in place; ``""`` or ``"none"`` is the empty recipe.

    Examples:
        ``"JO+CO"`` → ``("JO", "CO")``; ``"JOCO"`` → ``("JO", "CO")``; ``"jc+cm"`` → ``("JC", "CM")``;
        ``"none"`` → ``()``.

    Raises:
        ConfigError: for an unknown code, naming it and listing the known ones.
    """
    text = spec.strip()
    if text == "" or text.lower() == "none":
        return ()
    parts: list[str] = []
    for raw in text.split("+"):
        code = raw.strip().upper()
        if code in AUGMENT_CODES:
            parts.append(code)
        elif code in COMBOS:
            parts.extend(COMBOS[code])
        else:
            known = ", ".join([*AUGMENT_CODES, *COMBOS, "none"])
            raise ConfigError(f"unknown augmentation code {raw.strip()!r} in recipe {spec!r}; known codes: {known}")
    return tuple(parts)
