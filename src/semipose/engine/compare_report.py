"""What ``semipose compare`` prints and writes from the finished cells: per line and budget the
test RMSE, median and PCK@10 px with 95 % bootstrap intervals over test frames and repeats
(:mod:`semipose.evaluation.intervals`), the paired difference to supervised, per-keypoint
errors, the compute spent, and the verdict (``compare.md``, ``compare.json``, ``compare.png``).

The verdict's rule (the issue's, so a user reads the same rule the study used): a line is
chosen when, at the smallest budget, its paired RMSE difference to supervised has a 95 %
interval below 0 and neither its median nor its PCK@10 difference has an interval wholly on the
worse side; and at every other budget its RMSE interval is not wholly worse. Of several, the
largest RMSE reduction wins. Otherwise: "no reliable gain: stay supervised".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.splits import ALL
from ..evaluation.intervals import Interval, Repeat, bootstrap, paired_difference, pck_key, repeat_of
from .compare import CompareGrid

__all__ = ["summarize", "verdict", "write_report", "format_report"]

PCK_PX = 10.0
BASELINE = "supervised"


def _repeats(cells: Sequence[dict[str, Any]]) -> list[Repeat]:
    return [repeat_of(c, f"cell {c['line']}|{c['budget']}|{c['repeat']}") for c in sorted(cells, key=lambda c: int(c["repeat"]))]


def _budget_sort(b: Any) -> float:
    return float("inf") if b == ALL else float(b)


def summarize(grid: CompareGrid, *, n_boot: int = 1000) -> dict[str, Any]:
    """Every (budget, line) with finished cells: intervals, paired differences, per-keypoint RMSE, compute."""
    cells = list(grid.done.values())
    budgets = sorted({c["budget"] for c in cells}, key=_budget_sort)
    out: dict[str, Any] = {"config": grid.config, "test": grid.test_what, "steps": grid.steps, "unlabeled": grid.unlabeled,
                           "pck_px": PCK_PX, "budgets": {}}
    for b in budgets:
        rows: dict[str, Any] = {}
        by_line = {ln.name: [c for c in cells if c["budget"] == b and c["line"] == ln.name] for ln in grid.lines}
        base = {int(c["repeat"]): c for c in by_line.get(BASELINE, [])}
        for name, mine in by_line.items():
            if not mine:
                continue
            reps = _repeats(mine)
            row: dict[str, Any] = {"repeats": len(mine), "labelled_frames": int(mine[0].get("labelled_frames", 0)),
                                   "seconds_per_cell": round(float(np.mean([c["seconds"] for c in mine])), 1),
                                   "step_s": round(float(np.mean([c["step_s"] for c in mine])), 4),
                                   "summary": {k: v.to_list() for k, v in bootstrap(reps, pck_px=(PCK_PX,), n_boot=n_boot).items()}}
            names = mine[0]["keypoints"]
            pooled = np.concatenate([r.errors for r in reps])
            row["per_keypoint_rmse"] = {
                n: round(float(np.sqrt(np.nanmean(pooled[:, k] ** 2))), 2) if np.isfinite(pooled[:, k]).any() else None
                for k, n in enumerate(names)
            }
            common = sorted(set(base) & {int(c["repeat"]) for c in mine})
            if name != BASELINE and common:
                a = _repeats([c for c in mine if int(c["repeat"]) in common])
                s = _repeats([base[r] for r in common])
                diff = paired_difference(a, s, pck_px=(PCK_PX,), n_boot=n_boot)
                row["paired"] = {k: v.to_list() for k, v in diff.items()}
                row["paired_repeats"] = len(common)
            rows[name] = row
        out["budgets"][str(b)] = rows
    out["verdict"] = verdict(out)
    return out


def _iv(x: Sequence[float]) -> Interval:
    return Interval(*x)


def verdict(summary: dict[str, Any]) -> str:
    """The one-line answer (see the module for the rule)."""
    budgets = list(summary["budgets"])
    if not budgets or BASELINE not in summary["budgets"][budgets[0]]:
        return "not enough finished cells for a verdict (supervised at the smallest budget is missing)"
    small = budgets[0]
    pk = pck_key(summary["pck_px"])
    winners, best_other = [], None
    for name, row in summary["budgets"][small].items():
        if "paired" not in row:
            continue
        d = row["paired"]
        rel = d["rmse"][0] / summary["budgets"][small][BASELINE]["summary"]["rmse"][0]
        if best_other is None or rel < best_other[1]:
            best_other = (name, rel, d["rmse"], d["median"])
        ok = _iv(d["rmse"]).high < 0 and _iv(d["median"]).low <= 0 and _iv(d[pk]).high >= 0
        for b in budgets[1:]:
            other = summary["budgets"][b].get(name, {}).get("paired")
            ok = ok and (other is None or _iv(other["rmse"]).low <= 0)
        if ok:
            winners.append((rel, name, d))
    if winners:
        rel, name, d = min(winners)
        return (f"use {name}: test RMSE {100 * rel:+.0f} % against supervised at {small} labelled frames (paired 95 % interval "
                f"{d['rmse'][1]:+.2f} to {d['rmse'][2]:+.2f} px), median and PCK@{summary['pck_px']:g} px not worse, "
                "and not worse at the other budgets")
    if best_other is None:
        return "no other line finished at the smallest budget: no verdict yet"
    name, rel, d, med = best_other
    why = "" if d[2] >= 0 else ", but its median or PCK is worse, or a larger budget is"
    if med[1] > 0:
        why += f"; its median error is worse by {med[0]:+.2f} px ({med[1]:+.2f} to {med[2]:+.2f})"
    return (f"no reliable gain: stay supervised (the best other line at {small} labelled frames, {name}, changes the test RMSE by "
            f"{100 * rel:+.0f} %, paired 95 % interval {d[1]:+.2f} to {d[2]:+.2f} px{why})")


def _fmt(x: Sequence[float], pct: bool = False, signed: bool = False) -> str:
    f = (lambda v: f"{100 * v:+.0f}" if signed else f"{100 * v:.0f}") if pct else (lambda v: f"{v:+.2f}" if signed else f"{v:.2f}")
    return f"{f(x[0])} [{f(x[1])}, {f(x[2])}]"


def format_report(summary: dict[str, Any]) -> str:
    """``compare.md``: one table per budget, per-keypoint RMSE, and the verdict."""
    pk = pck_key(summary["pck_px"])
    lines = [f"# semipose compare: {summary['config']}", "",
             f"- test frames: {summary['test']}", f"- steps per cell: {summary['steps']} (every line)",
             "- unlabelled set: " + ("every non-test frame, cropped by its label box, labels dropped" if summary["unlabeled"] == "pool"
                                     else "the config's"),
             "- intervals: 95 % bootstrap over test frames and repeats; Δ: paired difference to supervised (same split, same start)", ""]
    for b, rows in summary["budgets"].items():
        lines += [f"## {b} labelled frames", "",
                  f"| line | repeats | RMSE px | median px | PCK@{summary['pck_px']:g} % | Δ RMSE px | Δ median px | Δ PCK % | s / cell |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, r in rows.items():
            s, d = r["summary"], r.get("paired")
            delta = (f"{_fmt(d['rmse'], signed=True)} | {_fmt(d['median'], signed=True)} | {_fmt(d[pk], pct=True, signed=True)} | "
                     if d else "— | — | — | ")
            lines.append(f"| {name} | {r['repeats']} | {_fmt(s['rmse'])} | {_fmt(s['median'])} | {_fmt(s[pk], pct=True)} | {delta}"
                         f"{r['seconds_per_cell']:.0f} |")
        names = list(rows)
        kps = list(next(iter(rows.values()))["per_keypoint_rmse"])
        lines += ["", "per-keypoint RMSE px:", "", "| keypoint | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for k in kps:
            vals = [rows[n]["per_keypoint_rmse"].get(k) for n in names]
            lines.append(f"| {k} | " + " | ".join("—" if v is None else f"{v:.1f}" for v in vals) + " |")
        lines.append("")
    lines += [f"**verdict:** {summary['verdict']}", ""]
    return "\n".join(lines)


def write_report(summary: dict[str, Any], out: str | Path) -> list[Path]:
    """Write ``compare.md``, ``compare.json`` and ``compare.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(format_report(summary))
    (out / "compare.json").write_text(json.dumps(summary, indent=1))
    _plot(summary, out / "compare.png")
    return [out / "compare.md", out / "compare.json", out / "compare.png"]


def _plot(summary: dict[str, Any], path: Path) -> None:
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = list(summary["budgets"])
    fig, axes = plt.subplots(2, len(budgets), figsize=(max(7.0, 4.5 * len(budgets)), 6.5), squeeze=False)
    for j, b in enumerate(budgets):
        rows = summary["budgets"][b]
        names = list(rows)
        for i, key, title in ((0, "summary", f"test error px, {b} labelled frames"), (1, "paired", "paired difference to supervised, px")):
            ax = axes[i][j]
            for k, n in enumerate(names):
                for metric, dy, marker, color in (("rmse", -0.12, "o", "tab:blue"), ("median", 0.12, "s", "tab:orange")):
                    v = rows[n].get(key, {}).get(metric)
                    if v is None:
                        continue
                    ax.errorbar(v[0], k + dy, xerr=[[v[0] - v[1]], [v[2] - v[0]]], fmt=marker, color=color, capsize=3,
                                label=metric if k == (0 if key == "summary" else 1) else None)
            if key == "paired":
                ax.axvline(0, color="k", lw=0.8)
            ax.set_yticks(range(len(names)), names)
            ax.set_ylim(len(names) - 0.5, -0.5)
            ax.set_title(title, fontsize=9)
            ax.grid(axis="x", alpha=0.3)
            if j == 0 and ax.get_legend_handles_labels()[1]:
                ax.legend(fontsize=7, loc="best")
    fig.suptitle("\n".join(textwrap.wrap(summary["verdict"], 110)), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
