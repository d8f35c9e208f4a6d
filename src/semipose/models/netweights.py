"""Starting networks from earlier weights (``model.init_weights``, ``semipose eval``): the file
is read once by :func:`~semipose.models.reader.read_weights` (its layout detected once), or
given as the :class:`~semipose.models.reader.ModelFile` already read; a
semipose model file gives each network its own state, a reference checkpoint its networks
mapped through the layout's key maps."""

from __future__ import annotations

import os
from collections.abc import Sequence

from torch import nn

from ..errors import CheckpointError
from .loading import load_weights
from .reader import ModelFile, read_weights

__all__ = ["load_nets_weights"]


def load_nets_weights(nets: Sequence[nn.Module], source: str | os.PathLike[str] | ModelFile, *, strict: bool = True,
                      trust: bool = False) -> str:
    """Initialise one or more networks from a checkpoint (strict).

    A semipose model file gives network ``i`` its own weights when it holds as many networks as
    ``nets``; a one-network file initialises every network with the same weights; a
    two-network file gives a single network its network 1. A reference file (``pose_resnet``,
    ``pose_hrnet``, ``pose_cons``, ``pose_dual``, SSPCM ``pose_triple``, or plain weights)
    gives each network its own when it holds as many, otherwise every network its network 1
    (as the reference ``valid.py`` does).

    Args:
        nets: the networks.
        source: a model source, read once (safely unless ``trust``), or a :class:`ModelFile`
            already read. An ImageNet backbone or an ONNX export is one line saying where it goes.

    Returns:
        A one-line description of what was loaded.
    """
    mf = source if isinstance(source, ModelFile) else read_weights(source, trust=trust)
    p, states, kind, layout = mf.path, mf.states, mf.kind, mf.layout
    if kind == "imagenet":
        raise CheckpointError(
            f"{p}: an ImageNet backbone file ({layout}), not the weights of a pose network: give it as model.pretrained "
            "(the backbone the training starts from), not model.init_weights or --checkpoint"
        )
    if kind == "onnx":
        raise CheckpointError(f"{p}: an ONNX export: starting or evaluating networks needs the .pt model file it was exported from")
    epoch = ((mf.card.source if mf.card is not None else None) or {}).get("epoch", "?")
    nets = list(nets)
    if kind not in ("model", "legacy"):
        own = len(states) == len(nets)
        reports = [load_weights(net, states[i] if own else states[0], strict=strict, name=f"{p} network {i + 1 if own else 1}")
                   for i, net in enumerate(nets)]
        return f"{p} ({layout}: " + "; ".join(str(r) for r in reports) + ")"
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
