"""The training config ``semipose data import`` writes for an imported project (``OUT/config.yaml``).

One place for the defaults of a labelling tool's project (single instance per frame, whole-frame
crops, keypoints of the user's own):

* **crops**: the whole frame at its aspect, the long side :data:`LONG_SIDE` px, both sides
  multiples of 32 (the networks' stride); for a project with several animals per frame, one
  crop per labelled instance (its box from its keypoints), enlarged by :data:`INSTANCE_PADDING`,
  the input at the median box's aspect with its long side the median box's (× the padding)
  rounded up to 32, within 64 and :data:`LONG_SIDE` (two 95-px flies of a 1024-px frame stay
  about 95 px, not 24);
* **flips**: off unless the keypoint set names flip pairs — a mirrored frame with unswapped
  names puts a left paw's label on what looks like a right paw (DeepLabCut's default,
  ``fliplr: false``, for the same reason);
* **network**: ResNet-50 from its ImageNet backbone (``model.pretrained: imagenet``);
* **schedule**: :data:`STEPS` optimiser steps (``train.max_steps``), the LR divided by 10 at
  75 %: the same whatever the set sizes;
* **method**: supervised, also when videos are given: no semi-supervised method met the rule
  written before the mirror-mouse study for becoming the default (docs/results.md, "mirror-mouse").
  The videos are configured, and ``ssl.method: posecons`` (MultiAugs' JOCO + JCCM paths preset)
  switches one on; the EMA teacher line is the one the config header names;
* **the instance finder** (several animals per frame: ``finder.yaml``, :func:`finder_config`):
  ResNet-18 from ImageNet on the whole frame (long side :data:`LONG_SIDE`), four deconvolution
  layers (heatmap stride 2: anchors of touching animals stay apart), flips on (an anchor has no
  side), boxes of the labelled boxes' median size around each anchor (``finder.crop``), the
  same schedule;
* **hard views** (when a semi-supervised method is switched on): the pixel sizes of the seeds'
  person crops (``ssl.augment.size_relative_to: crop``), chosen by the same study's rule
  (docs/results.md); ``instance`` stays one line away for instances much smaller than the frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["LONG_SIDE", "STEPS", "INSTANCE_PADDING", "instance_input_size", "project_config", "project_input_size",
           "render_project_config", "config_header", "finder_config", "finder_header"]

#: the long side of the network input for whole-frame crops, px
LONG_SIDE = 256
#: optimiser steps of an imported project's training
STEPS = 2000
#: how much an instance's crop enlarges its keypoint box (several animals per frame)
INSTANCE_PADDING = 1.25


def project_input_size(width: float, height: float, long_side: int = LONG_SIDE) -> tuple[int, int]:
    """``(W, H)`` of the network input for whole frames of ``width`` × ``height``: the frames'
    aspect, the long side ``long_side``, both sides multiples of 32 (at least 64)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    s = long_side / max(width, height)
    return tuple(max(64, 32 * round(v * s / 32)) for v in (width, height))  # type: ignore[return-value]


def instance_input_size(box_width: float, box_height: float) -> tuple[int, int]:
    """``(W, H)`` of the network input for crops of instances whose median box is ``box_width`` ×
    ``box_height`` (see the module docstring)."""
    long = max(box_width, box_height) * INSTANCE_PADDING
    side = min(LONG_SIDE, max(64, 32 * math.ceil(long / 32)))
    return project_input_size(max(box_width, 1.0), max(box_height, 1.0), side)


def project_config(root: str, *, name: str, frame_size: tuple[int, int], flip_pairs: bool, videos: Sequence[str] = (),
                   train_file: str = "train.json", val_file: str = "val.json",
                   instance_box: tuple[float, float] | None = None) -> dict[str, Any]:
    """The config of an imported project as plain data (see the module docstring).

    Args:
        root: the import's folder (``data.root``).
        name: the run name.
        frame_size: ``(width, height)`` of the frames (the most common size).
        flip_pairs: whether the keypoint set names flip pairs (flips stay off otherwise).
        videos: unlabelled videos or folders (``data.unlabeled.videos``), ready for a
            semi-supervised method (the method stays supervised, see the module docstring).
        train_file, val_file: the label files under ``root``.
        instance_box: the median ``(width, height)`` of the instances' boxes, for a project with
            several animals per frame (one crop each); None: whole frames.
    """
    steps = STEPS
    data: dict[str, Any] = {
        "root": root,
        "train": {"ann_file": train_file, "image_dir": "images"},
        "val": {"ann_file": val_file, "image_dir": "images"},
        "skeleton": None,
        "input_size": list(instance_input_size(*instance_box) if instance_box else project_input_size(*frame_size)),
        "sigma": 2.0,
        "padding": INSTANCE_PADDING if instance_box else 1.0,
        "augment": {"flip_prob": 0.5 if flip_pairs else 0.0, "rot_prob": 0.3},
        "workers": 2,
    }
    if videos:
        data["unlabeled"] = {"videos": list(videos), "frame_stride": 5}
    return {
        "name": name,
        "seed": 0,
        "output_dir": "runs",
        "data": data,
        "model": {"arch": "resnet50", "pretrained": "imagenet"},
        "train": {"batch_size": 8, "unlabeled_batch_size": 8, "lr": 1.0e-3, "max_steps": steps, "max_iters_per_epoch": 100,
                  "lr_step_iters": [steps * 3 // 4], "precision": "auto", "log_every": 20},
        "eval": {"batch_size": 32, "precision": "auto", "num_vis_images": 8},
        "ssl": {"method": "supervised", "paths": ["JOCO", "JCCM"],
                "augment": {"size_relative_to": "crop"}},
    }


def render_project_config(cfg: dict[str, Any], header: Sequence[str]) -> str:
    """YAML text of :func:`project_config`'s dict with ``header`` as comment lines on top."""
    import yaml

    return "".join(f"# {line}\n" if line else "#\n" for line in header) + yaml.safe_dump(cfg, sort_keys=False)


def config_header(source: str, path: object, videos: bool) -> list[str]:
    """The comment lines on top of an imported project's ``config.yaml``: where it came from, how
    to train it, and how to switch the semi-supervised line on (the numbers: docs/results.md)."""
    return [
        f"written by `semipose data import` from {source}; train with:", f"  semipose train {path}",
        "defaults for an imported project and why: semipose.config.project, docs/usage.md",
        "trains supervised by default (the study's rule and numbers: docs/results.md, mirror-mouse); a semi-supervised method",
        "on unlabelled videos (MultiAugs with the EMA teacher, the study's best line at 10 labels):",
        "  semipose train config.yaml ssl.method=posecons ssl.teacher=ema ssl.select=ema"
        + ("" if videos else " data.unlabeled.videos=[path/to/videos]"),
        "or the video-native terms: ssl.temporal.weight=1e-4 ssl.pose_prior.weight=1e-3 (on mirror-mouse at 10 labels they made",
        "the median error 7.3 px worse, paired 95 % interval +5.0 to +10.3: supervised stays the default). Whether a line helps on",
        "this project, with error bars (docs/results.md, \"Does the unlabelled video help?\"):",
        f"  semipose compare {path} --methods supervised,multiaugs-ema,video --budgets 10,all --out runs/compare",
    ]


def finder_config(root: str, *, name: str, frame_size: tuple[int, int], crop: tuple[float, float],
                  train_file: str = "train.json", val_file: str = "val.json") -> dict[str, Any]:
    """The instance finder's config of a project with several animals per frame (see the module
    docstring): ``task: finder`` on whole frames of ``frame_size``, boxes of ``crop`` (frame pixels)
    around the anchors it finds."""
    return {
        "name": name,
        "seed": 0,
        "output_dir": "runs",
        "task": "finder",
        "data": {
            "root": root,
            "train": {"ann_file": train_file, "image_dir": "images"},
            "val": {"ann_file": val_file, "image_dir": "images"},
            "skeleton": None,
            "input_size": list(project_input_size(*frame_size)),
            "sigma": 2.0,
            "augment": {"flip_prob": 0.5, "rot_prob": 0.3},
            "workers": 2,
        },
        "model": {"arch": "resnet18", "pretrained": "imagenet", "deconv_filters": [128] * 4, "deconv_kernels": [4] * 4},
        "train": {"batch_size": 8, "lr": 1.0e-3, "max_steps": STEPS, "max_iters_per_epoch": 100,
                  "lr_step_iters": [STEPS * 3 // 4], "precision": "auto", "log_every": 20},
        "eval": {"batch_size": 8, "precision": "auto", "num_vis_images": 8},
        "finder": {"crop": [round(float(crop[0]), 1), round(float(crop[1]), 1)], "min_distance": 0.0, "threshold": 0.2},
    }


def finder_header(source: str, path: object, pose_path: object) -> list[str]:
    """The comment lines on top of ``finder.yaml``: what it is, how to train it and use it."""
    return [
        f"written by `semipose data import` from {source}: the instance finder of a project with several animals per frame",
        "(a heatmap of every animal's anchor on the whole frame; each peak gets a box of finder.crop pixels). Train with:",
        f"  semipose train {path}",
        f"and the pose model with  semipose train {pose_path}  then, on a video (instances tracked through it):",
        "  semipose predict runs/<pose run>/checkpoints/best.pt VIDEO --detector runs/<finder run>/checkpoints/best.pt",
        "defaults and why: semipose.config.project; the numbers: docs/results.md, \"Several animals in a frame\"",
    ]
