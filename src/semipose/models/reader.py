"""The one reader: a model source → a local file → what it holds, read once, its layout detected once.

Every place that takes a model or weights file (``predict``, ``eval --checkpoint``, ``export``,
``PoseEstimator.from_file``, ``model.init_weights``, ``model.pretrained``) calls one function,
:func:`semipose.models.modelfile.read_model`, which reads the file here (:func:`read_weights`:
resolved, read once, normalised once, its layout detected once) and completes the card of a
reference file from its tensors and the flags. Both give the one record of a read file,
:class:`ModelFile`:

=============  =====================================================  =================================
``kind``       the file                                               ``card`` / ``states``
=============  =====================================================  =================================
``model``      a semipose model file (``best.pt``, ``last.pt``,       stored card; one state per network
               an exported ``model.pt``)
``legacy``     a semipose 0.1 training checkpoint (needs ``trust``)   card from its config; its networks
``reference``  a reference pose checkpoint (``pose_resnet``,          None (described by flags, see
               ``pose_hrnet``, ``pose_cons``, ``pose_dual``, SSPCM    :func:`~.modelfile.read_model`);
               ``pose_triple``; ``plain`` for keys of no layout)      network 1, 2 … in semipose keys
``imagenet``   an ImageNet backbone (``torchvision_resnet``,          None (no keypoints); the file's
               ``hrnet_imagenet``, ``pose_dual_imagenet``)            one state, in the file's keys
``onnx``       an ``.onnx`` export                                    the card in its metadata; none
=============  =====================================================  =================================
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from .._version import __version__
from ..errors import CheckpointError
from ..hub import resolve_source
from ..params import net_key
from ..skeletons import Skeleton
from .card import LEGACY_FORMAT, MODEL_FORMAT, MODEL_FORMAT_VERSION, ModelCard
from .io import load_checkpoint_file

__all__ = ["KINDS", "ONNX_CARD_KEY", "ModelFile", "WeightsFile", "read_weights", "onnx_card"]

KINDS: tuple[str, ...] = ("model", "legacy", "reference", "imagenet", "onnx")
#: ONNX metadata key holding the model card JSON (written by ``semipose export``).
ONNX_CARD_KEY = "semipose_card"


@dataclass
class ModelFile:
    """A model or weights file, read (see the module docstring for each ``kind``).

    Attributes:
        path: the local file.
        kind: one of :data:`KINDS`.
        layout: ``model``, ``legacy``, ``onnx``, or the reference / ImageNet layout detected
            (``pose_resnet`` …, ``torchvision_resnet`` …; ``plain`` for unknown keys).
        states: the networks' state_dicts, in the model's own key names (``imagenet``: the
            file's state; ``onnx``: none).
        card: the model card: stored, or (reference files, after
            :func:`~semipose.models.modelfile.read_model`) built from the tensors and the flags;
            None for an ImageNet backbone.
        train_state: a run's resumable state (``last.pt``), else None.
        problem: ``plain`` files: why the keys fit no layout (the detection's message, kept so
            that it is not detected again).
    """

    path: Path
    kind: str
    layout: str
    states: list[dict[str, Tensor]] = field(default_factory=list)
    card: ModelCard | None = None
    train_state: dict[str, Any] | None = None
    problem: str = ""

    @property
    def model_card(self) -> ModelCard:
        """:attr:`card`, which a pose model always has (after :func:`~semipose.models.modelfile.read_model`).

        Raises:
            CheckpointError: an ImageNet backbone, or a reference file not yet described.
        """
        if self.card is None:
            raise CheckpointError(f"{self.path}: a {self.kind} file ({self.layout}) has no model card")
        return self.card

    def build_nets(self, device: Any = "cpu") -> list[nn.Module]:
        """The networks with their weights, in eval mode, on ``device`` (loading is strict).

        Raises:
            CheckpointError: the file has no card (an ImageNet backbone) or no weights (ONNX).
        """
        from .loading import load_weights

        card = self.model_card
        if not self.states:
            raise CheckpointError(f"{self.path}: a {self.kind} file ({self.layout}) holds no weights to build networks from")
        nets = []
        for i, sd in enumerate(self.states):
            net = card.build_net()
            load_weights(net, sd, strict=True, name=f"{self.path} network {i + 1}")
            nets.append(net.to(device).eval())
        return nets


#: the name of :class:`ModelFile` in semipose 0.4 (the same record)
WeightsFile = ModelFile


def onnx_card(p: Path) -> ModelCard:
    """The model card stored in an ONNX export's metadata (``use`` = its one network; the
    exported choice in ``source.exported_network``)."""
    import importlib.util


    if importlib.util.find_spec("onnx") is None:
        raise CheckpointError(f"{p}: reading ONNX files needs onnx: pip install 'semipose[onnx]'")
    import onnx

    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises its own types
        raise CheckpointError(f"{p}: not a readable ONNX model ({str(e).splitlines()[0][:200] if str(e) else type(e).__name__})") from None
    meta = {m.key: m.value for m in model.metadata_props}
    if ONNX_CARD_KEY not in meta:
        raise CheckpointError(f"{p}: an ONNX model without a semipose model card (export it with `semipose export`)")
    try:
        card = json.loads(meta[ONNX_CARD_KEY])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{p}: malformed model card in the ONNX metadata ({e.msg})") from None
    if not isinstance(card, dict):
        raise CheckpointError(f"{p}: malformed model card in the ONNX metadata (not an object)")
    exported = (card.get("source") or {}).get("exported_network", net_key(0))
    out = ModelCard.from_dict({**card, "use": net_key(0)}, str(p))
    out.source = {**out.source, "exported_network": exported}
    return out


def read_weights(source: str | os.PathLike[str], *, trust: bool = False) -> ModelFile:
    """Resolve a model source and read it once (see the module docstring); a reference file's
    card is left for :func:`~semipose.models.modelfile.read_model` to build.

    Args:
        source: a local path, an ``http(s)://`` URL, ``hf://OWNER/REPO/PATH[@REV]`` or a name
            ``semipose models`` lists (:func:`semipose.hub.resolve_source`).
        trust: allow files that need arbitrary unpickling.

    Raises:
        MissingFileError, DownloadError, UnsafeCheckpointError, CheckpointError: one line
            naming the file and the problem.
    """
    from .loading import normalize_state
    from .reference import IMAGENET_LAYOUTS, reference_states

    p = resolve_source(source)
    where = str(p)
    if p.suffix.lower() == ".onnx":
        return ModelFile(p, "onnx", "onnx", [], onnx_card(p))
    raw = load_checkpoint_file(p, trust=trust)
    if isinstance(raw, dict) and raw.get("format") == MODEL_FORMAT:
        version = raw.get("format_version")
        if not isinstance(version, int) or version > MODEL_FORMAT_VERSION:
            raise CheckpointError(
                f"{where}: model file format version {version!r}; this semipose ({__version__}) reads up to {MODEL_FORMAT_VERSION}: "
                "upgrade semipose"
            )
        card = ModelCard.from_dict(raw.get("card"), where)  # type: ignore[arg-type]
        states = raw.get("nets")
        if not isinstance(states, list) or len(states) != card.num_nets or not all(isinstance(s, dict) for s in states):
            raise CheckpointError(f"{where}: the card describes {card.num_nets} network(s) but 'nets' does not hold as many state_dicts")
        return ModelFile(p, "model", "model", [dict(s) for s in states], card, raw.get("train_state"))
    if isinstance(raw, dict) and raw.get("format") == LEGACY_FORMAT:
        try:
            card = ModelCard.from_config_dict(raw["config"], Skeleton.from_dict(raw["skeleton"]),
                                              source={"file": where, "epoch": raw.get("epoch")})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(f"{where}: semipose 0.1 checkpoint without a usable config or skeleton ({type(e).__name__}: {e})") from None
        return ModelFile(p, "legacy", "legacy", [dict(s) for s in raw.get("nets") or [raw["model"]]], card)
    if isinstance(raw, nn.Module):
        raise CheckpointError(f"{where}: holds a pickled module, not weights")
    state = normalize_state(raw, where)
    layout, states, problem = reference_states(state, where)
    if layout in IMAGENET_LAYOUTS:
        return ModelFile(p, "imagenet", layout, [state])
    return ModelFile(p, "reference", layout or "plain", states, problem=problem)
