"""ONNX export and an onnxruntime backend for :class:`~semipose.predict.estimator.PoseEstimator`.

The exported graph maps ``image (batch, 3, H, W)`` float32 (normalised as the card says) to
``heatmaps (batch, K, h, w)``; the batch dimension is dynamic. The model card (JSON) is stored
in the ONNX metadata under ``semipose_card``, so an ``.onnx`` file describes itself like a
``.pt`` model file and runs through the same pre- and post-processing.

Needs the optional dependencies: ``pip install semipose[onnx]`` (onnx, onnxscript,
onnxruntime).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..detect.base import require_onnx
from ..errors import CheckpointError, MissingFileError
from ..models.modelfile import ModelCard, ModelFile
from ..models.reader import ONNX_CARD_KEY, onnx_card
from ..params import net_key
from ..threads import ensure_threads

__all__ = ["CARD_KEY", "export_onnx", "OnnxBackend", "require_onnx", "check_export"]

#: ONNX metadata key holding the model card JSON (defined with the reader that reads it).
CARD_KEY = ONNX_CARD_KEY
#: the oldest opset the networks export to (Resize and ConvTranspose as the graphs use them)
MIN_OPSET = 11


def export_onnx(mf: ModelFile, out: str | os.PathLike[str], *, net: str | None = None, opset: int = 18) -> tuple[Path, ModelCard]:
    """Export one network of a model file (or the ensemble of its networks) to ONNX.

    Args:
        mf: what :func:`~semipose.models.modelfile.read_model` returned.
        out: the ``.onnx`` file to write.
        net: ``net1``, ``net2`` … or ``ensemble`` (default: the card's ``use``).
        opset: ONNX opset.

    Returns:
        ``(path, card)``: the file and the card stored in it (``use`` = the exported choice).
    """
    require_onnx("onnx")
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise CheckpointError(f"--opset {opset}: the export needs an ONNX opset from {MIN_OPSET} to {newest} (default 18)")
    use = net or mf.model_card.use
    module = mf.model_card.predictor(mf.build_nets("cpu"), use).eval()
    card = mf.model_card.with_use(use, str(mf.path))
    w, h = card.input_size
    x = torch.zeros(2, 3, h, w)
    final = Path(out)
    final.parent.mkdir(parents=True, exist_ok=True)
    out = final.with_name(final.name + ".part")  # renamed only once written, checked and carrying its card
    try:
        _export_graph(module, x, out, opset)
        model = onnx.load(str(out))
        onnx.checker.check_model(model)
        meta = {p.key: p for p in model.metadata_props}
        entry = meta.get(CARD_KEY) or model.metadata_props.add()
        entry.key, entry.value = CARD_KEY, json.dumps(_card_for_onnx(card))
        model.producer_name = "semipose"
        onnx.save(model, str(out))
        os.replace(out, final)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - the exporters and onnx raise many types; nothing half-written is left
        raise CheckpointError(f"{final}: ONNX export failed at opset {opset} ({str(e).strip().splitlines()[0][:200]}); nothing written") from None
    finally:
        out.unlink(missing_ok=True)
    return final, card


def _export_graph(module: torch.nn.Module, x: torch.Tensor, out: Path, opset: int) -> None:
    """Write ``module``'s graph (dynamic batch) to ``out``, quietly."""
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the exporters' progress lines and registry warnings
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            try:  # the TorchScript exporter: ~10x faster here for HRNet, dynamic batch through dynamic_axes
                torch.onnx.export(
                    module, (x,), str(out), dynamo=False, input_names=["image"], output_names=["heatmaps"],
                    dynamic_axes={"image": {0: "batch"}, "heatmaps": {0: "batch"}}, opset_version=opset,
                )
            except Exception:  # noqa: BLE001 - a torch without it: the dynamo exporter
                batch = torch.export.Dim("batch", min=1, max=4096)
                torch.onnx.export(
                    module, (x,), str(out), dynamo=True, input_names=["image"], output_names=["heatmaps"],
                    dynamic_shapes=({0: batch},), opset_version=opset,
                )
    finally:
        quiet.setLevel(level)


def _card_for_onnx(card: ModelCard) -> dict[str, Any]:
    d = card.to_dict()
    d["num_nets"], d["use"] = 1, net_key(0)  # the graph is the chosen network (or the ensemble)
    d["source"] = {**d.get("source", {}), "exported_network": card.use}
    return d


class OnnxBackend:
    """An ``.onnx`` export run through onnxruntime: torch ``(N, 3, H, W)`` in, torch
    heatmaps out (on the estimator's device), with the card read from the metadata."""

    def __init__(self, path: str | os.PathLike[str], device: torch.device = torch.device("cpu"), card: ModelCard | None = None) -> None:
        require_onnx("onnxruntime")
        import onnxruntime as ort

        p = Path(path)
        if not p.is_file():
            raise MissingFileError(f"{p}: model file not found")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" else ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        # onnxruntime keeps its own pool: size it as the thread governor sizes torch's, and let
        # idle threads sleep rather than spin on a core another process needs
        opts.intra_op_num_threads = ensure_threads().threads or 0
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(p), sess_options=opts, providers=[x for x in providers if x in ort.get_available_providers()])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types
            raise CheckpointError(f"{p}: not a readable ONNX model ({str(e).splitlines()[0][:200]})") from None
        # the card: as read_weights read it, else from the metadata (the one card parser)
        self.card = card if card is not None else onnx_card(p)
        exported = str(self.card.source.get("exported_network", net_key(0)))
        self.exported = exported
        self.device = device
        self.path = p
        self.input_name = self.session.get_inputs()[0].name
        self._check_graph()

    def _check_graph(self) -> None:
        """The card must describe the graph: input ``(N, 3, H, W)`` at the card's input size,
        output ``(N, K, h, w)`` with the card's keypoints (dimensions the graph leaves open
        are not checked)."""
        w, h = self.card.input_size
        assert self.card.heatmap_size is not None  # set by the card
        hw, hh = self.card.heatmap_size
        want = {"input": (self.session.get_inputs()[0], (3, h, w)), "output": (self.session.get_outputs()[0], (self.card.num_keypoints, hh, hw))}
        for what, (arg, dims) in want.items():
            shape = list(arg.shape)
            if len(shape) != 4 or any(isinstance(g, int) and g != d for g, d in zip(shape[1:], dims)):
                raise CheckpointError(
                    f"{self.path}: the model card does not fit the graph: its {what} {arg.name!r} is {shape}, the card says "
                    f"[batch, {', '.join(map(str, dims))}] (a card copied from another model? export this model again)"
                )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        try:
            out = self.session.run(None, {self.input_name: np.ascontiguousarray(x.detach().float().cpu().numpy())})[0]
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types
            raise CheckpointError(f"{self.path}: onnxruntime failed on a {tuple(x.shape)} input ({str(e).splitlines()[0][:200]})") from None
        return torch.from_numpy(out).to(self.device)


def check_export(mf: ModelFile, path: str | os.PathLike[str], use: str) -> float:
    """The largest ``|heatmap difference|`` of onnxruntime against torch on a random batch of 3
    (seed 0) for the exported network ``use`` of ``mf``."""
    ort = OnnxBackend(Path(path))
    module = mf.model_card.predictor(mf.build_nets("cpu"), use)
    w, h = mf.model_card.input_size
    x = torch.randn(3, 3, h, w, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = module(x).numpy()
    return float(np.abs(ref - ort(x).numpy()).max())
