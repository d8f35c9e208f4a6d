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
import sys
from collections.abc import Sequence

from ..params import DECODERS, IMPORT_FORMATS, PRECISIONS
from .bench import cmd_bench
from .commands import cmd_data_check, cmd_data_import, cmd_data_synth, cmd_eval, cmd_export, cmd_predict, cmd_suggest, cmd_train
from .models import cmd_models

__all__ = ["main", "build_parser"]


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 192x256, got {text!r}") from None


def _sizes(text: str) -> list[tuple[int, int]]:
    return [_size(t) for t in text.split(",") if t]


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
    e.add_argument("--out", help="output folder (default: <run>/eval-<time> for a run's checkpoint, else eval-<name>-<time> beside the "
                   "model file; for a URL, in the current folder)")
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
    pr.add_argument("--det-score-thr", type=float, default=None,
                    help="skip detections below this score (default 0.3 for --det-file and --detector; the COCO protocol of eval uses all)")
    pr.add_argument("--detector", help="find persons with an ONNX person detector: a name (`semipose models`: yolox-m-humanart …), "
                    "a .onnx / deployment .zip file, a URL or hf:// path; 'none': the whole image (default without --boxes)")
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
    pr.add_argument("--precision", default="fp32", choices=PRECISIONS, help="autocast precision of the network")
    pr.add_argument("--batch-size", type=int, default=32, help="persons per forward pass")
    pr.add_argument("--threads", type=int, default=0, help="CPU threads (default 0: the free cores, re-measured as the load changes)")
    pr.add_argument("--max-frames", type=int, default=None, help="videos and cameras: stop after this many frames")
    pr.add_argument("--smooth", action="store_true", help="videos: also write <video>_smoothed.csv, the trajectories through a "
                    "constant-velocity Kalman smoother weighted by the keypoint confidences (one person per frame)")
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

    su = sub.add_parser(
        "suggest", help="rank unlabelled frames (videos, folders) by the model's uncertainty: which to label next",
        description="Score every frame (a whole-frame box each) by the disagreement of a two-network model's networks (or of one "
        "network with its mirrored-frame prediction), low confidence and, in videos, jumps; take the N best that are not neighbours; "
        "write them as images, scores.csv, a DeepLabCut labeled-data folder and a Label Studio task list, and a contact sheet.",
    )
    su.add_argument("model", help="model file (best.pt ...), URL or hf:// path")
    su.add_argument("sources", nargs="+", help="videos, image files or folders")
    su.add_argument("--n", type=int, default=10, help="frames to choose (default 10)")
    su.add_argument("--out", required=True, help="output folder")
    su.add_argument("--stride", type=int, default=0,
                    help="videos: score every this-many-th frame (default 0: at most 200 frames of the longest video; each is predicted twice)")
    su.add_argument("--min-gap", type=int, default=10, help="chosen frames of one video are more than this many frames apart (default 10)")
    su.add_argument("--overwrite", action="store_true", help="replace an earlier suggestion in --out (its frames are removed)")
    su.add_argument("--device", default="auto")
    su.add_argument("--no-progress", action="store_true")
    _trust_flag(su)
    su.set_defaults(func=cmd_suggest)

    mo = sub.add_parser(
        "models", help="the known models and backbones (source, cache); fetch one into the cache; list a hub repository",
        description="Model sources: every option that takes a model or weights file (predict, eval --checkpoint, export, "
        "model.pretrained, model.init_weights, PoseEstimator.from_file) also takes an http(s) URL, hf://OWNER/REPO/PATH[@REV] "
        "or a name listed here; downloads are cached in $SEMIPOSE_CACHE, else torch.hub's $TORCH_HOME/hub/checkpoints.",
    )
    mo.add_argument("action", nargs="?", choices=["list", "fetch"], default="list",
                    help="list (default): the known names; fetch: download NAME into the cache (then copy the cache to a machine without a network)")
    mo.add_argument("name", nargs="*", help="fetch: names, URLs or hf:// paths")
    mo.add_argument("--remote", help="list the checkpoint files of a hub repository: hf://OWNER/REPO[@REVISION]")
    mo.add_argument("--no-progress", action="store_true")
    mo.set_defaults(func=cmd_models)

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
    im = dsub.add_parser("import", help="a labelling tool's project → DIR/annotations.json (COCO keypoints) + DIR/images",
                         description="Import labels: a DeepLabCut / lightning-pose CSV or .h5 (--format dlc), "
                         "a SLEAP .slp / .pkg.slp (--format sleap; frames of videos are written to OUT/images), a Label Studio JSON export "
                         "(--format label-studio) or a COCO keypoint file "
                         "(--format coco, e.g. CVAT's export). Writes OUT/annotations.json and OUT/images/ (links, or --copy), "
                         "train.json / val.json (every --val-every th frame held out) and OUT/config.yaml, the training config of the project.")
    im.add_argument("src", help="the labels file: CollectedData*.csv or .h5 (dlc), a .slp (sleap), "
                    "a Label Studio JSON export (label-studio) or a COCO JSON (coco)")
    im.add_argument("--format", required=True, choices=IMPORT_FORMATS)
    im.add_argument("--out", required=True, help="output folder")
    im.add_argument("--images", help="the folder the labels' image paths are relative to (default: the labels file's folder, then its parents)")
    im.add_argument("--copy", action="store_true", help="copy the images instead of linking them")
    im.add_argument("--videos", nargs="+", metavar="VIDEO", help="unlabelled videos or folders of videos for the config's "
                    "data.unlabeled.videos (a semi-supervised method then trains on their frames)")
    im.add_argument("--val-every", type=int, default=10, metavar="N",
                    help="hold every Nth labelled frame out for validation (val.json; default 10; 0: none)")
    im.set_defaults(func=cmd_data_import)

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
    b.add_argument("--arch", default=None, help="comma-separated networks (network: resnet18,resnet50, on a CPU resnet18; step: resnet18)")
    b.add_argument("--input", type=_sizes, default=None,
                   help="comma-separated WIDTHxHEIGHT (network/data: 192x256,96x128; augment: 192x256; step: 96x128)")
    b.add_argument("--batch", type=int, default=None, help="batch size (default 32, network on a CPU 16; step: 16 labelled + 16 unlabelled)")
    b.add_argument("--methods", default=None,
                   help="step: comma-separated subset of supervised,posecons,posedual,multiaugs-2,multiaugs-4,multiaugs-dual,sspcm")
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
    from ..errors import SemiposeError

    parser = build_parser()
    # dotted overrides may follow options too ("train cfg.yaml --no-progress train.epochs=2")
    args, extra = parser.parse_known_args(argv)
    if extra:
        bad = [x for x in extra if x.startswith("-") or "=" not in x or not hasattr(args, "overrides")]
        if bad:
            parser.error(f"unrecognized arguments: {' '.join(bad)}")
        args.overrides = [*args.overrides, *extra]
    if args.version:
        from .._version import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from ..hub import download_progress, set_download_progress

    shown = download_progress()
    set_download_progress(shown and not getattr(args, "no_progress", False))  # --no-progress hides the download bar too
    try:
        return int(args.func(args) or 0)
    except (SemiposeError, OSError) as e:  # ours, and the system's own file errors (permission, disk full)
        print(f"semipose: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsemipose: interrupted", file=sys.stderr)
        return 130
    finally:
        set_download_progress(shown)

