"""``semipose train CONFIG [key=value ...]``: train a model from a YAML config."""

from __future__ import annotations

import argparse
from typing import Any

from .common import trust_flag


def register(sub: Any) -> None:
    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("config", help="experiment YAML")
    t.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.epochs=5 data.workers=0")
    t.add_argument("--resume", help="run folder or checkpoints/last.pt to continue")
    t.add_argument("--run-dir", help="write into this folder instead of output_dir/name (refused if it holds a run, unless --resume or --overwrite)")
    t.add_argument("--overwrite", action="store_true", help="--run-dir holds an earlier run: remove its results and start over")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    trust_flag(t)
    t.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config

    cfg = load_config(args.config, args.overrides)  # a typo is reported before torch is imported
    from ..engine.trainer import train

    result = train(cfg, resume=args.resume, run_dir=args.run_dir, progress=not args.no_progress, trust_checkpoint=args.trust_checkpoint,
                   overwrite=args.overwrite)
    print(f"\nbest {result.score_key} {result.best_ap:.4f} at epoch {result.best_epoch}")
    print(f"run folder: {result.run_dir}")
    return 0
