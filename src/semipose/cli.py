"""The ``semipose`` command.

    semipose train   CONFIG [key=value ...] [--resume RUN|CKPT]
    semipose eval    [CONFIG] --checkpoint PATH [key=value ...] [--det-file F] [--flip-test] [--decoder shift|dark]
                     [--format-only] [--save-vis] [--out DIR]   (two-network checkpoints: net 1, net 2 and the ensemble)
    semipose eval    --results PREDICTIONS.json --gt ANNOTATIONS.json
    semipose predict MODEL SOURCE... [--boxes F | --det-file F --boxes IMAGE_INFO | --whole-image] [--out DIR]
    semipose export  MODEL [--format onnx|pt] [--net 1|2|ensemble] [-o FILE]
    semipose data synth OUT [--train N --unlabeled N --val N --image-size WxH --seed S]
    semipose bench {network,data,augment,step,eval,all} [--arch A,B] [--input WxH,...] [--batch N] [--json FILE]

Errors in the user's input (files, configs, checkpoints) print one clear line and exit 2.
Checkpoints are read with ``torch.load(weights_only=True)``; a file that needs arbitrary
unpickling is refused unless ``--trust-checkpoint`` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from .params import DECODERS
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
    result = train(cfg, resume=args.resume, run_dir=args.run_dir, progress=not args.no_progress, trust_checkpoint=args.trust_checkpoint,
                   overwrite=args.overwrite)
    print(f"\nbest AP {result.best_ap:.4f} at epoch {result.best_epoch}")
    print(f"run folder: {result.run_dir}")
    return 0


def _read_model(args: argparse.Namespace, path: str):  # -> ModelFile
    """The model file of ``path`` with the reference-checkpoint flags of ``args``."""
    from .models.modelfile import read_model_file

    return read_model_file(
        path, trust=args.trust_checkpoint, arch=args.arch, keypoints=_keypoints_flag(args.keypoints), color=args.color,
        input_size=args.input_size,
    )


def _keypoints_flag(spec: str | None):  # -> str | Skeleton | None
    """``--keypoints``: a built-in name, a ``skeleton.json`` or a COCO-format annotation file."""
    if spec is None or not (spec.endswith(".json") or Path(spec).is_file()):
        return spec
    from .data.cocojson import read_json, skeleton_from_coco_file
    from .errors import DataFormatError
    from .skeletons import Skeleton

    data = read_json(spec)
    if isinstance(data, dict) and "categories" in data:
        return skeleton_from_coco_file(spec)
    try:
        return Skeleton.from_dict(data)
    except (ValueError, TypeError) as e:
        raise DataFormatError(f"--keypoints {spec}: not a skeleton.json or COCO-format file ({e})") from None


def _config_for_eval(args: argparse.Namespace, mf):  # -> Config
    """The evaluation config: CONFIG, else the run folder's config.yaml, else the model card's
    config, else (reference files) one made from the card; overrides on top."""
    from .config import apply_overrides, config_from_dict, load_config

    if args.config and "=" in args.config and not Path(args.config).is_file():
        # "semipose eval --checkpoint X key=value": the first override landed in CONFIG
        args.overrides, args.config = [args.config, *args.overrides], None
    if args.config:
        return load_config(args.config, args.overrides)
    run_cfg = Path(args.checkpoint).parent.parent / "config.yaml"
    if run_cfg.is_file():
        return load_config(run_cfg, args.overrides)
    base = mf.card.config_dict()
    base.setdefault("name", Path(args.checkpoint).stem)
    return config_from_dict(apply_overrides(base, args.overrides))


def cmd_eval(args: argparse.Namespace) -> int:
    from .engine.evaluate import arch_rows, evaluate_model_file, net_names, results_table
    from .engine.runfolder import setup_logging
    from .errors import ConfigError
    from .evaluation.coco import write_metrics_json

    if args.results:
        return _eval_results(args)
    if not args.checkpoint:
        raise ConfigError("semipose eval needs --checkpoint MODEL (or --results PREDICTIONS.json --gt ANNOTATIONS.json)")
    mf = _read_model(args, args.checkpoint)
    cfg = _config_for_eval(args, mf)
    if args.det_file:
        cfg.data.val.det_file = str(Path(args.det_file).resolve())  # relative to the shell, not data.root
        cfg.eval.use_gt_boxes = False
    if args.flip_test:
        cfg.eval.flip_test = True
    if args.decoder:
        cfg.eval.decoder = args.decoder
    if args.format_only:
        cfg.eval.format_only = True
    if not cfg.data.val.ann_file:
        raise ConfigError(f"{args.checkpoint}: no validation set to evaluate on: give CONFIG or data.val.ann_file=... data.val.image_dir=...")
    setup_logging(None)
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / f"eval-{time.strftime('%Y%m%d-%H%M%S')}"
    data, results = evaluate_model_file(cfg, mf, out, progress=not args.no_progress)
    names = net_names(mf.card.num_nets)
    proto = data.protocol
    print(
        f"\nprotocol: boxes = {proto['boxes']}; flip test = {'on' if proto['flip_test'] else 'off'}; "
        f"decoder = {proto['decoder']}; {proto['metric']}; rescoring > {proto['rescoring_thr']}; OKS-NMS = {proto['oks_nms']}; "
        f"{proto['instances']} instances"
    )
    if cfg.eval.format_only:
        for name in names:
            print(f"{name}: {out / f'keypoints_{name}_results.json'}")
        print("format only: results written for the evaluation server, nothing scored")
        return 0
    metrics = {name: results[name].metrics for name in names}
    print(results_table(metrics, cfg.model.arch, data.metric))
    write_metrics_json(out / "metrics.json", metrics["net"] if len(names) == 1 else arch_rows(metrics, cfg.model.arch))
    if args.save_vis:
        _save_eval_vis(out, data, data.eval_skeleton, names[0] if len(names) == 1 else mf.card.use,
                       args.kpt_thr, progress=not args.no_progress)
    print(f"results and metrics written to {out}")
    return 0


def _save_eval_vis(out: Path, data, skeleton, name: str, kpt_thr: float, *, progress: bool) -> None:  # noqa: ANN001
    """Draw the results eval wrote for ``name`` on every image of the split into ``out/vis``."""
    import cv2
    from tqdm.auto import tqdm

    from .image import read_image
    from .predict.run import draw_prediction

    results = json.loads((out / f"keypoints_{name}_results.json").read_text())
    by_image: dict[int, list] = {}
    for r in results:
        by_image.setdefault(int(r["image_id"]), []).append(r)
    paths = {}
    for rec in data.records:
        paths.setdefault(rec.image_id, rec.image_path)
    (out / "vis").mkdir(exist_ok=True)
    for image_id, path in tqdm(paths.items(), desc="drawing", unit="img", disable=not progress, leave=False):
        pic = draw_prediction(read_image(path), by_image.get(image_id, []), skeleton, kpt_thr=kpt_thr)
        cv2.imwrite(str(out / "vis" / f"{Path(path).stem}.jpg"), pic, [cv2.IMWRITE_JPEG_QUALITY, 92])
    print(f"drawings of {len(paths)} images ({name}) in {out / 'vis'}")


def _eval_results(args: argparse.Namespace) -> int:
    """Score a results JSON (e.g. from ``semipose predict``) against a COCO keypoint file."""
    from .errors import ConfigError
    from .data.cocojson import read_json, skeleton_from_coco_file
    from .errors import DataFormatError
    from .evaluation.coco import evaluate_coco_keypoints, format_metrics_table, load_coco_gt, write_metrics_json

    if not args.gt:
        raise ConfigError("--results needs --gt ANNOTATIONS.json (the COCO keypoint file to score against)")
    results = read_json(args.results)
    if not isinstance(results, list):
        raise DataFormatError(f"{args.results}: expected a COCO results list")
    if not results:
        raise DataFormatError(f"{args.results}: no results to score")
    sk = skeleton_from_coco_file(args.gt)
    try:
        gt = load_coco_gt(args.gt, skeleton=sk)
    except ValueError as e:
        raise DataFormatError(str(e)) from None
    known = set(gt.getImgIds())
    stray = sorted({int(r.get("image_id", -1)) for r in results} - known)
    if stray:
        raise DataFormatError(f"{args.results}: {len(stray)} image id(s) are not in {args.gt} (e.g. {stray[0]}); predicted with the boxes of another file?")
    metrics = evaluate_coco_keypoints(gt, results, sigmas=sk.sigmas)
    print(format_metrics_table({Path(args.results).name: metrics}))
    if args.out:
        write_metrics_json(Path(args.out) / "metrics.json", metrics)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict.boxes import WholeImage, box_source_for
    from .predict.estimator import PoseEstimator
    from .predict.run import run_predict
    from .predict.sources import expand_sources

    sources = expand_sources(args.sources)
    est = PoseEstimator.from_file(
        args.model, device=args.device, precision=args.precision, flip_test=args.flip_test, decoder=args.decoder,
        net=args.net, batch_size=args.batch_size, trust=args.trust_checkpoint, arch=args.arch,
        keypoints=_keypoints_flag(args.keypoints), color=args.color, input_size=args.input_size,
    )
    card = est.card
    aspect = card.input_size[0] / card.input_size[1]
    if args.det_file and not args.boxes:
        from .errors import ConfigError

        raise ConfigError("--det-file needs --boxes IMAGE_INFO.json: the COCO-format file listing the images the detections refer to")
    if args.boxes and not args.whole_image:
        boxes = box_source_for(args.boxes, args.det_file, aspect=aspect, padding=card.padding, score_thr=args.det_score_thr)
    else:
        if not args.whole_image:
            log.info("no --boxes given: one box per image covering the whole image (give person boxes for group photos)")
        boxes = WholeImage(aspect, card.padding)
    out = Path(args.out) if args.out else Path("predictions") / time.strftime("%Y%m%d-%H%M%S")
    print(
        f"model {args.model}: {card.arch} x {card.num_nets} ({est.backend}, {est.precision}, network {card.use}), "
        f"{card.input_size[0]}x{card.input_size[1]}, {card.num_keypoints} keypoints ({card.skeleton.get('name')}), "
        f"flip test {'on' if est.flip_test else 'off'}, decoder {est.decoder}; boxes: {boxes.description}", flush=True,
    )
    s = run_predict(
        est, sources, boxes, out, draw=not args.no_draw, kpt_thr=args.kpt_thr, heatmaps=args.heatmaps,
        nms=not args.no_nms, max_frames=args.max_frames, progress=not args.no_progress,
    )
    done = s.images + s.frames
    rate = done / s.seconds if s.seconds > 0 else 0.0
    parts = [f"{s.images} images" if s.images or not s.frames else "", f"{s.frames} video frames" if s.frames else ""]
    print(f"\n{', '.join(p for p in parts if p)}, {s.persons} persons in {s.seconds:.1f}s ({rate:.1f} images/s)")
    if s.no_boxes:
        print(f"skipped {len(s.no_boxes)} image(s) not in the boxes file")
    for v in s.videos:
        print(f"drawn video: {v}")
    print(f"results: {s.results_file} (image info: {out / 'image_info.json'})" + ("" if args.no_draw else f"; drawings: {out / 'vis'}"))
    if s.failed:
        print(f"semipose: error: {len(s.failed)} input(s) failed (listed above)", file=sys.stderr)
        return 2
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .predict.estimator import _net_name

    mf = _read_model(args, args.model)
    net = _net_name(args.net) if args.net is not None else None
    src = Path(args.model)
    if args.format == "onnx":
        from .predict.onnx import export_onnx

        out = Path(args.output) if args.output else src.with_suffix(".onnx")
        path, card = export_onnx(mf, out, net=net, opset=args.opset)
        if not args.no_check:
            _check_onnx(mf, path, card.use)
    else:
        import torch

        from .models.modelfile import model_file_payload

        out = Path(args.output) if args.output else src.with_name(src.stem + "-model.pt")
        if out.resolve() == src.resolve():
            from .errors import ConfigError

            raise ConfigError(f"{out}: the export would overwrite its source; give -o")
        card = mf.card if net is None else mf.card.with_use(net, str(src))
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model_file_payload(card, mf.states), out)
        path = out
    print(f"exported {src} -> {path} ({path.stat().st_size / 2**20:.1f} MB, {card.arch}, network {card.use})")
    return 0


def _check_onnx(mf, path: Path, use: str) -> None:  # noqa: ANN001
    """Compare onnxruntime with torch on a random batch and print the largest differences."""
    import numpy as np
    import torch

    from .predict.onnx import OnnxBackend

    ort = OnnxBackend(path)
    module = mf.card.predictor(mf.build_nets("cpu"), use)
    w, h = mf.card.input_size
    x = torch.randn(3, 3, h, w, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = module(x).numpy()
    got = ort(x).numpy()
    print(f"onnxruntime vs torch on a random batch of 3: max |heatmap difference| {float(np.abs(ref - got).max()):.2e}")


def cmd_data_synth(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .synth import generate_synthetic

    try:
        summary = generate_synthetic(
            args.out, num_train=args.train, num_unlabeled=args.unlabeled, num_val=args.val,
            image_size=args.image_size, seed=args.seed, difficulty=args.difficulty, workers=args.workers,
            progress=not args.no_progress, overwrite=args.overwrite,
        )
    except ValueError as e:  # the argument checks at its top
        raise ConfigError(f"data synth: {e}") from None
    for split, c in summary.counts.items():
        print(f"{split:>10}: {c['images']} images, {c['persons']} persons")
    print(f"written to {summary.out_dir} in {summary.seconds:.1f}s")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    """Read every split of a config and check every image file; list all problems."""
    from .config import load_config
    from .errors import DataFormatError
    from .image import check_image_file
    from .data.sources import build_skeleton, load_split

    cfg = load_config(args.config, args.overrides)
    skeleton = build_skeleton(cfg)
    d = cfg.data
    problems = 0
    for key in ("train", "val", "unlabeled"):
        split = getattr(d, key)
        if not split.ann_file or (key == "unlabeled" and split.det_file):
            continue
        try:
            records, _, _ = load_split(cfg, split, skeleton, key=key)
        except DataFormatError as e:
            print(f"data.{key}: {e}")
            problems += 1
            continue
        paths = list(dict.fromkeys(r.image_path for r in records))
        bad = [(p, prob) for p in paths if (prob := check_image_file(p))]
        for p, prob in bad:
            print(f"data.{key}: {p}: {prob}")
        problems += len(bad)
        print(f"data.{key}: {len(records)} persons on {len(paths)} images; {len(bad)} unusable image(s)")
    if problems:
        print(f"semipose: error: {problems} problem(s) (listed above)", file=sys.stderr)
        return 2
    print("all splits readable")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import STEP_BENCH, bench_augment, bench_data, bench_eval, bench_ssl_step, bench_step, machine_info
    from .device import resolve_device

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict = {"machine": machine_info(device)}
    print(json.dumps(report["machine"]))
    what = {"all": ["network", "data", "augment", "step", "eval", "predict"]}.get(args.what, [args.what])
    if ("network" in what or "step" in what or "predict" in what) and args.input:
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
            from .errors import ConfigError

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
    if "predict" in what:
        from .bench import bench_predict

        batch = args.batch or 32
        rows = []
        for arch in (args.arch or "resnet18").split(","):
            for size in args.input or [(192, 256)]:
                print(f"\nprediction API, {batch} persons per call on a 640x480 image, {arch} {size[0]}x{size[1]}, flip test off, device {device}")
                print(f"{'backend':<12} {'precision':<9} {'API ms':>8} {'forward ms':>11} {'pre ms':>7} {'post ms':>8} {'overhead':>9} {'persons/s':>10}")
                for r in bench_predict(arch, size, batch_size=batch, steps=args.steps, warmup=args.warmup, device=device):
                    rows.append(r)
                    print(f"{r['backend']:<12} {r['precision']:<9} {r['api_ms']:>8.1f} {r['forward_ms']:>11.1f} {r['pre_ms']:>7.1f} {r['post_ms']:>8.1f} "
                          f"{r['overhead_pct']:>8.1f}% {r['persons_per_s']:>10.1f}", flush=True)
        report["predict"] = rows
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
    t.add_argument("--run-dir", help="write into this folder instead of output_dir/name (refused if it holds a run, unless --resume or --overwrite)")
    t.add_argument("--overwrite", action="store_true", help="--run-dir holds an earlier run: remove its results and start over")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    _trust_flag(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint (COCO keypoint AP/AR)")
    e.add_argument("config", nargs="?", help="experiment YAML (default: the run folder's config.yaml)")
    e.add_argument("overrides", nargs="*", help="dotted overrides")
    e.add_argument("--checkpoint", help="a model file (best.pt, last.pt, model.pt) or a reference checkpoint")
    e.add_argument("--results", help="score this COCO results JSON (e.g. semipose predict's predictions.json) instead")
    e.add_argument("--gt", help="with --results: the COCO keypoint file to score against")
    e.add_argument("--save-vis", action="store_true", help="draw the predictions on every evaluated image into OUT/vis")
    e.add_argument("--kpt-thr", type=float, default=0.3, help="--save-vis: keypoints scoring below this are not drawn")
    e.add_argument("--det-file", help="evaluate on these person-detector boxes instead of GT boxes")
    e.add_argument("--flip-test", action="store_true", help="average with the horizontally flipped input")
    e.add_argument("--format-only", action="store_true", help="write the results JSON without scoring (COCO test-dev)")
    e.add_argument("--decoder", choices=DECODERS, help="heatmap decoding (default: the config's eval.decoder, shift)")
    e.add_argument("--out", help="output folder (default: <run>/eval-<time>)")
    e.add_argument("--no-progress", action="store_true")
    _model_flags(e)
    e.set_defaults(func=cmd_eval)

    pr = sub.add_parser(
        "predict", help="predict poses on images, folders, globs, videos or a camera",
        description="Predict with a model file (best.pt, model.pt, .onnx or a reference checkpoint with --arch/--keypoints). "
        "Writes predictions.json (COCO results), image_info.json, drawings in vis/ and a drawn video per video input.",
    )
    pr.add_argument("model", help="model file: best.pt / last.pt / exported model.pt or .onnx, or a reference checkpoint")
    pr.add_argument("sources", nargs="+", help="image files, folders, globs ('imgs/*.jpg'), video files, or a camera index (0)")
    pr.add_argument("--boxes", help="person boxes: a COCO-format file (its GT boxes; with --det-file: the images the detections refer to) "
                    "or a JSON {\"file name\": [[x, y, w, h(, score)], ...]}")
    pr.add_argument("--det-file", help="detector results (COCO results format) over the images of --boxes")
    pr.add_argument("--det-score-thr", type=float, default=0.0, help="skip detections below this score")
    pr.add_argument("--whole-image", action="store_true", help="one box per image: the whole image (the default without --boxes)")
    pr.add_argument("--out", help="output folder (default: predictions/<time>)")
    pr.add_argument("--no-draw", action="store_true", help="write the results only, no drawings")
    pr.add_argument("--kpt-thr", type=float, default=0.3, help="keypoints scoring below this are not drawn")
    pr.add_argument("--heatmaps", action="store_true", help="overlay the predicted heatmaps on the drawings")
    pr.add_argument("--no-nms", action="store_true", help="keep every box's prediction (no OKS-NMS)")
    flip = pr.add_mutually_exclusive_group()
    flip.add_argument("--flip-test", dest="flip_test", action="store_true", default=None, help="average with the mirrored input")
    flip.add_argument("--no-flip-test", dest="flip_test", action="store_false", help="no flip test (default: the model card's)")
    pr.add_argument("--decoder", choices=DECODERS, help="heatmap decoding (default: the model card's)")
    pr.add_argument("--net", help="two-network models: 1, 2 or ensemble (default: the model card's)")
    pr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    pr.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16", "auto"], help="autocast precision of the network")
    pr.add_argument("--batch-size", type=int, default=32, help="persons per forward pass")
    pr.add_argument("--max-frames", type=int, default=None, help="videos and cameras: stop after this many frames")
    pr.add_argument("--no-progress", action="store_true")
    _model_flags(pr)
    pr.set_defaults(func=cmd_predict)

    ex = sub.add_parser("export", help="export a model: ONNX (onnxruntime) or a self-describing .pt model file")
    ex.add_argument("model", help="model file or reference checkpoint (with --arch/--keypoints)")
    ex.add_argument("--format", choices=["onnx", "pt"], default="onnx", help="onnx (needs pip install 'semipose[onnx]') or pt")
    ex.add_argument("-o", "--output", help="output file (default: beside MODEL)")
    ex.add_argument("--net", help="two-network models: 1, 2 or ensemble (default: the model card's)")
    ex.add_argument("--opset", type=int, default=18)
    ex.add_argument("--no-check", action="store_true", help="onnx: skip the onnxruntime-vs-torch comparison")
    _model_flags(ex)
    ex.set_defaults(func=cmd_export)

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
    c = dsub.add_parser("check", help="read every split of a config and check every image (missing, empty, cut short)")
    c.add_argument("config", help="experiment YAML")
    c.add_argument("overrides", nargs="*", help="dotted overrides")
    c.set_defaults(func=cmd_data_check)

    b = sub.add_parser(
        "bench", help="benchmarks: network step, data throughput, hard-view augmentations, training step per method",
        description="network: forward+backward+Adam per architecture and input; data: loader throughput; "
        "augment: each hard-view augmentation on a batch; step: one training step per method "
        "(supervised, PoseCons, PoseDual, MultiAugs 2/4 paths) next to its bare network passes; "
        "eval: decoding (shift vs DARK) and the evaluation stages after the network; "
        "predict: persons/s of the prediction API (fp32, bf16, onnxruntime) next to the bare forward.",
    )
    b.add_argument("what", nargs="?", choices=["network", "data", "augment", "step", "eval", "predict", "all"], default="all")
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


def _trust_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow checkpoint files that need arbitrary unpickling (this can run code from the file: trusted files only)")


def _model_flags(p: argparse.ArgumentParser) -> None:
    """Flags that describe a reference checkpoint (semipose model files describe themselves)."""
    g = p.add_argument_group("reference checkpoints (pose_resnet, pose_hrnet, pose_cons, pose_dual)")
    g.add_argument("--arch", help="resnet18 ... resnet152, hrnet_w32, hrnet_w48 (default: inferred from the tensors)")
    g.add_argument("--keypoints", help="coco17, union24, mpii16, aic14, or a skeleton.json / COCO-format file (default: by head size)")
    g.add_argument("--color", choices=["rgb", "bgr"], help="input channel order the model was trained on (Semi_Human_Pose / MultiAugs: bgr)")
    g.add_argument("--input-size", type=_size, help="WIDTHxHEIGHT (default 192x256)")
    _trust_flag(p)


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import SemiposeError

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
    except (SemiposeError, OSError) as e:  # ours, and the system's own file errors (permission, disk full)
        print(f"semipose: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsemipose: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
