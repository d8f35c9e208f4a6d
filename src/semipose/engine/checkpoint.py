"""Training checkpoints: atomic writes, exact resume, and loading weights for evaluation.

A semipose checkpoint is a dict with ``format == "semipose"``; it carries the model
``state_dict`` under ``model`` plus the optimizer, scheduler, AMP scaler, RNG states, epoch
counters, the resolved config and the skeleton — everything needed to resume a run exactly
at an epoch boundary, or to evaluate it without the original config.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from ..models.weights import CheckpointError, load_weights

__all__ = ["FORMAT", "save_checkpoint", "load_training_state", "load_nets_weights", "read_checkpoint_file", "count_nets", "capture_rng", "restore_rng"]

FORMAT = "semipose"


def capture_rng() -> dict[str, Any]:
    """The global RNG states (python, numpy, torch CPU, CUDA)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` (plus the format tag) atomically: a crash never leaves a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **payload}, tmp)
    os.replace(tmp, path)
    return path


def _read(path: str | os.PathLike[str]) -> tuple[Path, Any]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    try:
        return p, torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - report any unpickling failure with the file name
        raise CheckpointError(f"{p}: cannot read checkpoint ({e})") from e


def load_training_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a semipose training checkpoint (for resuming)."""
    p, ckpt = _read(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a semipose training checkpoint (cannot resume from it)")
    return ckpt


def read_checkpoint_file(path: str | os.PathLike[str]) -> tuple[Path, Any]:
    """``(path, contents)`` of a checkpoint file; errors name the file."""
    return _read(path)


def count_nets(raw: Any) -> int:
    """How many networks checkpoint contents hold: 2 for a PoseDual run or a reference
    ``pose_dual`` file, else 1."""
    from ..models.weights import detect_checkpoint_layout

    if isinstance(raw, dict) and isinstance(raw.get("nets"), list):
        return len(raw["nets"])
    try:
        return 2 if detect_checkpoint_layout(raw) == "pose_dual" else 1
    except CheckpointError:
        return 1


def load_nets_weights(
    nets: list[nn.Module], source: str | os.PathLike[str] | tuple[Path, Any], *, strict: bool = True
) -> str:
    """Initialise one or more networks from a checkpoint (strict).

    A semipose checkpoint with ``nets`` gives network ``i`` its own weights when it holds as
    many networks as ``nets``; a one-network checkpoint (or a state_dict file) initialises
    every network with the same weights.

    Args:
        nets: the networks.
        source: a checkpoint path, or what :func:`read_checkpoint_file` returned for it (so a
            caller that inspected the file does not read it twice).

    Returns:
        A one-line description of what was loaded.
    """
    p, raw = source if isinstance(source, tuple) else _read(source)
    if isinstance(raw, dict) and raw.get("format") == FORMAT:
        states = raw.get("nets") or [raw["model"]]
        if len(states) == len(nets):
            for i, (net, sd) in enumerate(zip(nets, states)):
                load_weights(net, sd, strict=strict, name=f"{p} network {i + 1}")
            return f"{p} (semipose checkpoint, epoch {raw.get('epoch', '?')}, {len(states)} network(s))"
        if len(states) != 1 and len(nets) != 1:
            raise CheckpointError(f"{p}: holds {len(states)} networks, the run has {len(nets)}")
        for net in nets:
            load_weights(net, states[0], strict=strict, name=str(p))
        what = "network 1 of 2" if len(states) > 1 else f"one network for all {len(nets)}"
        return f"{p} (semipose checkpoint, epoch {raw.get('epoch', '?')}, {what})"
    from ..models.weights import detect_checkpoint_layout, load_pose_checkpoint

    try:
        layout: str | None = detect_checkpoint_layout(raw)
    except CheckpointError:
        layout = None  # plain weights; load_weights below reports any mismatch
    if layout in ("pose_cons", "pose_dual"):
        # reference wrapper files: resnet.* is network 1, resnet2.* network 2
        n_file = 2 if layout == "pose_dual" else 1
        if len(nets) == n_file:
            reports = load_pose_checkpoint(list(nets), raw, strict=strict, name=str(p))
        else:
            reports = [load_pose_checkpoint(net, raw, strict=strict, name=str(p))[0] for net in nets]
        return f"{p} ({layout}: " + "; ".join(str(r) for r in reports) + ")"
    for net in nets:
        report = load_weights(net, raw, strict=strict, name=str(p))
    return f"{p} ({report})"
