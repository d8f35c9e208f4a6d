"""The ``semipose`` command.

    semipose train   CONFIG [key=value ...] [--resume RUN|CKPT]
    semipose eval    [CONFIG] --checkpoint PATH [key=value ...] [--det-file F] [--flip-test] [--decoder shift|dark]
                     [--format-only] [--save-vis] [--out DIR]   (two-network checkpoints: net 1, net 2 and the ensemble)
    semipose eval    --results PREDICTIONS.json --gt ANNOTATIONS.json
    semipose predict MODEL SOURCE... [--boxes F | --det-file F --boxes IMAGE_INFO | --whole-image] [--out DIR]
    semipose export  MODEL [--format onnx|pt] [--net 1|2|ensemble] [-o FILE]
    semipose suggest MODEL SOURCE... --out DIR [--n N] [--stride S] [--min-gap G]
    semipose compare CONFIG --out DIR [--methods A,B] [--budgets 10,all] [--repeats N] [--steps N] [--dry-run]
    semipose models  [list|fetch NAME...] [--remote hf://OWNER/REPO]
    semipose data    synth OUT [...] | import SRC --format F --out DIR [...] | check CONFIG
    semipose bench   {network,data,augment,step,eval,predict,all} [--arch A,B] [--input WxH,...] [--batch N] [--json FILE]

One module per command (``cli/<command>.py``): its ``register(sub)`` adds its parser and
arguments, its ``run(args)`` does what the library does not (reading the arguments, printing);
the work itself is in the library, callable from Python. Modules import torch only inside
``run``, so ``--help`` and argument errors are instant.

Errors in the user's input (files, configs, checkpoints) print one clear line and exit 2.
Checkpoints are read with ``torch.load(weights_only=True)``; a file that needs arbitrary
unpickling is refused unless ``--trust-checkpoint`` is given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import bench, compare, data, export, models, predict, suggest, train
from . import eval as eval_command

__all__ = ["main", "build_parser", "COMMANDS"]

#: the command modules, in the order ``semipose --help`` lists them
COMMANDS = (train, eval_command, predict, export, suggest, compare, models, data, bench)


def build_parser() -> argparse.ArgumentParser:
    """The ``semipose`` parser: each command module registers its own sub-command."""
    p = argparse.ArgumentParser(prog="semipose", description="Semi-supervised 2D human pose estimation.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")
    for command in COMMANDS:
        command.register(sub)
    return p


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

