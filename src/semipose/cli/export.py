"""``semipose export MODEL``: an ONNX file (onnxruntime) or a self-describing ``.pt`` model file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..hub import is_remote
from .common import model_flags, read_model


def register(sub: Any) -> None:
    ex = sub.add_parser("export", help="export a model: ONNX (onnxruntime) or a self-describing .pt model file")
    ex.add_argument("model", help="model file or reference checkpoint (with --arch/--keypoints)")
    ex.add_argument("--format", choices=["onnx", "pt"], default="onnx", help="onnx (needs pip install 'semipose[onnx]') or pt")
    ex.add_argument("-o", "--output", help="output file (default: beside MODEL)")
    ex.add_argument("--net", help="two-network models: 1, 2 or ensemble (default: the model card's)")
    ex.add_argument("--opset", type=int, default=18)
    ex.add_argument("--no-check", action="store_true", help="onnx: skip the onnxruntime-vs-torch comparison")
    model_flags(ex)
    ex.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..params import parse_net

    mf = read_model(args, args.model)
    net = parse_net(args.net) if args.net is not None else None
    src = Path(Path(args.model.split("?")[0]).name) if is_remote(args.model) else Path(args.model)  # a download: export beside the shell
    if args.format == "onnx":
        from ..predict.onnx import check_export, export_onnx

        path, card = export_onnx(mf, Path(args.output) if args.output else src.with_suffix(".onnx"), net=net, opset=args.opset)
        if not args.no_check:
            try:
                diff = check_export(mf, path, card.use)
            except Exception:
                path.unlink(missing_ok=True)  # a file onnxruntime cannot run is not left behind as the export
                raise
            print(f"onnxruntime vs torch on a random batch of 3: max |heatmap difference| {diff:.2e}")
    else:
        from ..models.modelfile import save_model_file

        path, card = save_model_file(mf, Path(args.output) if args.output else src.with_name(src.stem + "-model.pt"), net=net)
    print(f"exported {src} -> {path} ({path.stat().st_size / 2**20:.1f} MB, {card.arch}, network {card.use})")
    return 0
