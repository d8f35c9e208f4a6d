"""The suggest study (docs/results.md, "Frames to label next"): from each repeat's 10 labelled
frames, +10 frames chosen by `semipose suggest`'s modes (uncertainty, diverse) and by seeded
random draws, each set trained supervised the same way and scored on the repeat's test frames;
each mode against the mean of the random draws, paired (same test frames).

    python studies/compare/suggest_study.py CONFIG [KEY=VALUE ...] --out DIR --results FILE \\
        [--test folds] [--repeats 3] [--steps 1000] [--draws 5] [--unlabeled config|pool]

Every finished training is one line of --results (the base model's, then each pick's, with the
frames it picked), so the study resumes where it stopped; the base model is trained again only
when a pick still needs it and its checkpoint is gone.
"""

from __future__ import annotations

import argparse
import copy
import os
import warnings
from pathlib import Path

import numpy as np

from semipose.data.splits import write_subset
from semipose.engine.compare import Cell, append_record, plan_grid, read_records, run_cell, train_and_score
from semipose.evaluation.intervals import Repeat, bootstrap, paired_difference, repeat_of
from semipose.predict.estimator import PoseEstimator
from semipose.predict.suggest import choose, score_frames

BASE = 10
ADD = 10


def _records(path: Path) -> list[dict]:
    return [r for r in read_records(path) if "suggest" in r]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--out", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--test", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=5, help="random draws per repeat (the control)")
    ap.add_argument("--unlabeled", default="config")
    a = ap.parse_args()
    results = Path(a.results)
    grid = plan_grid(a.config, a.overrides, methods=["supervised"], budgets=[str(BASE)], repeats=a.repeats, steps=a.steps, test=a.test,
                     out=a.out, results=results, unlabeled=a.unlabeled)
    picks = [("uncertainty", 0), ("diverse", 0), *[("random", s) for s in range(a.draws)]]
    data = grid.cell_config(Cell("supervised", BASE, 0)).data
    image_dir = Path(data.resolve(data.train.image_dir) or "")
    files = {int(im["id"]): str(image_dir / im["file_name"]) for im in grid.pool["images"]}
    for split in grid.splits:
        r = split.repeat
        done = {(x["suggest"], x["seed"]) for x in _records(results) if x["repeat"] == r and x["steps"] == a.steps}
        todo = [p for p in picks if p not in done]
        if not todo:
            continue
        base_run = grid.out / "runs" / f"supervised-b{BASE}-r{r}"
        if not (base_run / "checkpoints/best.pt").is_file():
            run_cell(grid, Cell("supervised", BASE, r), keep_runs=True)  # the base model, recorded as the grid's cell
        est = PoseEstimator.from_file(base_run / "checkpoints/best.pt", flip_test=False)
        candidates = split.rest[BASE:]
        frames = score_frames(est, None, [(files[i], "pool", k) for k, i in enumerate(candidates)], progress=False)
        for mode, seed in todo:
            chosen = choose(copy.deepcopy(frames), ADD, 0, mode=mode, seed=seed)
            ids = [candidates[f.index] for f in chosen]
            train_file = write_subset(grid.pool, [*split.budget(BASE), *ids], grid.out / "splits" / f"r{r}" / f"suggest_{mode}{seed}.json")
            cfg = grid.cell_config(Cell("supervised", BASE, r), train_file=train_file, name=f"suggest-{mode}{seed}-r{r}")
            fields, run_dir = train_and_score(cfg, grid.out / "runs" / f"suggest-{mode}{seed}-r{r}")
            append_record(results, {"suggest": mode, "seed": seed, "repeat": r, "steps": a.steps, "picked": ids, **fields})
            print(f"repeat {r}: {mode} (seed {seed}) done: {fields['seconds']:.0f} s", flush=True)
    report(results, a.steps, Path(a.out))


def report(results: Path, steps: int, out: Path) -> None:
    recs = [x for x in _records(results) if x["steps"] == steps]
    repeats = sorted({x["repeat"] for x in recs})
    rand = {r: [x for x in recs if x["repeat"] == r and x["suggest"] == "random"] for r in repeats}
    if not recs or not all(rand.values()):
        print("not enough finished trainings for a report")
        return
    mean_random = []
    for r in repeats:
        reps = [repeat_of(x) for x in rand[r]]
        with warnings.catch_warnings():  # a keypoint labelled nowhere stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_random.append(Repeat(np.nanmean(np.stack([p.errors for p in reps]), axis=0), reps[0].frames))
    lines = ["| +10 frames by | repeats | RMSE px | median px | PCK@10 | Δ RMSE vs random | Δ median | Δ PCK@10 |",
             "|---|---|---|---|---|---|---|---|"]
    for mode in ("uncertainty", "diverse", "random"):
        mine = {x["repeat"]: x for x in recs if x["suggest"] == mode and x["seed"] == 0}
        common = [r for r in repeats if r in mine]
        if not common:
            continue
        a = [repeat_of(mine[r]) for r in common]
        s = bootstrap(a)
        d = paired_difference(a, [mean_random[repeats.index(r)] for r in common])
        fmt = lambda iv, k=1.0: f"{iv.value * k:.2f} [{iv.low * k:.2f}, {iv.high * k:.2f}]"  # noqa: E731
        lines.append(f"| {mode}{' (seed 0)' if mode == 'random' else ''} | {len(common)} | {fmt(s['rmse'])} | {fmt(s['median'])} | "
                     f"{fmt(s['pck10'])} | {fmt(d['rmse'])} | {fmt(d['median'])} | {fmt(d['pck10'])} |")
    text = "\n".join(lines)
    print(text)
    os.makedirs(out, exist_ok=True)
    (out / "suggest.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
