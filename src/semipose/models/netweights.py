"""Starting networks from earlier weights (``model.init_weights``, ``semipose eval``): a
semipose model file gives each network its own state; a reference checkpoint is read once, its
layout detected once, and mapped to per-network weights through the layout's key maps."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import CheckpointError
from .io import load_checkpoint_file
from .loading import load_weights, normalize_state
from .modelfile import LEGACY_FORMAT, MODEL_FORMAT, ModelFile, model_file_from_contents

__all__ = ["load_nets_weights"]


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
    """Reference files through :func:`~semipose.models.reference.reference_states` (read once,
    layout detected once): ``resnet.*`` is network 1, ``resnet2.*`` network 2, ``final_resnet.*``
    (SSPCM) network 3; a file of as many networks as the run gives each its own, otherwise
    every network gets network 1 (as the reference ``valid.py`` does for one)."""
    from .reference import reference_states

    layout, states = reference_states(normalize_state(raw, str(p)), str(p))
    if not states:
        raise CheckpointError(
            f"{p}: an ImageNet backbone file ({layout}), not the weights of a pose network: give it as model.pretrained "
            "(the backbone the training starts from), not model.init_weights or --checkpoint"
        )
    own = len(states) == len(nets)
    reports = [load_weights(net, states[i] if own else states[0], strict=strict, name=f"{p} network {i + 1 if own else 1}")
               for i, net in enumerate(nets)]
    return f"{p} ({layout or 'plain weights'}: " + "; ".join(str(r) for r in reports) + ")"
