"""Run checkpoints: atomic writes, exact resume, and starting networks from earlier weights.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError
from ..models.io import load_checkpoint_file
from ..models.loading import load_weights
from ..models.modelfile import LEGACY_FORMAT, MODEL_FORMAT, ModelFile, model_file_from_contents, read_model_file

__all__ = ["save_checkpoint", "load_training_state", "load_nets_weights", "capture_rng", "restore_rng"]


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
    mf = read_model_file(path, trust=trust)
    if mf.train_state is None:
        what = "a semipose 0.1 checkpoint (resume it with the release that wrote it)" if mf.kind == "legacy" else (
            "a model file without training state (best.pt holds the model only); resume from the run's checkpoints/last.pt"
            if mf.kind == "model" else f"a {mf.kind} checkpoint, not a semipose run")
        raise CheckpointError(f"{mf.path}: cannot resume from it: {what}")
    return mf


def load_nets_weights(nets: Sequence[nn.Module], source: str | os.PathLike[str] | ModelFile, *, strict: bool = True, trust: bool = False) -> str:
    """Initialise one or more networks from a checkpoint (strict).

    A semipose model file gives network ``i`` its own weights when it holds as many networks as
    ``nets``; a one-network file (or a plain state_dict / reference ``pose_resnet`` /
    ``pose_hrnet`` / ``pose_cons`` file) initialises every network with the same weights; a
    two-network file (or a reference ``pose_dual`` / SSPCM ``pose_triple`` file) gives a single
    network its network 1.

    Args:
        nets: the networks.
        source: a checkpoint path (read safely unless ``trust``), or what
            :func:`~semipose.models.modelfile.read_model_file` returned for it.

    Returns:
        A one-line description of what was loaded.
    """
    if isinstance(source, ModelFile):
        mf = source
    else:
        raw = load_checkpoint_file(source, trust=trust)
        if isinstance(raw, dict) and raw.get("format") in (MODEL_FORMAT, LEGACY_FORMAT):
            mf = model_file_from_contents(Path(source), raw)
        else:
            return _load_reference(list(nets), Path(source), raw, strict)
    p, states = mf.path, mf.states
    epoch = (mf.card.source or {}).get("epoch", "?")
    if len(states) == len(nets):
        for i, (net, sd) in enumerate(zip(nets, states)):
            load_weights(net, sd, strict=strict, name=f"{p} network {i + 1}")
        return f"{p} (semipose model, epoch {epoch}, {len(states)} network(s))"
    if len(states) != 1 and len(nets) != 1:
        raise CheckpointError(f"{p}: holds {len(states)} networks, the run has {len(nets)}")
    for net in nets:
        load_weights(net, states[0], strict=strict, name=str(p))
    what = "network 1 of 2" if len(states) > 1 else f"one network for all {len(nets)}"
    return f"{p} (semipose model, epoch {epoch}, {what})"


def _load_reference(nets: list[nn.Module], p: Path, raw: Any, strict: bool) -> str:
    """Reference wrapper files: ``resnet.*`` is network 1, ``resnet2.*`` network 2,
    ``final_resnet.*`` (SSPCM) network 3."""
    from ..models.loading import normalize_state
    from ..models.reference import IMAGENET_LAYOUTS, POSE_LAYOUT_KEY_MAPS, WRAPPED_LAYOUTS, detect_checkpoint_layout, load_pose_checkpoint

    state = normalize_state(raw, str(p))
    try:
        layout: str | None = detect_checkpoint_layout(state)
    except CheckpointError:
        layout = None  # plain weights; load_weights below reports any mismatch
    if layout in IMAGENET_LAYOUTS:
        raise CheckpointError(
            f"{p}: an ImageNet backbone file ({layout}), not the weights of a pose network: give it as model.pretrained "
            "(the backbone the training starts from), not model.init_weights or --checkpoint"
        )
    if layout in WRAPPED_LAYOUTS:
        n_file = len(POSE_LAYOUT_KEY_MAPS[layout])
        if len(nets) == n_file:
            reports = load_pose_checkpoint(nets, state, strict=strict, name=str(p))
        else:
            reports = [load_pose_checkpoint(net, state, strict=strict, name=str(p))[0] for net in nets]
        return f"{p} ({layout}: " + "; ".join(str(r) for r in reports) + ")"
    for net in nets:
        report = load_weights(net, state, strict=strict, name=str(p))
    return f"{p} ({report})"
