"""``semipose data``: ``synth`` (the synthetic dataset), ``import`` (a labelling tool's project)
and ``check`` (every split of a config readable)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError
from ..params import IMPORT_FORMATS
from .common import size


def register(sub: Any) -> None:
    d = sub.add_parser("data", help="dataset tools")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="generate the synthetic COCO-format dataset")
    s.add_argument("out", help="output folder")
    s.add_argument("--train", type=int, default=2000, help="labelled training images")
    s.add_argument("--unlabeled", type=int, default=2000, help="unlabelled images")
    s.add_argument("--val", type=int, default=500, help="validation images")
    s.add_argument("--image-size", type=size, default=(320, 240), help="WIDTHxHEIGHT (default 320x240)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--difficulty", type=float, default=1.0, help="nuisance level (default 1.0)")
    s.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing synthetic set in OUT")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=run_synth)
    im = dsub.add_parser("import", help="a labelling tool's project → DIR/annotations.json (COCO keypoints) + DIR/images",
                         description="Import labels: a DeepLabCut / lightning-pose CSV or .h5 (--format dlc), "
                         "a SLEAP .slp / .pkg.slp (--format sleap; frames of videos are read from the videos, frames embedded in a "
                         "package are written to OUT/images), a Label Studio JSON export (--format label-studio) or a COCO keypoint file "
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
    im.set_defaults(func=run_import)
    c = dsub.add_parser("check", help="read every split of a config and check every image (missing, empty, cut short)")
    c.add_argument("config", help="experiment YAML")
    c.add_argument("overrides", nargs="*", help="dotted overrides")
    c.set_defaults(func=run_check)


def run_synth(args: argparse.Namespace) -> int:
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


def run_import(args: argparse.Namespace) -> int:
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
    crops = "one crop per instance (its label box ×1.25)" if cfg["data"]["padding"] != 1.0 else "whole frames"
    print(f"\nto train on it (config: {r.config_path}; {crops} at {cfg['data']['input_size'][0]}x{cfg['data']['input_size'][1]}, "
          f"{cfg['model']['arch']} from ImageNet, {cfg['train']['max_steps']} steps, method {cfg['ssl']['method']}):\n"
          f"  semipose train {r.config_path}")
    if r.finder_path is not None:
        print(f"and its instance finder (finds each animal on the whole frame; then `semipose predict POSE_MODEL VIDEO --detector "
              f"FINDER_MODEL`):\n  semipose train {r.finder_path}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Read every split of a config and check every image file; list all problems."""
    from ..config import load_config
    from ..data.sources import check_data

    lines, problems = check_data(load_config(args.config, args.overrides))
    print("\n".join(lines))
    if problems:
        print(f"semipose: error: {problems} problem(s) (listed above)", file=sys.stderr)
        return 2
    print("all splits readable")
    return 0
