"""``semipose compare``: methods × label budgets × repeats on one project, so that a user can
learn whether the unlabelled data help on *their* data, and which way.

Every *cell* (line, budget, repeat) trains the config with the line's overrides on the budget's
labelled frames of the repeat's split (:mod:`semipose.data.splits`), for the same number of
steps as every other line, from the same start (the seed is the repeat), and is scored on the
repeat's test frames with the final weights (no selection on the test set). Its per-instance
errors go, one JSON line per finished cell, into a results file that the comparison reads back:
a finished cell is never run again, so a study resumes after an interruption, on another machine,
without its run folders. :mod:`semipose.engine.compare_report` turns the cells into the tables,
the intervals and the verdict.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..config import Config, load_config
from ..data.splits import ALL, Split, make_splits, parse_budget, parse_test_mode, read_pool, write_subset
from ..errors import ConfigError, DataFormatError, EarlyStop
from ..evaluation.pixels import errors_filename, read_instance_errors
from ..params import selected_name

__all__ = ["Line", "LINES", "Cell", "CompareGrid", "parse_line", "plan_grid", "read_cells", "run_grid", "estimate_step_seconds",
           "find_plateau", "network_passes", "append_record", "read_records", "train_and_score"]

log = logging.getLogger(__name__)

#: the video-native terms at the weights the study fixed before it ran (docs/results.md,
#: "Does the unlabelled video help?"): each term about the size of the supervised loss of a
#: trained model (a heatmap MSE of ~1e-3) at a few pixels of excess
_VIDEO = ["ssl.temporal.weight=1e-4", "ssl.pose_prior.weight=1e-3"]
_MULTIAUGS_EMA = ["ssl.method=posecons", "ssl.paths=[JOCO,JCCM]", "ssl.teacher=ema", "ssl.select=ema",
                  "ssl.augment.size_relative_to=instance"]


@dataclass(frozen=True)
class Line:
    """A named set of config overrides: one way to train."""

    name: str
    overrides: tuple[str, ...] = ()
    doc: str = ""


#: the built-in lines (``--methods`` names); ``--line NAME:OVERRIDE ...`` adds others
LINES: dict[str, Line] = {ln.name: ln for ln in (
    Line("supervised", (), "the labelled frames only"),
    Line("multiaugs-ema", tuple(_MULTIAUGS_EMA), "MultiAugs (JOCO, JCCM) taught by an EMA teacher"),
    Line("temporal", (_VIDEO[0],), "supervised + temporal continuity on the unlabelled video"),
    Line("pose-prior", (_VIDEO[1],), "supervised + the PCA pose prior on the unlabelled frames"),
    Line("video", tuple(_VIDEO), "supervised + temporal + pose prior"),
    Line("multiaugs-ema-video", (*_MULTIAUGS_EMA, *_VIDEO), "MultiAugs + EMA teacher + temporal + pose prior"),
    Line("posedual", ("ssl.method=posedual", "ssl.paths=[JOCO,JCCM]", "ssl.select=ensemble",
                      "ssl.augment.size_relative_to=instance"), "PoseDual (two networks from two starts), their ensemble"),
)}


def parse_line(text: str) -> Line:
    """``NAME:KEY=VALUE KEY=VALUE …`` → a :class:`Line` (``--line``)."""
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c in name for c in "|/ "):
        raise ConfigError(f"--line: expected NAME:KEY=VALUE ..., got {text!r}")
    overrides = tuple(rest.split())
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ConfigError(f"--line {name}: {bad[0]!r} is not KEY=VALUE")
    return Line(name, overrides, "user line")


@dataclass(frozen=True)
class Cell:
    """One training of the grid."""

    line: str
    budget: int | str
    repeat: int

    @property
    def key(self) -> str:
        return f"{self.line}|{self.budget}|{self.repeat}"

    @property
    def run_name(self) -> str:
        return f"{self.line}-b{self.budget}-r{self.repeat}"


@dataclass
class CompareGrid:
    """The planned comparison: the lines, budgets, splits and the cells already finished."""

    config: str
    overrides: list[str]
    lines: list[Line]
    budgets: list[int | str]
    splits: list[Split]
    test_what: str
    steps: int
    out: Path
    results: Path
    unlabeled: str
    pool: dict[str, Any]
    done: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def cells(self) -> list[Cell]:
        """Budget by budget (the first, the small one, is the question), then line by line in the
        order given (supervised first), every repeat of a line together: an interrupted study has
        each finished line paired with supervised on all its repeats."""
        return [Cell(ln.name, b, s.repeat) for b in self.budgets for ln in self.lines for s in self.splits]

    def set_steps(self, steps: int) -> None:
        """Train every cell ``steps`` (the finished cells of other steps no longer count)."""
        self.steps = int(steps)
        self.done = {k: v for k, v in read_cells(self.results).items() if _matches(self, v)}

    @property
    def todo(self) -> list[Cell]:
        return [c for c in self.cells if c.key not in self.done]

    def split_files(self, split: Split, budget: int | str) -> dict[str, Path]:
        """The COCO files of a cell's split, written from this grid's split every time (a folder
        reused with another seed or project never trains on an old split)."""
        d = self.out / "splits" / f"r{split.repeat}"
        files = {"test": d / "test.json", "train": d / f"train_{budget}.json", "pool": d / "pool.json"}
        for key, ids in (("test", split.test), ("pool", split.rest), ("train", split.budget(budget))):
            write_subset(self.pool, ids, files[key])
        return files

    def cell_config(self, cell: Cell, *, train_file: str | os.PathLike[str] | None = None, name: str | None = None) -> Config:
        """The config of one cell: the config, the user's overrides, the line's, then the cell's own
        (``train_file``, ``name``: another labelled set and run name, e.g. a budget plus suggested frames)."""
        line = next(ln for ln in self.lines if ln.name == cell.line)
        split = self.splits[cell.repeat]
        f = self.split_files(split, cell.budget)
        if train_file is not None:
            f = {**f, "train": Path(train_file)}
        base = load_config(self.config, self.overrides)
        scaled = [int(round(s * self.steps / base.train.max_steps)) for s in base.train.lr_step_iters] if base.train.max_steps else []
        own = [f"data.train.ann_file={f['train']}", f"data.val.ann_file={f['test']}", "data.val.det_file=null", "eval.use_gt_boxes=true",
               "data.label_ids_file=null", "data.max_train_instances=0", f"seed={cell.repeat}", f"train.max_steps={self.steps}",
               f"train.lr_step_iters=[{','.join(str(s) for s in scaled if 0 < s < self.steps)}]", "train.val_every=1000000",
               f"output_dir={self.out / 'runs'}", f"name={name or cell.run_name}", "eval.num_vis_images=0"]
        if self.unlabeled == "pool":
            own += [f"data.unlabeled.ann_file={f['pool']}", f"data.unlabeled.image_dir={base.data.resolve(base.data.train.image_dir)}",
                    "data.unlabeled.videos=[]", "data.unlabeled.det_file=null", "data.unlabeled.format=coco"]
        return load_config(self.config, [*self.overrides, *line.overrides, *own])


def _pool_files(cfg: Config) -> tuple[str, str | None]:
    d = cfg.data
    train, val = d.resolve(d.train.ann_file), d.resolve(d.val.ann_file)
    if not train:
        raise ConfigError("compare: the config names no data.train.ann_file")
    if val and d.resolve(d.val.image_dir) != d.resolve(d.train.image_dir):
        raise ConfigError(f"compare: the training and validation frames live in different folders ({d.train.image_dir}, "
                          f"{d.val.image_dir}); one pool needs one image folder")
    return train, val


def plan_grid(config: str, overrides: Sequence[str], *, methods: Sequence[str], budgets: Sequence[str], repeats: int, steps: int = 0,
              test: str = "auto", out: str | os.PathLike[str], results: str | os.PathLike[str] | None = None, seed: int = 0,
              unlabeled: str = "config", extra_lines: Sequence[str] = ()) -> CompareGrid:
    """The grid of a comparison, with the cells of ``results`` already finished.

    Args:
        config: the project's config (``data.train`` / ``data.val`` COCO files: the pool).
        overrides: applied to every cell first.
        methods: line names (:data:`LINES` or ``extra_lines``'), ``supervised`` first or added.
        budgets: labelled frames per cell (``"10"``, ``"all"``).
        repeats: splits (seeds; folds with ``test="folds"``).
        steps: training steps of every cell (0: the config's ``train.max_steps``).
        test: ``auto``, ``val``, ``folds`` or ``last:N`` (:func:`~semipose.data.splits.make_splits`).
        out: the comparison's folder (splits, runs, reports).
        results: the cells file (default ``out/cells.jsonl``).
        seed: the splits' seed.
        unlabeled: ``config`` (the config's unlabelled source) or ``pool`` (every non-test frame of
            the pool, cropped by its label box, labels dropped: the seeds' COCO protocol).
    """
    lines = {**LINES, **{ln.name: ln for ln in (parse_line(t) for t in extra_lines)}}
    names = list(dict.fromkeys(["supervised", *[m.strip() for m in methods if m.strip()]]))
    unknown = [n for n in names if n not in lines]
    if unknown:
        raise ConfigError(f"--methods: unknown line {unknown[0]!r}; built in: {', '.join(LINES)} (or define one with --line NAME:KEY=VALUE ...)")
    if unlabeled not in ("config", "pool"):
        raise ConfigError(f"--unlabeled: expected config or pool, got {unlabeled!r}")
    base = load_config(config, overrides)
    steps = int(steps or base.train.max_steps)
    if steps < 1:
        raise ConfigError("compare: give --steps (the config has no train.max_steps): every line trains the same steps")
    pool, train_ids, val_ids = read_pool(*_pool_files(base))
    mode, last = parse_test_mode(test)
    order = {int(im["id"]): str(im.get("file_name", im["id"])) for im in pool["images"]}
    splits, what = make_splits(train_ids, val_ids, mode=mode, repeats=repeats, seed=seed, last=last, order=order)
    parsed = list(dict.fromkeys(parse_budget(b) for b in budgets))
    if not parsed:
        raise ConfigError("--budgets: give at least one budget")
    for s in splits:
        for b in parsed:
            s.budget(b)  # every budget fits every split: said now, not after hours
    out = Path(out).resolve()  # the cells' file overrides are read against data.root otherwise
    grid = CompareGrid(str(config), list(overrides), [lines[n] for n in names], parsed, splits, what, steps, out,
                       Path(results) if results else out / "cells.jsonl", unlabeled, pool)
    grid.done = {k: v for k, v in read_cells(grid.results).items() if _matches(grid, v)}
    return grid


def _matches(grid: CompareGrid, cell: dict[str, Any]) -> bool:
    """Whether a finished cell of the results file belongs to this grid (same steps, overrides, split)."""
    line = next((ln for ln in grid.lines if ln.name == cell.get("line")), None)
    if line is None or cell.get("steps") != grid.steps or list(cell.get("overrides", [])) != [*grid.overrides, *line.overrides]:
        return False
    r = int(cell.get("repeat", -1))
    return 0 <= r < len(grid.splits) and sorted(set(cell.get("image_ids", []))) == sorted(grid.splits[r].test)


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every JSON record of a results file, in order (a line that is not a JSON object is skipped and logged)."""
    p = Path(path)
    if not p.is_file():
        return []
    out: list[dict[str, Any]] = []
    for n, text in enumerate(p.read_text().splitlines(), 1):
        if not text.strip():
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as e:
            log.warning("%s line %d: not a JSON record (%s); skipped", p, n, e)
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def read_cells(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The finished cells of a results file, by key (a record that is not a cell is skipped;
    a cell record that is malformed is logged)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in read_records(path):
        if "line" not in rec:  # a schedule search (find_plateau) or another study's record, not a cell
            continue
        try:
            budget = rec["budget"]
            out[Cell(str(rec["line"]), budget if budget == ALL else int(budget), int(rec["repeat"])).key] = rec
        except (KeyError, TypeError, ValueError) as e:
            log.warning("%s: not a finished cell (%s); skipped", path, e)
    return out


def append_record(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append one JSON record to a results file, flushed to disk (a finished cell is never lost)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def train_and_score(cfg: Config, run_dir: Path, *, progress: bool = False) -> tuple[dict[str, Any], Path]:
    """Train ``cfg`` into ``run_dir`` and read its test errors: ``(record fields, run folder)``."""
    from .trainer import train

    t0 = time.perf_counter()
    result = train(cfg, run_dir=run_dir, overwrite=True, progress=progress)
    seconds = time.perf_counter() - t0
    name = selected_name(cfg.num_nets, cfg.ssl.select)
    errors_file = Path(result.run_dir) / "eval" / errors_filename(name)
    if not errors_file.is_file():
        raise DataFormatError(f"{errors_file}: the run wrote no per-instance errors (the test frames must be scored on their labelled "
                              "instances, eval.use_gt_boxes)")
    err = read_instance_errors(errors_file)
    steps = cfg.train.max_steps or 1
    fields = {"model": name, "seconds": round(seconds, 1), "step_s": round(seconds / steps, 4),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpu", "semipose": __version__, **err.to_dict()}
    return fields, Path(result.run_dir)


def run_cell(grid: CompareGrid, cell: Cell, *, progress: bool = False, keep_runs: bool = False) -> dict[str, Any]:
    """Train and score one cell, append it to the results file, and return its record."""
    line = next(ln for ln in grid.lines if ln.name == cell.line)
    fields, run_dir = train_and_score(grid.cell_config(cell), grid.out / "runs" / cell.run_name, progress=progress)
    record = {
        "line": cell.line, "budget": cell.budget, "repeat": cell.repeat, "steps": grid.steps,
        "overrides": [*grid.overrides, *line.overrides], "labelled_frames": len(grid.splits[cell.repeat].budget(cell.budget)),
        **fields,
    }
    append_record(grid.results, record)
    if not keep_runs:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return record


def estimate_step_seconds(cfg: Config, steps: int = 3) -> float:
    """Seconds per training step of ``cfg``'s method on this machine, timed on random crops of
    the configured size and batch (the loader not included): for ``--dry-run``."""
    import numpy as np
    import torch

    from ..device import autocast, resolve_device, resolve_precision
    from .build import build_ssl_model

    device = resolve_device(cfg.device)
    k = 13
    poses = np.concatenate([np.random.default_rng(0).uniform(0, 100, (200, k, 2)), np.full((200, k, 1), 2.0)], axis=2)
    model = build_ssl_model(cfg, k, load_pretrained=False, poses=poses, flip_index=list(range(k))).to(device)
    opt = torch.optim.Adam(model.student_parameters(), lr=1e-4)
    w, h = cfg.data.input_size
    b, bu = cfg.train.batch_size, cfg.train.unlabeled_batch_size or cfg.train.batch_size
    stride = int(model.stride)
    gen = torch.Generator(device=device).manual_seed(0)
    inputs: dict[str, Any] = {"sup_images": torch.randn(b, 3, h, w, device=device),
                              "sup_target": torch.rand(b, k, h // stride, w // stride, device=device), "sup_weight": torch.ones(b, k, device=device)}
    if cfg.semi_supervised:
        inputs.update(unsup_images=torch.randn(bu, 3, h, w, device=device), unsup_weight=torch.ones(bu, k, device=device))
        if model.needs_context:
            inputs["unsup_context"] = torch.randn(bu, 2, 3, h, w, device=device)
    precision = resolve_precision(cfg.train.precision, device)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        with autocast(precision, device):
            out = model(**inputs, generator=gen)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        model.update_ema(i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:
            times.append(time.perf_counter() - t0)
    return float(sorted(times)[len(times) // 2])


def run_grid(grid: CompareGrid, *, progress: bool = False, keep_runs: bool = False,
             report: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run every cell not yet finished (in :attr:`CompareGrid.cells` order), with an ETA."""
    todo = grid.todo
    speed: dict[str, float] = {}
    for c in grid.done.values():
        speed.setdefault(str(c["line"]), float(c["step_s"]))
    passes = {ln.name: network_passes(load_config(grid.config, [*grid.overrides, *ln.overrides])) for ln in grid.lines}
    records = []
    t_start = time.perf_counter()
    before = len(grid.done)
    for i, cell in enumerate(todo):
        report(f"cell {i + 1}/{len(todo)} ({before} finished before this run): {cell.line}, budget {cell.budget}, repeat {cell.repeat}"
               + _eta(grid.steps, todo[i:], speed, passes, time.perf_counter() - t_start, i))
        rec = run_cell(grid, cell, progress=progress, keep_runs=keep_runs)
        speed[cell.line] = float(rec["step_s"])
        grid.done[cell.key] = rec
        records.append(rec)
        report(f"  {cell.line} budget {cell.budget} repeat {cell.repeat}: {rec['seconds']:.0f} s")
    return records


def network_passes(cfg: Config) -> int:
    """Network passes of one training step of ``cfg`` (supervised 1 per network; a consistency
    method adds its teachers and one student pass per hard view; the video terms one pass over
    the unlabelled crops, three with the temporal term): the ETA's measure of a line's cost."""
    q = cfg.ssl
    per_net = 1 + (len(q.paths) * q.repeat if cfg.consistency else 0)
    per_net += (3 if q.temporal.weight > 0 else 1) if cfg.video_losses else 0
    return cfg.num_nets * per_net + (cfg.num_nets if cfg.consistency else 0)


def _eta(steps: int, todo: Sequence[Cell], speed: dict[str, float], passes: dict[str, int], elapsed: float, n_done: int) -> str:
    """Time left: each line's measured seconds per step, else the measured lines' seconds per
    network pass times its ``passes`` (:func:`network_passes`)."""
    if not speed and not n_done:
        return ""
    per_pass = [speed[n] / passes[n] for n in speed if n in passes] or [elapsed / max(n_done, 1) / steps]
    unit = sum(per_pass) / len(per_pass)
    left = sum(speed.get(c.line, unit * passes.get(c.line, 1)) for c in todo) * steps
    return f" (ETA {time.strftime('%H:%M:%S', time.gmtime(left))} for {len(todo)} cell(s))"


def read_plateaus(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The schedule searches recorded in a results file (:func:`find_plateau`)."""
    return [rec for rec in read_records(path) if "plateau" in rec]


def find_plateau(grid: CompareGrid, *, every: int = 200, max_steps: int = 4000, patience: int = 2, min_gain: float = 0.02,
                 progress: bool = False) -> int:
    """The steps at which supervised stops improving (``--until-plateau``), recorded in the
    results file and read back from it on a rerun.

    Supervised trains at the largest budget on repeat 0, without an LR drop, and is validated
    every ``every`` steps on repeat 0's test frames (the schedule is the only thing chosen there,
    and it is the same for every line); the plateau is the last check that improved the best
    RMSE by ``min_gain`` (relative) before ``patience`` checks in a row that did not, or
    ``max_steps``.
    """
    from .callbacks import Callback
    from .trainer import train

    budget = grid.budgets[-1]
    key = {"config": grid.config, "overrides": list(grid.overrides), "budget": budget, "test": sorted(grid.splits[0].test),
           "every": every, "max_steps": max_steps, "patience": patience, "min_gain": min_gain}
    for rec in read_plateaus(grid.results):
        if all(rec.get(k) == v for k, v in key.items() if k != "config"):
            return int(rec["steps"])
    curve: list[tuple[int, float]] = []

    class Watch(Callback):
        def on_val_end(self, epoch: int, results: dict[str, Any], improved: bool) -> None:
            rmse = float(next(iter(results.values())).metrics.get("rmse_px", float("nan")))
            curve.append((epoch * every, rmse))
            if _plateau_step(curve, patience, min_gain) is not None:
                raise EarlyStop(f"supervised's test RMSE has not improved by {100 * min_gain:g} % for {patience} checks")

    f = grid.split_files(grid.splits[0], budget)
    cfg = load_config(grid.config, [*grid.overrides, f"data.train.ann_file={f['train']}", f"data.val.ann_file={f['test']}",
                                    "data.val.det_file=null", "eval.use_gt_boxes=true", "data.label_ids_file=null",
                                    "data.max_train_instances=0", "seed=0",
                                    f"train.max_steps={max_steps}", f"train.max_iters_per_epoch={every}", "train.val_every=1",
                                    "train.lr_step_iters=[]", "train.lr_steps=[]", "eval.num_vis_images=0",
                                    f"output_dir={grid.out / 'runs'}", "name=plateau"])
    with contextlib.suppress(EarlyStop):  # stopped at the plateau (the run's log says "stopped early")
        train(cfg, run_dir=grid.out / "runs" / "plateau", overwrite=True, progress=progress, extra_callbacks=[Watch()])
    steps = _plateau_step(curve, patience, min_gain) or (curve[-1][0] if curve else max_steps)
    append_record(grid.results, {"plateau": True, **key, "steps": steps, "curve": [[s, round(r, 3)] for s, r in curve]})
    return steps


def _plateau_step(curve: Sequence[tuple[int, float]], patience: int, min_gain: float) -> int | None:
    """The step of the last real improvement once ``patience`` checks in a row have not improved (None: still improving)."""
    best_step, best, stale = None, float("inf"), 0
    for step, rmse in curve:
        if rmse < best * (1 - min_gain):
            best_step, best, stale = step, rmse, 0
        else:
            stale += 1
            if stale >= patience:
                return best_step
    return None
