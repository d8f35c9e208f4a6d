"""``semipose predict MODEL SOURCE...``: poses on images, folders, globs, videos or a camera."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..params import DECODERS, PRECISIONS
from .common import keypoints_arg, model_flags

log = logging.getLogger("semipose")


def register(sub: Any) -> None:
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
                    "a .onnx / deployment .zip file, a URL or hf:// path; or your animals with an instance finder's model file "
                    "(a .pt trained from finder.yaml); 'none': the whole image (default without --boxes)")
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
    pr.add_argument("--smooth", action="store_true", help="videos: also write <video>_smoothed.csv, each track's trajectories through a "
                    "constant-velocity Kalman smoother weighted by the keypoint confidences")
    pr.add_argument("--track-gap", type=int, default=10, help="videos: frames an instance may go unseen before its track ends "
                    "(instances are tracked through a video by keypoint distance and motion; default 10)")
    pr.add_argument("--no-progress", action="store_true")
    model_flags(pr)
    pr.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..detect.person import DEFAULT_SCORE_THR
    from ..engine.runfolder import setup_logging
    from ..models.finder import open_instance_detector
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
        keypoints=keypoints_arg(args), color=args.color, input_size=args.input_size,
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
        det = open_instance_detector(args.detector, args.det_score_thr, device=args.device, trust=args.trust_checkpoint,
                                     progress=not args.no_progress)
        thr = getattr(getattr(det, "params", None), "threshold", thr)  # a finder's own peak threshold
        boxes = DetectorBoxes(det, aspect=aspect, padding=card.padding)
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
        nms=not args.no_nms, max_frames=args.max_frames, progress=not args.no_progress, smooth=args.smooth, track_gap=args.track_gap,
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
