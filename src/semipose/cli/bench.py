"""``semipose bench``: run the benchmarks of :mod:`semipose.bench` and print their tables."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..geometry import DEFAULT_INPUT_SIZE
from .common import sizes

log = logging.getLogger("semipose")


def register(sub: Any) -> None:
    b = sub.add_parser(
        "bench", help="benchmarks: network step, data throughput, hard-view augmentations, training step per method",
        description="network: forward+backward+Adam per architecture and input; data: loader throughput; "
        "augment: each hard-view augmentation on a batch; step: one training step per method "
        "(supervised, PoseCons, PoseDual, MultiAugs 2/4 paths) next to its bare network passes; "
        "frames: the unlabelled loader on video frames, single vs tuples; "
        "eval: decoding (shift vs DARK) and the evaluation stages after the network; "
        "predict: persons/s of the prediction API (fp32, bf16, onnxruntime) next to the bare forward. "
        "By default only the precisions this device runs natively.",
    )
    b.add_argument("what", nargs="?", choices=["network", "data", "frames", "augment", "step", "eval", "predict", "all"], default="all")
    b.add_argument("--video", help="frames: the video whose frames the unlabelled loader reads (default: a synthetic clip)")
    b.add_argument("--persons", type=int, default=1000, help="eval: persons evaluated (default 1000)")
    b.add_argument("--arch", default=None, help="comma-separated networks (network: resnet18,resnet50, on a CPU resnet18; step: resnet18)")
    b.add_argument("--input", type=sizes, default=None,
                   help="comma-separated WIDTHxHEIGHT (network/data: 192x256,96x128; augment: 192x256; step: 96x128)")
    b.add_argument("--batch", type=int, default=None, help="batch size (default 32, network on a CPU 16; step: 16 labelled + 16 unlabelled)")
    b.add_argument("--methods", default=None,
                   help="step: comma-separated subset of supervised,posecons,posedual,multiaugs-2,multiaugs-4,multiaugs-dual,sspcm,"
                   "temporal,pose-prior,video")
    b.add_argument("--steps", type=int, default=None, help="timed steps per setting (default 5; network on a CPU 3)")
    b.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2; network on a CPU 1)")
    b.add_argument("--batches", type=int, default=10, help="timed batches for the data benchmark")
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--ann-file", help="bench the data pipeline on this COCO file instead of synthetic data")
    b.add_argument("--image-dir")
    b.add_argument("--cache-mb", default="0,256",
                   help="data: comma-separated decoded-image cache budgets per process in MiB, one row each (default 0,256)")
    b.add_argument("--device", default="auto")
    b.add_argument("--threads", type=int, default=0, help="torch threads (default 0: the free cores, re-measured as the load changes)")
    b.add_argument("--modes", default=None,
                   help="network / step: comma-separated precisions, +cl for channels_last (fp32, bf16, fp16, bf16+cl ...; "
                        "default network fp32,bf16,bf16+cl, step fp32; by default only the modes this device runs natively)")
    b.add_argument("--json", help="also write the results to this JSON file")
    b.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:

    from ..bench import STEP_BENCH, bench_augment, bench_data, bench_eval, bench_ssl_step, bench_step, machine_info, native_modes
    from ..device import resolve_device
    from ..threads import configure_threads

    device = resolve_device(args.device)
    configure_threads(args.threads, "--threads")
    report: dict = {"machine": machine_info(device)}
    print(json.dumps(report["machine"]))
    what = {"all": ["network", "data", "frames", "augment", "step", "eval", "predict"]}.get(args.what, [args.what])
    if ("network" in what or "step" in what or "predict" in what) and args.input:
        bad = [f"{w}x{h}" for w, h in args.input if w % 32 or h % 32]
        if bad:
            print(f"semipose bench: error: --input {','.join(bad)}: network and step inputs must be multiples of 32 (the backbone's stride)",
                  file=sys.stderr)
            return 2
    asked = args.modes.split(",") if args.modes else None
    n_steps, n_warmup = (5 if args.steps is None else args.steps), (2 if args.warmup is None else args.warmup)
    if "network" in what:
        rows = []
        cpu = device.type == "cpu"  # a CPU's defaults fit a minute: one small network, smaller batches, fewer steps
        batch = args.batch or (16 if cpu else 32)
        steps = args.steps if args.steps is not None else (3 if cpu else 5)
        warmup = args.warmup if args.warmup is not None else (1 if cpu else 2)
        modes, note = native_modes("network", device, asked)
        print(f"\nnetwork training step (forward + backward + Adam), batch {batch}, device {device}" + (f"\n{note}" if note else ""))
        print(f"{'arch':<10} {'input':>8} {'mode':<9} {'step ms':>9} {'fwd ms':>8} {'samples/s':>10} {'vs fp32':>8}")
        for arch in (args.arch or ("resnet18" if cpu else "resnet18,resnet50")).split(","):
            for size in args.input or [DEFAULT_INPUT_SIZE, (96, 128)]:
                base = None
                for mode in modes:
                    prec, _, cl = mode.partition("+")
                    r = bench_step(arch, size, batch_size=batch, steps=steps, warmup=warmup, device=device,
                                   precision=prec, channels_last=cl == "cl")
                    base = base or r["step_ms"]
                    r["mode"], r["speedup_vs_first"] = mode, round(base / r["step_ms"], 2)
                    rows.append(r)
                    print(f"{r['arch']:<10} {r['input']:>8} {mode:<9} {r['step_ms']:>9.1f} {r['forward_ms']:>8.1f} {r['samples_per_s']:>10.1f} "
                          f"{r['speedup_vs_first']:>7.2f}x", flush=True)
        report["network"] = rows
    if "data" in what:
        rows = []
        batch = args.batch or 32
        print(f"\ndata pipeline (read + decode + augment + crop + targets), {args.workers} workers")
        print(f"{'input':>8} {'cache MiB':>9} {'samples/s':>10} {'ms/sample/worker':>17} {'decodes/sample':>15}")
        budgets = [float(v) for v in str(args.cache_mb).split(",") if v.strip()]
        for size in args.input or [DEFAULT_INPUT_SIZE, (96, 128)]:
            for mb in budgets:
                r = bench_data(size, ann_file=args.ann_file, image_dir=args.image_dir, batch_size=batch, workers=args.workers,
                               batches=args.batches, image_cache_mb=mb)
                rows.append(r)
                print(f"{r['input']:>8} {mb:>9g} {r['samples_per_s']:>10.1f} {r['ms_per_sample_per_worker']:>17} "
                      f"{r['decodes_per_sample'] if r['decodes_per_sample'] is not None else '-':>15}", flush=True)
        report["data"] = rows
    if "frames" in what:
        from ..bench import bench_frames

        batch = args.batch or 8
        rows = []
        print(f"\nunlabelled loader on video frames, single frames vs tuples (t-1, t, t+1), {args.workers} workers")
        print(f"{'mode':<8} {'input':>8} {'crops/s':>9} {'frames/s':>9}")
        for size in args.input or [(128, 128)]:
            for r in bench_frames(size, video=args.video, batch_size=batch, workers=args.workers, batches=args.batches):
                rows.append(r)
                print(f"{r['mode']:<8} {r['input']:>8} {r['crops_per_s']:>9.1f} {r['frames_per_s']:>9.1f}", flush=True)
        report["frames"] = rows
    if "augment" in what:
        batch = args.batch or 32
        rows = []
        for size in args.input or [DEFAULT_INPUT_SIZE]:
            print(f"\nhard-view augmentations on the device, batch {batch} x 3 x {size[1]} x {size[0]}, device {device}")
            print(f"{'recipe':<26} {'ms':>9} {'us/image':>9}")
            for r in bench_augment(size, batch_size=batch, steps=n_steps * 2, warmup=n_warmup, device=device):
                rows.append(r)
                print(f"{r['recipe']:<26} {r['ms']:>9.2f} {r['us_per_image']:>9.1f}", flush=True)
        report["augment"] = rows
    if "step" in what:
        batch = args.batch or 16
        methods = args.methods.split(",") if args.methods else list(STEP_BENCH)
        unknown = [m for m in methods if m not in STEP_BENCH]
        if unknown:
            raise ConfigError(f"--methods: unknown {unknown[0]!r}; known: {', '.join(STEP_BENCH)}")
        rows = []
        modes, note = native_modes("step", device, asked)
        if note:
            print(note)
        for arch in (args.arch or "resnet18").split(","):
            for size in args.input or [(96, 128)]:
                for mode in modes:
                    prec, _, cl = mode.partition("+")
                    print(f"\ntraining step per method, {arch} {size[0]}x{size[1]} {mode}, batch {batch} labelled + {batch} unlabelled, "
                          f"device {device}")
                    print(f"{'method':<12} {'passes':>6} {'step ms':>9} {'network ms':>11} {'overhead ms':>12} {'overhead':>9}")
                    for r in bench_ssl_step(arch, size, batch_size=batch, methods=methods, steps=n_steps, warmup=n_warmup, device=device,
                                            precision=prec, channels_last=cl == "cl"):
                        r["mode"] = mode
                        rows.append(r)
                        print(
                            f"{r['method']:<12} {r['network_passes']:>6} {r['step_ms']:>9.1f} {r['network_ms']:>11.1f} "
                            f"{r['overhead_ms']:>12.1f} {r['overhead_pct']:>8.2f}%", flush=True,
                        )
        report["step"] = rows
    if "eval" in what:
        r = bench_eval(args.persons, steps=n_steps, device=device)
        print(f"\nevaluation of {r['persons']} persons after the network ({r['heatmap']} heatmaps, {r['joints']} joints), device {device}")
        print(f"{'decoder':<8} {'decode ms':>10} {'to image ms':>12} {'rescore+NMS ms':>15} {'COCOeval ms':>12} {'total ms':>9} {'AP':>7}")
        for m in ("shift", "dark"):
            print(
                f"{m:<8} {r[f'decode_{m}_ms']:>10.1f} {r[f'to_image_{m}_ms']:>12.1f} {r[f'rescore_nms_{m}_ms']:>15.1f} "
                f"{r[f'cocoeval_{m}_ms']:>12.1f} {r[f'total_{m}_ms']:>9.1f} {r[f'AP_{m}']:>7.4f}", flush=True,
            )
        report["eval"] = r
    if "predict" in what:
        from ..bench import bench_predict

        batch = args.batch or 32
        rows = []
        modes, note = native_modes("predict", device)
        if note:
            print(note)
        for arch in (args.arch or "resnet18").split(","):
            for size in args.input or [DEFAULT_INPUT_SIZE]:
                print(f"\nprediction API, {batch} persons per call on a 640x480 image, {arch} {size[0]}x{size[1]}, flip test off, device {device}")
                print(f"{'backend':<12} {'precision':<9} {'API ms':>8} {'forward ms':>11} {'pre ms':>7} {'post ms':>8} {'overhead':>9} "
                      f"{'persons/s':>10}")
                for r in bench_predict(arch, size, batch_size=batch, steps=n_steps, warmup=n_warmup, device=device, precisions=modes):
                    rows.append(r)
                    print(f"{r['backend']:<12} {r['precision']:<9} {r['api_ms']:>8.1f} {r['forward_ms']:>11.1f} {r['pre_ms']:>7.1f} "
                          f"{r['post_ms']:>8.1f} "
                          f"{r['overhead_pct']:>8.1f}% {r['persons_per_s']:>10.1f}", flush=True)
        report["predict"] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"\nwritten to {args.json}")
    return 0
