"""``semipose suggest MODEL SOURCE... --out DIR``: which unlabelled frames to label next."""

from __future__ import annotations

import argparse
from typing import Any

from .common import trust_flag


def register(sub: Any) -> None:
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
    su.add_argument("--mode", choices=("uncertainty", "diverse", "random"), default="uncertainty",
                    help="how frames are picked: uncertainty (the highest scores; default), diverse (k-means of the predicted poses "
                    "into N clusters, the best of each), random (a seeded draw, the control). On mirror-mouse the uncertainty picks did "
                    "worse than random frames, and no mode has yet been shown to beat random (docs/results.md)")
    su.add_argument("--seed", type=int, default=0, help="seed of the diverse and random modes (default 0)")
    su.add_argument("--overwrite", action="store_true", help="replace an earlier suggestion in --out (its frames are removed)")
    su.add_argument("--device", default="auto")
    su.add_argument("--no-progress", action="store_true")
    trust_flag(su)
    su.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..predict.suggest import suggest_from_file

    r = suggest_from_file(args.model, args.sources, args.out, n=args.n, stride=args.stride, min_gap=args.min_gap, device=args.device,
                          trust=args.trust_checkpoint, progress=not args.no_progress, overwrite=args.overwrite,
                          mode=args.mode, seed=args.seed)
    print(f"{len(r.frames)} frames scored (every {r.stride}th of each video) by {r.how}, low confidence and jumps; {len(r.chosen)} chosen:")
    for f in r.chosen:
        print(f"  {f.source} frame {f.index}: disagreement {f.disagreement:.1f} px, confidence {f.confidence:.2f}, jump {f.jump:.1f} px")
    print(f"written to {r.out_dir}: frames/, scores.csv, labeled-data/suggested/ (DeepLabCut), label_studio_tasks.json"
          + (", contact_sheet.jpg" if r.chosen else ""))
    return 0
