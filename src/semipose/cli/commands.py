"""The commands of ``semipose`` (train, eval, predict, export, data); each imports what it
needs when it runs, so ``semipose --help`` stays light."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataFormatError
from ..hub import is_remote

log = logging.getLogger("semipose")


def cmd_train(args: argparse.Namespace) -> int:
    from ..config import load_config

    cfg = load_config(args.config, args.overrides)  # a typo is reported before torch is imported
    from ..engine.trainer import train

    result = train(cfg, resume=args.resume, run_dir=args.run_dir, progress=not args.no_progress, trust_checkpoint=args.trust_checkpoint,
                   overwrite=args.overwrite)
    print(f"\nbest AP {result.best_ap:.4f} at epoch {result.best_epoch}")
    print(f"run folder: {result.run_dir}")
    return 0


def _read_model(args: argparse.Namespace, path: str):  # -> ModelFile
    """The model file of ``path`` with the reference-checkpoint flags of ``args``."""
    from ..models.modelfile import read_model_file

    return read_model_file(
        path, trust=args.trust_checkpoint, arch=args.arch, keypoints=_keypoints_flag(args.keypoints), color=args.color,
        input_size=args.input_size,
    )


def _keypoints_flag(spec: str | None):  # -> str | Skeleton | None
    """``--keypoints``: a built-in name, a ``skeleton.json`` or a COCO-format annotation file."""
    if spec is None or not (spec.endswith(".json") or Path(spec).is_file()):
        return spec
    from ..data.cocojson import read_json, skeleton_from_coco_file
    from ..skeletons import Skeleton

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
    from ..config import apply_overrides, config_from_dict, load_config

    if args.config and "=" in args.config and not Path(args.config).is_file():
        # "semipose eval --checkpoint X key=value": the first override landed in CONFIG
        args.overrides, args.config = [args.config, *args.overrides], None
    if args.config:
        return load_config(args.config, args.overrides)
    run_cfg = Path(args.checkpoint).parent.parent / "config.yaml"
    if not is_remote(args.checkpoint) and run_cfg.is_file():
        return load_config(run_cfg, args.overrides)
    base = mf.card.config_dict()
    base.setdefault("name", Path(args.checkpoint).stem)
    return config_from_dict(apply_overrides(base, args.overrides))


def eval_dir_for(checkpoint: str, stamp: str) -> Path:
    """Where ``eval --checkpoint`` writes without ``--out``: ``<run>/eval-<time>`` for a run's
    checkpoint (``<run>/checkpoints/*.pt``), else ``eval-<name>-<time>`` beside the model file."""
    p = Path(checkpoint).resolve()
    if p.parent.name == "checkpoints" and (p.parent.parent / "config.yaml").is_file():
        return p.parent.parent / f"eval-{stamp}"
    return p.parent / f"eval-{p.stem}-{stamp}"


def cmd_eval(args: argparse.Namespace) -> int:
    from ..engine.evaluate import arch_rows, evaluate_model_file, results_table
    from ..engine.runfolder import setup_logging
    from ..evaluation.coco import write_metrics_json
    from ..params import eval_names

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
    from ..threads import configure_threads

    configure_threads(cfg.num_threads)
    if not cfg.data.val.ann_file:
        raise ConfigError(f"{args.checkpoint}: no validation set to evaluate on: give CONFIG or data.val.ann_file=... data.val.image_dir=...")
    setup_logging(None)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if args.out:
        out = Path(args.out)
    elif is_remote(args.checkpoint):  # a downloaded model: beside the shell, not in the cache
        out = Path(f"eval-{Path(args.checkpoint.split('?')[0]).stem}-{stamp}")
    else:
        out = eval_dir_for(args.checkpoint, stamp)
    data, results = evaluate_model_file(cfg, mf, out, progress=not args.no_progress)
    names = eval_names(mf.card.num_nets)
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
    print(results_table(metrics, cfg.model.arch, data.metric, data.eval_skeleton, cfg.data.default_sigma))
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

    from ..image import read_image
    from ..predict.run import draw_prediction

    results = json.loads((out / f"keypoints_{name}_results.json").read_text())
    by_image: dict[int, list] = {}
    for r in results:
        by_image.setdefault(int(r["image_id"]), []).append(r)
    paths: dict[int, str] = {}
    for rec in data.records:
        paths.setdefault(rec.image_id, rec.image_path)
    (out / "vis").mkdir(exist_ok=True)
    for image_id, path in tqdm(paths.items(), desc="drawing", unit="img", disable=not progress, leave=False):
        pic = draw_prediction(read_image(path), by_image.get(image_id, []), skeleton, kpt_thr=kpt_thr)
        cv2.imwrite(str(out / "vis" / f"{Path(path).stem}.jpg"), pic, [cv2.IMWRITE_JPEG_QUALITY, 92])
    print(f"drawings of {len(paths)} images ({name}) in {out / 'vis'}")


def _eval_results(args: argparse.Namespace) -> int:
    """Score a results JSON (e.g. from ``semipose predict``) against a COCO keypoint file."""
    from ..data.cocojson import read_json, skeleton_from_coco_file
    from ..evaluation.coco import check_results, evaluate_coco_keypoints, format_metrics_table, load_coco_gt, write_metrics_json
    from ..skeletons import keypoint_name_mismatch

    if not args.gt:
        raise ConfigError("--results needs --gt ANNOTATIONS.json (the COCO keypoint file to score against)")
    sk = skeleton_from_coco_file(args.gt)
    model_sk, source = _results_keypoint_set(args)
    if model_sk is not None:
        problem = keypoint_name_mismatch(model_sk, sk)
        if problem:
            raise DataFormatError(f"{args.results} on {args.gt}: {problem}")
        sigmas = model_sk.sigmas  # the same sigmas as semipose eval --checkpoint of that model
    else:
        sigmas, source = sk.sigmas, f"the keypoint set of {args.gt} ({sk.name})"
    results = check_results(read_json(args.results), args.results, sk.num_keypoints)
    print(f"OKS sigmas: {source}")
    try:
        gt = load_coco_gt(args.gt, skeleton=sk)
    except ValueError as e:
        raise DataFormatError(str(e)) from None
    known = set(gt.getImgIds())
    stray = sorted({int(r.get("image_id", -1)) for r in results} - known)
    if stray:
        raise DataFormatError(
            f"{args.results}: {len(stray)} image id(s) are not in {args.gt} (e.g. {stray[0]}); predicted with the boxes of another file?"
        )
    metrics = evaluate_coco_keypoints(gt, results, sigmas=sigmas)
    print(format_metrics_table({Path(args.results).name: metrics}))
    if args.out:
        write_metrics_json(Path(args.out) / "metrics.json", metrics)
    return 0


def _results_keypoint_set(args: argparse.Namespace):  # -> tuple[Skeleton | None, str]
    """The keypoint set the results were predicted with, and where it comes from: the model of
    ``--checkpoint``, ``--keypoints``, or the ``image_info.json`` that ``semipose predict``
    wrote beside the results (its category carries the model's sigmas); else ``(None, "")``."""
    from ..data.cocojson import keypoint_category, read_json
    from ..skeletons import Skeleton, get_skeleton

    if args.checkpoint:
        return _read_model(args, args.checkpoint).card.keypoint_set, f"the model card of {args.checkpoint}"
    if args.keypoints:
        spec = _keypoints_flag(args.keypoints)
        return (spec if isinstance(spec, Skeleton) else get_skeleton(spec)), f"--keypoints {args.keypoints}"
    info = Path(args.results).parent / "image_info.json"
    if info.is_file():
        data = read_json(info)
        cat = keypoint_category(data, info, None) if isinstance(data, dict) else None
        if cat is not None and cat.get("sigmas") is not None:
            try:
                return Skeleton.from_coco_category(cat), f"the model's keypoint set, from {info}"
            except ValueError as e:
                raise DataFormatError(f"{info}: {e}") from None
    return None, ""


def cmd_predict(args: argparse.Namespace) -> int:
    from ..detect.person import DEFAULT_SCORE_THR, open_detector
    from ..engine.runfolder import setup_logging
    from ..predict.boxes import DetectorBoxes, WholeImage, box_source_for
    from ..predict.estimator import PoseEstimator
    from ..predict.run import run_predict
    from ..predict.sources import expand_sources
    from ..threads import check_threads

    if args.max_frames is not None and args.max_frames < 1:
        raise ConfigError(f"--max-frames: must be ≥ 1 (leave it out for every frame), got {args.max_frames}")
    setup_logging(None)  # the readers' info lines (detections kept and skipped, by reason) as eval prints them
    sources = expand_sources(args.sources)
    est = PoseEstimator.from_file(
        args.model, device=args.device, precision=args.precision, flip_test=args.flip_test, decoder=args.decoder,
        net=args.net, batch_size=args.batch_size, trust=args.trust_checkpoint, arch=args.arch,
        keypoints=_keypoints_flag(args.keypoints), color=args.color, input_size=args.input_size,
        num_threads=check_threads(args.threads, "--threads"),
    )
    card = est.card
    aspect = card.input_size[0] / card.input_size[1]
    if args.det_file and not args.boxes:
        raise ConfigError("--det-file needs --boxes IMAGE_INFO.json: the COCO-format file listing the images the detections refer to")
    if args.detector and args.detector != "none" and (args.boxes or args.whole_image):
        raise ConfigError("--detector finds the boxes itself: give it without --boxes / --whole-image")
    thr = DEFAULT_SCORE_THR if args.det_score_thr is None else args.det_score_thr
    boxes: Any
    if args.boxes and not args.whole_image:
        boxes = box_source_for(args.boxes, args.det_file, aspect=aspect, padding=card.padding, score_thr=thr)
    elif args.detector and args.detector != "none":
        boxes = DetectorBoxes(open_detector(args.detector, thr, progress=not args.no_progress), aspect=aspect, padding=card.padding)
    else:
        if not args.whole_image and args.detector != "none":
            log.info("no --boxes or --detector given: one box per image covering the whole image "
                     "(for group photos: --detector yolox-m-humanart, or person boxes)")
        boxes = WholeImage(aspect, card.padding)
    out = Path(args.out) if args.out else Path("predictions") / time.strftime("%Y%m%d-%H%M%S")
    print(
        f"model {args.model}: {card.arch} x {card.num_nets} ({est.backend}, {est.precision}, network {card.use}), "
        f"{card.input_size[0]}x{card.input_size[1]}, {card.num_keypoints} keypoints ({card.skeleton.get('name')}), "
        f"flip test {'on' if est.flip_test else 'off'}, decoder {est.decoder}; boxes: {boxes.description}", flush=True,
    )
    s = run_predict(
        est, sources, boxes, out, draw=not args.no_draw, kpt_thr=args.kpt_thr, heatmaps=args.heatmaps,
        nms=not args.no_nms, max_frames=args.max_frames, progress=not args.no_progress, smooth=args.smooth,
    )
    done = s.images + s.frames
    rate = done / s.seconds if s.seconds > 0 else 0.0
    parts = [f"{s.images} images" if s.images or not s.frames else "", f"{s.frames} video frames" if s.frames else ""]
    print(f"\n{', '.join(p for p in parts if p)}, {s.persons} persons in {s.seconds:.1f}s ({rate:.1f} images/s)")
    if s.no_boxes:
        print(f"skipped {len(s.no_boxes)} image(s) not in the boxes file")
    if isinstance(boxes, DetectorBoxes):
        print(f"detector: {boxes.kept} person box(es) kept on {boxes.images} image(s)/frame(s) (score ≥ {thr})")
    for v in s.videos:
        print(f"drawn video: {v}")
    for t in s.tables:
        print(f"keypoints per frame (DeepLabCut / lightning-pose CSV layout): {t}")
    print(f"results: {s.results_file} (image info: {out / 'image_info.json'})" + ("" if args.no_draw else f"; drawings: {out / 'vis'}"))
    if s.failed:
        print(f"semipose: error: {len(s.failed)} input(s) failed (listed above)", file=sys.stderr)
        return 2
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..params import parse_net

    mf = _read_model(args, args.model)
    net = parse_net(args.net) if args.net is not None else None
    src = Path(Path(args.model.split("?")[0]).name) if is_remote(args.model) else Path(args.model)  # a download: export beside the shell
    if args.format == "onnx":
        from ..predict.onnx import export_onnx

        out = Path(args.output) if args.output else src.with_suffix(".onnx")
        path, card = export_onnx(mf, out, net=net, opset=args.opset)
        if not args.no_check:
            try:
                _check_onnx(mf, path, card.use)
            except Exception:
                path.unlink(missing_ok=True)  # a file onnxruntime cannot run is not left behind as the export
                raise
    else:
        import torch

        from ..models.modelfile import model_file_payload

        out = Path(args.output) if args.output else src.with_name(src.stem + "-model.pt")
        if out.resolve() == src.resolve():

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

    from ..predict.onnx import OnnxBackend

    ort = OnnxBackend(path)
    module = mf.card.predictor(mf.build_nets("cpu"), use)
    w, h = mf.card.input_size
    x = torch.randn(3, 3, h, w, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = module(x).numpy()
    got = ort(x).numpy()
    print(f"onnxruntime vs torch on a random batch of 3: max |heatmap difference| {float(np.abs(ref - got).max()):.2e}")


def cmd_data_synth(args: argparse.Namespace) -> int:
    from ..synth import generate_synthetic

    try:
        summary = generate_synthetic(
            args.out, num_train=args.train, num_unlabeled=args.unlabeled, num_val=args.val,
            image_size=args.image_size, seed=args.seed, difficulty=args.difficulty, workers=args.workers,
            progress=not args.no_progress, overwrite=args.overwrite,
        )
    except ValueError as e:  # the argument checks at its top
        raise ConfigError(f"data synth: {e}") from None
    except FileExistsError as e:
        raise ConfigError(f"data synth: {str(e).replace('pass overwrite=True', 'give --overwrite')}") from None
    for split, c in summary.counts.items():
        print(f"{split:>10}: {c['images']} images, {c['persons']} persons")
    print(f"written to {summary.out_dir} in {summary.seconds:.1f}s")
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from ..predict.suggest import suggest_from_file

    r = suggest_from_file(args.model, args.sources, args.out, n=args.n, stride=args.stride, min_gap=args.min_gap, device=args.device,
                          trust=args.trust_checkpoint, progress=not args.no_progress, overwrite=args.overwrite)
    print(f"{len(r.frames)} frames scored (every {r.stride}th of each video) by {r.how}, low confidence and jumps; {len(r.chosen)} chosen:")
    for f in r.chosen:
        print(f"  {f.source} frame {f.index}: disagreement {f.disagreement:.1f} px, confidence {f.confidence:.2f}, jump {f.jump:.1f} px")
    print(f"written to {r.out_dir}: frames/, scores.csv, labeled-data/suggested/ (DeepLabCut), label_studio_tasks.json"
          + (", contact_sheet.jpg" if r.chosen else ""))
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from ..data.importers import import_and_configure

    r = import_and_configure(args.src, args.format, args.out, images=args.images, copy=args.copy, val_every=args.val_every,
                             videos=args.videos or [])
    s, cfg = r.summary, r.config
    total = s.labelled_keypoints + s.empty_keypoints
    print(f"{s.images} images, {s.instances} instances ({s.labelled_instances} with labels), "
          f"{len(s.keypoints)} keypoints ({', '.join(s.keypoints[:6])}"
          f"{' …' if len(s.keypoints) > 6 else ''}); {s.labelled_keypoints} of {total} keypoints labelled (empty cells → v = 0)")
    if any(s.skipped.values()):
        print("left out: " + ", ".join(f"{n} {what}" for what, n in s.skipped.items() if n)
              + " (only user-labelled instances are imported)")
    print(f"written: {s.annotations} and {s.out_dir / 'images'}")
    print(r.held_out)
    print(f"\nto train on it (config: {r.config_path}; whole frames at {cfg['data']['input_size'][0]}x{cfg['data']['input_size'][1]}, "
          f"{cfg['model']['arch']} from ImageNet, {cfg['train']['max_steps']} steps, method {cfg['ssl']['method']}):\n"
          f"  semipose train {r.config_path}")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    """Read every split of a config and check every image file; list all problems."""
    from ..config import load_config
    from ..data.sources import build_skeleton, load_split
    from ..image import check_image_file

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
