"""What several commands share: argument types, the trust and reference-checkpoint flags, and
reading a model with them."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["size", "sizes", "trust_flag", "model_flags", "keypoints_arg", "read_model"]


def size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` → ``(W, H)``."""
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 192x256, got {text!r}") from None


def sizes(text: str) -> list[tuple[int, int]]:
    """Comma-separated ``WIDTHxHEIGHT`` values."""
    return [size(t) for t in text.split(",") if t]


def trust_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow checkpoint files that need arbitrary unpickling (this can run code from the file: trusted files only)")


def model_flags(p: argparse.ArgumentParser) -> None:
    """Flags that describe a reference checkpoint (semipose model files describe themselves)."""
    g = p.add_argument_group("reference checkpoints (pose_resnet, pose_hrnet, pose_cons, pose_dual)")
    g.add_argument("--arch", help="resnet18 ... resnet152, hrnet_w32, hrnet_w48 (default: inferred from the tensors)")
    g.add_argument("--keypoints", help="coco17, union24, mpii16, aic14, or a skeleton.json / COCO-format file (default: by head size)")
    g.add_argument("--color", choices=["rgb", "bgr"], help="input channel order the model was trained on (Semi_Human_Pose / MultiAugs: bgr)")
    g.add_argument("--input-size", type=size, help="WIDTHxHEIGHT (default 192x256)")
    trust_flag(p)


def keypoints_arg(args: argparse.Namespace) -> Any:
    """``--keypoints`` read (:func:`semipose.data.cocojson.read_keypoint_set`)."""
    from ..data.cocojson import read_keypoint_set

    return read_keypoint_set(args.keypoints)


def read_model(args: argparse.Namespace, path: Any, *, keypoints: Any = None) -> Any:
    """The model file of ``path`` (a source, or a file already read) with the reference-checkpoint
    flags of ``args`` (one read); ``keypoints`` overrides ``--keypoints``."""
    from ..models.modelfile import read_model

    return read_model(path, trust=args.trust_checkpoint, arch=args.arch, keypoints=keypoints if keypoints is not None else keypoints_arg(args),
                      color=args.color, input_size=args.input_size)
