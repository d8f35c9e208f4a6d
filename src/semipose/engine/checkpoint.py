"""Run checkpoints: atomic writes and exact resume (the run state; starting networks from
earlier weights is :func:`semipose.models.netweights.load_nets_weights`).

A run writes two files, both semipose model files (:mod:`semipose.models.modelfile`, readable
with ``torch.load(weights_only=True)``):

* ``checkpoints/best.pt`` — the weights of every network and the model card: what ``semipose
  eval``, ``semipose predict``, ``semipose export`` and :class:`semipose.PoseEstimator` read.
  About the size of the weights.
* ``checkpoints/last.pt`` — the same plus ``train_state`` (optimizer, scheduler, AMP scaler,
  RNG states, counters): the exact resume point, rewritten every epoch.

Every non-tensor value is a plain container (the numpy RNG state is stored as a list), so
nothing needs arbitrary unpickling.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError
from ..models.modelfile import ModelFile, read_model

__all__ = ["save_checkpoint", "load_training_state", "capture_rng", "restore_rng"]


def capture_rng() -> dict[str, Any]:
    """The global RNG states (python, numpy, torch CPU, CUDA) as plain containers and tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.int64).astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` atomically (a ``.tmp`` beside it, then a rename): a crash never leaves
    a torn file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(dict(payload), tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # disk full shows as torch's "unexpected pos" RuntimeError
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "strerror", None) or str(e).splitlines()[0][:160]
        raise CheckpointError(f"{path}: cannot write the checkpoint ({reason}); is the disk full or the folder read-only? "
                              f"{'the previous ' + path.name + ' is intact' if path.exists() else 'nothing was written'}") from None
    return path


def load_training_state(path: str | os.PathLike[str], *, trust: bool = False) -> ModelFile:
    """Read a run's ``last.pt`` for resuming: the model file with its ``train_state``.

    Raises:
        CheckpointError: the file is not a semipose checkpoint with a training state (e.g. a
            ``best.pt``, which holds the model only).
    """
    mf = read_model(path, trust=trust)
    if mf.train_state is None:
        what = "a semipose 0.1 checkpoint (resume it with the release that wrote it)" if mf.kind == "legacy" else (
            "a model file without training state (best.pt holds the model only); resume from the run's checkpoints/last.pt"
            if mf.kind == "model" else f"a {mf.layout} checkpoint, not a semipose run")
        raise CheckpointError(f"{mf.path}: cannot resume from it: {what}")
    return mf


