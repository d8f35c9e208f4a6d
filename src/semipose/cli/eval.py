"""``semipose eval``: a model's COCO keypoint AP/AR (``--checkpoint``), or a results file's
(``--results --gt``)."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..hub import is_remote
from ..params import DECODERS
from .common import keypoints_arg, model_flags, read_model

log = logging.getLogger("semipose")


def register(sub: Any) -> None:
    e = sub.add_parser("eval", help="evaluate a checkpoint (COCO keypoint AP/AR)")
    e.add_argument("config", nargs="?", help="experiment YAML (default: the run folder's config.yaml)")
    e.add_argument("overrides", nargs="*", help="dotted overrides")
    e.add_argument("--checkpoint", help="a model file (best.pt, last.pt, model.pt) or a reference checkpoint")
    e.add_argument("--results", help="score this COCO results JSON (e.g. semipose predict's predictions.json) instead")
    e.add_argument("--gt", help="with --results: the COCO keypoint file to score against")
    e.add_argument("--save-vis", action="store_true", help="draw the predictions on every evaluated image into OUT/vis")
    e.add_argument("--kpt-thr", type=float, default=0.3, help="--save-vis: keypoints scoring below this are not drawn")
    e.add_argument("--det-file", help="evaluate on these person-detector boxes instead of GT boxes")
    e.add_argument("--detector", help="several instances a frame: find them with this instance finder's model file (or a person "
                   "detector) on the validation frames, then score the matched instances beside the same model on the label boxes")
    e.add_argument("--det-score-thr", type=float, default=None, help="--detector: its score threshold (default: its own)")
    e.add_argument("--flip-test", action="store_true", help="average with the horizontally flipped input")
    e.add_argument("--format-only", action="store_true", help="write the results JSON without scoring (COCO test-dev)")
    e.add_argument("--decoder", choices=DECODERS, help="heatmap decoding (default: the config's eval.decoder, shift)")
    e.add_argument("--out", help="output folder (default: <run>/eval-<time> for a run's checkpoint, else eval-<name>-<time> beside the "
                   "model file; for a URL, in the current folder)")
    e.add_argument("--no-progress", action="store_true")
    model_flags(e)
    e.set_defaults(func=run)


def eval_dir_for(checkpoint: str, stamp: str) -> Path:
    """Where ``eval --checkpoint`` writes without ``--out``: ``<run>/eval-<time>`` for a run's
    checkpoint (``<run>/checkpoints/*.pt``), else ``eval-<name>-<time>`` beside the model file."""
    p = Path(checkpoint).resolve()
    if p.parent.name == "checkpoints" and (p.parent.parent / "config.yaml").is_file():
        return p.parent.parent / f"eval-{stamp}"
    return p.parent / f"eval-{p.stem}-{stamp}"


def _read_for_eval(args: argparse.Namespace, given: Any) -> Any:
    """The model of ``--checkpoint``, read once. A reference file without ``--keypoints`` takes the
    keypoint set of CONFIG (``data.skeleton`` or its annotation file) when the head has as many
    channels (CONFIG names the set: crowdpose14 over aic14, posetrack17 over coco17), else the
    built-in set of that size. ``given``: CONFIG loaded (:func:`_given_config`), or None."""
    from ..models.reader import read_weights

    wf = read_weights(args.checkpoint, trust=args.trust_checkpoint)
    keypoints = keypoints_arg(args)
    head = wf.states[0].get("final_layer.weight") if wf.kind == "reference" and wf.states else None
    if head is not None and keypoints is None and given is not None:
        from ..data.sources import build_skeleton

        sk = build_skeleton(given)
        if sk.num_keypoints == int(head.shape[0]):
            log.info("%s: a reference file of %d keypoints: scored as %s, the keypoint set of %s", wf.path, sk.num_keypoints, sk.name,
                     args.config)
            keypoints = sk
    return read_model(args, wf, keypoints=keypoints)


def _given_config(args: argparse.Namespace) -> Any:
    """CONFIG with the overrides, loaded once; None without CONFIG."""
    from ..config import load_config

    if args.config and "=" in args.config and not Path(args.config).is_file():
        # "semipose eval --checkpoint X key=value": the first override landed in CONFIG
        args.overrides, args.config = [args.config, *args.overrides], None
    return load_config(args.config, args.overrides) if args.config else None


def _config(args: argparse.Namespace, mf: Any, given: Any) -> Any:
    """The evaluation config: CONFIG (``given``), else the run folder's config.yaml, else the
    model card's config, else (reference files) one made from the card; overrides on top."""
    from ..config import apply_overrides, config_from_dict, load_config

    if given is not None:
        return given
    run_cfg = Path(args.checkpoint).parent.parent / "config.yaml"
    if not is_remote(args.checkpoint) and run_cfg.is_file():
        return load_config(run_cfg, args.overrides)
    base = mf.card.config_dict()
    base.setdefault("name", Path(args.checkpoint).stem)
    return config_from_dict(apply_overrides(base, args.overrides))


def run(args: argparse.Namespace) -> int:
    from ..engine.evaluate import arch_rows, evaluate_model_file, results_table
    from ..engine.results import draw_eval_results
    from ..engine.runfolder import setup_logging
    from ..evaluation.coco import write_metrics_json
    from ..params import eval_names
    from ..threads import configure_threads

    if args.results:
        return _score_results(args)
    if not args.checkpoint:
        raise ConfigError("semipose eval needs --checkpoint MODEL (or --results PREDICTIONS.json --gt ANNOTATIONS.json)")
    setup_logging(None)
    given = _given_config(args)
    mf = _read_for_eval(args, given)
    cfg = _config(args, mf, given)
    if args.det_file:
        cfg.data.val.det_file = str(Path(args.det_file).resolve())  # relative to the shell, not data.root
        cfg.eval.use_gt_boxes = False
    cfg.eval.flip_test = cfg.eval.flip_test or args.flip_test
    cfg.eval.decoder = args.decoder or cfg.eval.decoder
    cfg.eval.format_only = cfg.eval.format_only or args.format_only
    configure_threads(cfg.num_threads)
    if not cfg.data.val.ann_file:
        raise ConfigError(f"{args.checkpoint}: no validation set to evaluate on: give CONFIG or data.val.ann_file=... data.val.image_dir=...")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if args.out:
        out = Path(args.out)
    elif is_remote(args.checkpoint):  # a downloaded model: beside the shell, not in the cache
        out = Path(f"eval-{Path(args.checkpoint.split('?')[0]).stem}-{stamp}")
    else:
        out = eval_dir_for(args.checkpoint, stamp)
    if args.detector:
        return _score_pipeline(args, cfg, mf, out)
    data, results = evaluate_model_file(cfg, mf, out, progress=not args.no_progress)
    names = eval_names(mf.card.num_nets)
    proto = data.protocol
    if data.metric == "finder":
        print(f"\nprotocol: {proto['boxes']}; {proto['metric']}; {proto['frames']} frames, {proto['instances']} instances")
    else:
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
        shown = names[0] if len(names) == 1 else mf.card.use
        assert data.eval_skeleton is not None  # build_eval_data sets it
        n = draw_eval_results(out, data, data.eval_skeleton, shown, args.kpt_thr, progress=not args.no_progress)
        print(f"drawings of {n} images ({shown}) in {out / 'vis'}")
    print(f"results and metrics written to {out}")
    return 0


def _score_results(args: argparse.Namespace) -> int:
    """``--results R --gt GT``: score a results JSON (e.g. from ``semipose predict``)."""
    from ..engine.results import results_keypoint_set, score_results
    from ..evaluation.coco import format_metrics_table, write_metrics_json

    if not args.gt:
        raise ConfigError("--results needs --gt ANNOTATIONS.json (the COCO keypoint file to score against)")
    if args.checkpoint:
        sk, source = read_model(args, args.checkpoint).card.keypoint_set, f"the model card of {args.checkpoint}"
    else:
        sk, source = results_keypoint_set(args.results, keypoints_arg(args))
        source = f"--keypoints {args.keypoints}" if args.keypoints else source
    score = score_results(args.results, args.gt, keypoint_set=sk, source=source)
    print(f"OKS sigmas: {score.sigmas_from}")
    print(format_metrics_table({Path(args.results).name: score.metrics}))
    if args.out:
        write_metrics_json(Path(args.out) / "metrics.json", score.metrics)
    return 0


def _score_pipeline(args: argparse.Namespace, cfg: Any, mf: Any, out: Path) -> int:
    """``--detector``: the finder (or detector) then the pose model on the validation frames, beside
    the label boxes (:func:`semipose.predict.pipeline.evaluate_pipeline`); ``OUT/pipeline.json``."""
    from ..predict.pipeline import evaluate_pipeline, format_pipeline_table

    rows = evaluate_pipeline(cfg, mf, args.detector, out, score_thr=args.det_score_thr, trust=args.trust_checkpoint,
                             progress=not args.no_progress)
    print(f"\n{len(rows[0].score.errors) + rows[0].score.missed} labelled instances on {rows[0].score.frames} frames of "
          f"{cfg.data.val.ann_file}; instances matched by mean keypoint distance (Hungarian)")
    print(format_pipeline_table(rows))
    print(f"written to {out / 'pipeline.json'}")
    return 0
