"""``semipose compare CONFIG``: does the unlabelled data help on this project, and which way?"""

from __future__ import annotations

import argparse
import time
from typing import Any


def register(sub: Any) -> None:
    c = sub.add_parser(
        "compare", help="methods x label budgets x repeats on one project: does the unlabelled data help here?",
        description="Train every line (a named set of config overrides) at every label budget on every repeat's split, the same "
        "steps from the same start, score each on its repeat's test frames, and report the test RMSE, median and PCK@10 px with "
        "95 % bootstrap intervals, the paired difference to supervised, per-keypoint errors, the compute spent and a verdict "
        "(compare.md, compare.json, compare.png in --out). Finished cells go into a results file and are never run again.",
    )
    c.add_argument("config", help="the project's config (semipose data import writes one)")
    c.add_argument("overrides", nargs="*", help="dotted overrides for every cell, e.g. data.input_size=[128,128]")
    c.add_argument("--methods", default="supervised,multiaugs-ema",
                   help="comma-separated lines; built in: supervised, multiaugs-ema, temporal, pose-prior, video, multiaugs-ema-video, "
                   "posedual (default supervised,multiaugs-ema)")
    c.add_argument("--line", action="append", default=[], metavar="NAME:KEY=VALUE ...",
                   help="define a line, e.g. --line 'cons-jo:ssl.method=posecons ssl.paths=[JO]' (repeatable)")
    c.add_argument("--budgets", default="10,all", help="labelled frames per cell, comma-separated, 'all' = every non-test frame (default 10,all)")
    c.add_argument("--repeats", type=int, default=3, help="splits: seeds, and folds of a small project (default 3)")
    c.add_argument("--steps", type=int, default=0, help="training steps of every cell (default: the config's train.max_steps)")
    c.add_argument("--until-plateau", action="store_true",
                   help="instead of --steps: train supervised at the largest budget (repeat 0) until its test RMSE stops improving "
                   "(2 %% over 2 checks, every --plateau-every steps, at most --max-steps); every line then gets those steps. "
                   "The search is recorded in the results file and not run again")
    c.add_argument("--plateau-every", type=int, default=200, help="steps between the plateau search's checks (default 200)")
    c.add_argument("--max-steps", type=int, default=4000, help="the plateau search's limit (default 4000)")
    c.add_argument("--test", default="auto",
                   help="test frames: val (the config's validation file), folds (each labelled frame tested once over the repeats), "
                   "last:N (the last N frames in frame order), auto (val from 300 frames on, else folds; default)")
    c.add_argument("--unlabeled", choices=("config", "pool"), default="config",
                   help="the unlabelled set: the config's (default), or pool: every non-test frame cropped by its label box, labels dropped")
    c.add_argument("--out", required=True, help="the comparison's folder (splits, runs, reports)")
    c.add_argument("--results", help="the finished cells' file (default OUT/cells.jsonl); commit it to resume elsewhere")
    c.add_argument("--seed", type=int, default=0, help="seed of the splits (default 0)")
    c.add_argument("--dry-run", action="store_true", help="print the grid, what is done, and the estimated time on this machine; train nothing")
    c.add_argument("--report-only", action="store_true", help="write the report of the finished cells; train nothing")
    c.add_argument("--keep-runs", action="store_true", help="keep each cell's checkpoints (default: removed once scored)")
    c.add_argument("--no-progress", action="store_true")
    c.set_defaults(func=run)


def _hms(s: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(max(s, 0.0)))


def run(args: argparse.Namespace) -> int:
    from ..engine.compare import plan_grid

    grid = plan_grid(args.config, args.overrides, methods=args.methods.split(","), budgets=args.budgets.split(","), repeats=args.repeats,
                     steps=args.steps or (args.max_steps if args.until_plateau else 0), test=args.test, out=args.out,
                     results=args.results, seed=args.seed, unlabeled=args.unlabeled, extra_lines=args.line)
    cells, todo = grid.cells, grid.todo
    print(f"compare {args.config}: {len(grid.lines)} line(s) x {len(grid.budgets)} budget(s) x {len(grid.splits)} repeat(s) = "
          f"{len(cells)} cells, {grid.steps} steps each; {len(cells) - len(todo)} finished in {grid.results}")
    print(f"test frames: {grid.test_what}")
    if args.until_plateau:
        from ..engine.compare import read_plateaus

        known = [r for r in read_plateaus(grid.results) if r.get("every") == args.plateau_every and r.get("max_steps") == args.max_steps
                 and r.get("budget") == grid.budgets[-1]]
        if args.dry_run and not known:
            print(f"--until-plateau: the search (supervised, {grid.budgets[-1]} labelled frames, repeat 0, up to {args.max_steps} steps) "
                  "has not run yet; the times below are for the --steps given")
        elif not args.report_only or known:
            from ..engine.compare import find_plateau

            grid.set_steps(find_plateau(grid, every=args.plateau_every, max_steps=args.max_steps, progress=not args.no_progress))
            print(f"--until-plateau: supervised stops improving at {grid.steps} steps: every cell trains {grid.steps}")
    if args.dry_run:
        return _dry_run(grid)
    if not args.report_only and todo:
        from ..engine.compare import run_grid

        run_grid(grid, progress=not args.no_progress, keep_runs=args.keep_runs)
    if not grid.done:
        print("no finished cells yet: nothing to report")
        return 0
    from ..engine.compare_report import format_report, summarize, write_report

    summary = summarize(grid)
    print()
    print(format_report(summary))
    for p in write_report(summary, grid.out):
        print(f"written: {p}")
    return 0


def _dry_run(grid: Any) -> int:
    from ..engine.compare import estimate_step_seconds

    print(f"{'line':<22} {'budget':>6} {'repeats':>8} {'done':>5} {'s/step':>8}  overrides")
    total = 0.0
    for line in grid.lines:
        done = [c for c in grid.done.values() if c["line"] == line.name]
        if done:
            step_s, how = sum(float(c["step_s"]) for c in done) / len(done), "measured"
        else:
            first = next(c for c in grid.cells if c.line == line.name)
            step_s, how = estimate_step_seconds(grid.cell_config(first)), "timed"
        for b in grid.budgets:
            left = [c for c in grid.todo if c.line == line.name and c.budget == b]
            total += len(left) * grid.steps * step_s
            n_done = sum(1 for c in done if c["budget"] == b)
            print(f"{line.name:<22} {b!s:>6} {len(grid.splits):>8} {n_done:>5} {step_s:>8.3f}  {' '.join(line.overrides) or '-'} ({how})")
    print(f"\n{len(grid.todo)} cell(s) to run, about {_hms(total)} on this machine (steps only: the data loader, evaluation "
          "and start-up come on top)")
    return 0
