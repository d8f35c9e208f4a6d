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

__all__ = ["FORMAT", "save_checkpoint", "load_training_state", "load_model_weights", "capture_rng", "restore_rng"]

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


def load_training_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a semipose training checkpoint (for resuming)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - report any unpickling failure with the file name
        raise CheckpointError(f"{p}: cannot read checkpoint ({e})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a semipose training checkpoint (cannot resume from it)")
    return ckpt


def load_model_weights(model: nn.Module, path: str | os.PathLike[str], *, strict: bool = True) -> str:
    """Load network weights from a semipose checkpoint or a bare/wrapped ``state_dict`` file.

    Returns:
        A one-line description of what was loaded.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{p}: cannot read checkpoint ({e})") from e
    if isinstance(raw, dict) and raw.get("format") == FORMAT:
        load_weights(model, raw["model"], strict=strict)
        return f"{p} (semipose checkpoint, epoch {raw.get('epoch', '?')})"
    report = load_weights(model, raw, strict=strict, name=str(p))  # unwraps; errors name the file
    return f"{p} ({report})"
