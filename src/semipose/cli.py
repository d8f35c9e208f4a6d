"""The ``semipose`` command.

    semipose train CONFIG [key=value ...] [--resume RUN|CKPT]
    semipose eval  [CONFIG] --checkpoint PATH [key=value ...] [--det-file F] [--flip-test] [--decoder shift|dark]
                   [--format-only] [--out DIR]   (two-network checkpoints: net 1, net 2 and the ensemble)
    semipose data synth OUT [--train N --unlabeled N --val N --image-size WxH --seed S]
    semipose bench {network,data,augment,step,eval,all} [--arch A,B] [--input WxH,...] [--batch N] [--json FILE]

Errors in the user's input (files, configs, checkpoints) print one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main"]

log = logging.getLogger("semipose")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 192x256, got {text!r}") from None


def _sizes(text: str) -> list[tuple[int, int]]:
    return [_size(t) for t in text.split(",") if t]


# ---------------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .engine.trainer import train

    cfg = load_config(args.config, args.overrides)
    result = train(cfg, resume=args.resume, run_dir=args.run_dir, progress=not args.no_progress)
    print(f"\nbest AP {result.best_ap:.4f} at epoch {result.best_epoch}")
    print(f"run folder: {result.run_dir}")
    return 0


def _config_for_eval(args: argparse.Namespace):  # -> Config
    import torch

    from .config import ConfigError, apply_overrides, config_from_dict, load_config

    if args.config and "=" in args.config and not Path(args.config).is_file():
        # "semipose eval --checkpoint X key=value": the first override landed in CONFIG
        args.overrides, args.config = [args.config, *args.overrides], None
    if args.config:
        return load_config(args.config, args.overrides)
    ck = Path(args.checkpoint)
    if not ck.is_file():
        raise FileNotFoundError(f"{ck}: checkpoint not found")
    run_cfg = ck.parent.parent / "config.yaml"
    if run_cfg.is_file():
        return load_config(run_cfg, args.overrides)
    try:
        raw = torch.load(ck, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"{ck}: cannot read checkpoint ({e})") from e
    if isinstance(raw, dict) and "config" in raw:
        return config_from_dict(apply_overrides(raw["config"], args.overrides))
    raise ConfigError(f"{ck}: no config given and none found beside or inside the checkpoint; pass CONFIG")


def cmd_eval(args: argparse.Namespace) -> int:
    import time

    from .engine.build import build_codec, build_eval_data, build_model, build_skeleton, resolve_device
    from .engine.checkpoint import count_nets, load_nets_weights, read_checkpoint_file
    from .engine.trainer import net_names, setup_logging, validate_nets
    from .evaluation.coco import format_metrics_table, write_metrics_json

    cfg = _config_for_eval(args)
    if args.det_file:
        cfg.data.val.det_file = str(Path(args.det_file).resolve())  # relative to the shell, not data.root
        cfg.eval.use_gt_boxes = False
    if args.flip_test:
        cfg.eval.flip_test = True
    if args.decoder:
        cfg.eval.decoder = args.decoder
    if args.format_only:
        cfg.eval.format_only = True
    setup_logging(None)
    device = resolve_device(cfg.device)
    skeleton = build_skeleton(cfg)
    codec = build_codec(cfg)
    data = build_eval_data(cfg, skeleton, codec)
    ckpt = read_checkpoint_file(args.checkpoint)
    n = count_nets(ckpt[1])
    nets = [build_model(cfg, skeleton.num_keypoints, load_pretrained=False).to(device) for _ in range(n)]
    what = load_nets_weights(nets, ckpt, strict=True)
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / f"eval-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    log.info("weights: %s", what)
    results = validate_nets(nets, cfg, data, codec, skeleton, device, out, progress=not args.no_progress)
    proto = data.protocol
    print(
        f"\nprotocol: boxes = {proto['boxes']}; flip test = {'on' if proto['flip_test'] else 'off'}; "
        f"decoder = {proto['decoder']}; {proto['metric']}; rescoring > {proto['rescoring_thr']}; OKS-NMS = {proto['oks_nms']}; "
        f"{proto['instances']} instances"
    )
    if cfg.eval.format_only:
        for name in net_names(n):
            print(f"{name}: {out / f'keypoints_{name}_results.json'}")
        print("format only: results written for the evaluation server, nothing scored")
        return 0
    rows = {}
    for name in net_names(n):
        m = {k: v for k, v in results[name].items() if not k.startswith("_")}
        rows[cfg.model.arch if name == "net" else f"{cfg.model.arch} {name}"] = m
    if data.metric == "pckh":
        from .evaluation.pckh import format_pckh_table

        print(format_pckh_table(rows))
    else:
        print(format_metrics_table(rows))
    write_metrics_json(out / "metrics.json", next(iter(rows.values())) if n == 1 else rows)
    print(f"results and metrics written to {out}")
    return 0


def cmd_data_synth(args: argparse.Namespace) -> int:
    from .data.synthetic import generate_synthetic

    summary = generate_synthetic(
        args.out, num_train=args.train, num_unlabeled=args.unlabeled, num_val=args.val,
        image_size=args.image_size, seed=args.seed, difficulty=args.difficulty, workers=args.workers,
        progress=not args.no_progress, overwrite=args.overwrite,
    )
    for split, c in summary.counts.items():
        print(f"{split:>10}: {c['images']} images, {c['persons']} persons")
    print(f"written to {summary.out_dir} in {summary.seconds:.1f}s")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import STEP_BENCH, bench_augment, bench_data, bench_eval, bench_ssl_step, bench_step, machine_info
    from .engine.build import resolve_device

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict = {"machine": machine_info(device)}
    print(json.dumps(report["machine"]))
    what = {"all": ["network", "data", "augment", "step", "eval"]}.get(args.what, [args.what])
    if ("network" in what or "step" in what) and args.input:
        bad = [f"{w}x{h}" for w, h in args.input if w % 32 or h % 32]
        if bad:
            print(f"semipose bench: error: --input {','.join(bad)}: network and step inputs must be multiples of 32 (the backbone's stride)", file=sys.stderr)
            return 2
    if "network" in what:
        rows = []
        batch = args.batch or 32
        print(f"\nnetwork training step (forward + backward + Adam), batch {batch}, device {device}")
        print(f"{'arch':<10} {'input':>8} {'step ms':>9} {'fwd ms':>8} {'samples/s':>10}")
        for arch in (args.arch or "resnet18,resnet50").split(","):
            for size in args.input or [(192, 256), (96, 128)]:
                r = bench_step(arch, size, batch_size=batch, steps=args.steps, warmup=args.warmup, device=device, amp=args.amp)
                rows.append(r)
                print(f"{r['arch']:<10} {r['input']:>8} {r['step_ms']:>9.1f} {r['forward_ms']:>8.1f} {r['samples_per_s']:>10.1f}", flush=True)
        report["network"] = rows
    if "data" in what:
        rows = []
        batch = args.batch or 32
        print(f"\ndata pipeline (read + decode + augment + crop + targets), {args.workers} workers")
        print(f"{'input':>8} {'samples/s':>10} {'ms/sample/worker':>17}")
        for size in args.input or [(192, 256), (96, 128)]:
            r = bench_data(size, ann_file=args.ann_file, image_dir=args.image_dir, batch_size=batch, workers=args.workers, batches=args.batches)
            rows.append(r)
            print(f"{r['input']:>8} {r['samples_per_s']:>10.1f} {r['ms_per_sample_per_worker']:>17}", flush=True)
        report["data"] = rows
    if "augment" in what:
        batch = args.batch or 32
        rows = []
        for size in args.input or [(192, 256)]:
            print(f"\nhard-view augmentations on the device, batch {batch} x 3 x {size[1]} x {size[0]}, device {device}")
            print(f"{'recipe':<26} {'ms':>9} {'us/image':>9}")
            for r in bench_augment(size, batch_size=batch, steps=args.steps * 2, warmup=args.warmup, device=device):
                rows.append(r)
                print(f"{r['recipe']:<26} {r['ms']:>9.2f} {r['us_per_image']:>9.1f}", flush=True)
        report["augment"] = rows
    if "step" in what:
        batch = args.batch or 16
        methods = args.methods.split(",") if args.methods else list(STEP_BENCH)
        unknown = [m for m in methods if m not in STEP_BENCH]
        if unknown:
            from .config import ConfigError

            raise ConfigError(f"--methods: unknown {unknown[0]!r}; known: {', '.join(STEP_BENCH)}")
        rows = []
        for arch in (args.arch or "resnet18").split(","):
            for size in args.input or [(96, 128)]:
                print(f"\ntraining step per method, {arch} {size[0]}x{size[1]}, batch {batch} labelled + {batch} unlabelled, device {device}")
                print(f"{'method':<12} {'passes':>6} {'step ms':>9} {'network ms':>11} {'overhead ms':>12} {'overhead':>9}")
                for r in bench_ssl_step(arch, size, batch_size=batch, methods=methods, steps=args.steps, warmup=args.warmup, device=device):
                    rows.append(r)
                    print(
                        f"{r['method']:<12} {r['network_passes']:>6} {r['step_ms']:>9.1f} {r['network_ms']:>11.1f} "
                        f"{r['overhead_ms']:>12.1f} {r['overhead_pct']:>8.2f}%", flush=True,
                    )
        report["step"] = rows
    if "eval" in what:
        r = bench_eval(args.persons, steps=args.steps, device=device)
        print(f"\nevaluation of {r['persons']} persons after the network ({r['heatmap']} heatmaps, {r['joints']} joints), device {device}")
        print(f"{'decoder':<8} {'decode ms':>10} {'to image ms':>12} {'rescore+NMS ms':>15} {'COCOeval ms':>12} {'total ms':>9} {'AP':>7}")
        for m in ("shift", "dark"):
            print(
                f"{m:<8} {r[f'decode_{m}_ms']:>10.1f} {r[f'to_image_{m}_ms']:>12.1f} {r[f'rescore_nms_{m}_ms']:>15.1f} "
                f"{r[f'cocoeval_{m}_ms']:>12.1f} {r[f'total_{m}_ms']:>9.1f} {r[f'AP_{m}']:>7.4f}", flush=True,
            )
        report["eval"] = r
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"\nwritten to {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="semipose", description="Semi-supervised 2D human pose estimation.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")

    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("config", help="experiment YAML")
    t.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.epochs=5 data.workers=0")
    t.add_argument("--resume", help="run folder or checkpoints/last.pt to continue")
    t.add_argument("--run-dir", help="write into this folder instead of output_dir/name")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint (COCO keypoint AP/AR)")
    e.add_argument("config", nargs="?", help="experiment YAML (default: the run folder's config.yaml)")
    e.add_argument("overrides", nargs="*", help="dotted overrides")
    e.add_argument("--checkpoint", required=True, help="semipose checkpoint or a state_dict file")
    e.add_argument("--det-file", help="evaluate on these person-detector boxes instead of GT boxes")
    e.add_argument("--flip-test", action="store_true", help="average with the horizontally flipped input")
    e.add_argument("--format-only", action="store_true", help="write the results JSON without scoring (COCO test-dev)")
    e.add_argument("--decoder", choices=["shift", "dark", "argmax"], help="heatmap decoding (default: the config's eval.decoder, shift)")
    e.add_argument("--out", help="output folder (default: <run>/eval-<time>)")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=cmd_eval)

    d = sub.add_parser("data", help="dataset tools")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="generate the synthetic COCO-format dataset")
    s.add_argument("out", help="output folder")
    s.add_argument("--train", type=int, default=2000, help="labelled training images")
    s.add_argument("--unlabeled", type=int, default=2000, help="unlabelled images")
    s.add_argument("--val", type=int, default=500, help="validation images")
    s.add_argument("--image-size", type=_size, default=(320, 240), help="WIDTHxHEIGHT (default 320x240)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--difficulty", type=float, default=1.0, help="nuisance level (default 1.0)")
    s.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing synthetic set in OUT")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_data_synth)

    b = sub.add_parser(
        "bench", help="benchmarks: network step, data throughput, hard-view augmentations, training step per method",
        description="network: forward+backward+Adam per architecture and input; data: loader throughput; "
        "augment: each hard-view augmentation on a batch; step: one training step per method "
        "(supervised, PoseCons, PoseDual, MultiAugs 2/4 paths) next to its bare network passes; "
        "eval: decoding (shift vs DARK) and the evaluation stages after the network.",
    )
    b.add_argument("what", nargs="?", choices=["network", "data", "augment", "step", "eval", "all"], default="all")
    b.add_argument("--persons", type=int, default=1000, help="eval: persons evaluated (default 1000)")
    b.add_argument("--arch", default=None, help="comma-separated networks (network: resnet18,resnet50; step: resnet18)")
    b.add_argument("--input", type=_sizes, default=None, help="comma-separated WIDTHxHEIGHT (network/data: 192x256,96x128; augment: 192x256; step: 96x128)")
    b.add_argument("--batch", type=int, default=None, help="batch size (default 32; step: 16 labelled + 16 unlabelled)")
    b.add_argument("--methods", default=None, help="step: comma-separated subset of supervised,posecons,posedual,multiaugs-2,multiaugs-4")
    b.add_argument("--steps", type=int, default=5, help="timed steps per setting")
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--batches", type=int, default=10, help="timed batches for the data benchmark")
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--ann-file", help="bench the data pipeline on this COCO file instead of synthetic data")
    b.add_argument("--image-dir")
    b.add_argument("--device", default="auto")
    b.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    b.add_argument("--amp", action="store_true")
    b.add_argument("--json", help="also write the results to this JSON file")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from .config import ConfigError
    from .data.coco import DataFormatError
    from .data.topdown import ImageReadError
    from .models.weights import CheckpointError

    parser = build_parser()
    # dotted overrides may follow options too ("train cfg.yaml --no-progress train.epochs=2")
    args, extra = parser.parse_known_args(argv)
    if extra:
        bad = [x for x in extra if x.startswith("-") or "=" not in x or not hasattr(args, "overrides")]
        if bad:
            parser.error(f"unrecognized arguments: {' '.join(bad)}")
        args.overrides = [*args.overrides, *extra]
    if args.version:
        from . import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ConfigError, DataFormatError, ImageReadError, CheckpointError, FileNotFoundError, FileExistsError) as e:
        print(f"semipose: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsemipose: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
