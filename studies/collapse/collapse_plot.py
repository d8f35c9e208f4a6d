"""The collapse study's figure and table from the run folders of studies/collapse/collapse_study.sh.

    .venv/bin/python studies/collapse/collapse_plot.py runs/collapse [--figure docs/collapse_study.png]

Reads ``<out>/<run>/metrics.csv`` of the runs ``same``, ``reversed``, ``posecons`` and
``posedual`` (and the warm-up's last AP), draws the teacher's mean heatmap peak, its share of
lost joints and the validation AP per epoch (PoseDual: the mean of its two teachers and two
networks), writes the figure next to the runs (and to ``--figure``), and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

RUNS = [("same", "(a) same difficulty, hard → hard"), ("reversed", "(b) reversed, hard → easy"),
        ("posecons", "(c) PoseCons, easy → hard"), ("posedual", "(d) PoseDual, easy → hard")]


def _mean(row: dict[str, str], base: str) -> float | None:
    """``row[base]``, or the mean of ``row[base + '1']`` and ``row[base + '2']`` (two networks)."""
    keys = [k for k in (base, base + "1", base + "2") if row.get(k)]
    if base in keys:
        return float(row[base])
    return sum(float(row[k]) for k in keys) / len(keys) if keys else None


def read(folder: Path) -> list[dict[str, float | None]]:
    with open(folder / "metrics.csv") as f:
        return [{"epoch": float(r["epoch"]), "conf": _mean(r, "teacher_conf"), "low": _mean(r, "teacher_low"),
                 "AP": float(r["AP"]) if r.get("AP") else None} for r in csv.DictReader(f)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--figure", type=Path, default=None, help="also copy the figure here")
    args = ap.parse_args()
    curves = {name: read(args.out / name) for name, _ in RUNS if (args.out / name / "metrics.csv").is_file()}
    warm = read(args.out / "warmup") if (args.out / "warmup" / "metrics.csv").is_file() else []
    warm_ap = next((r["AP"] for r in reversed(warm) if r["AP"] is not None), None)

    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 3)
    for (name, label) in RUNS:
        if name not in curves:
            continue
        rows = curves[name]
        for ax, key in zip(axes, ("conf", "low", "AP")):
            pts = [(r["epoch"], r[key]) for r in rows if r[key] is not None]
            if key == "AP" and warm_ap is not None:
                pts = [(0.0, warm_ap), *pts]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    titles = ("teacher's mean heatmap peak", "teacher's lost joints (peak < 0.1)", "validation AP (epoch 0: the warm-up)")
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = args.out / "collapse_study.png"
    fig.savefig(path, dpi=110)
    if args.figure:
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, args.figure)
    print(f"figure: {path}")
    if warm_ap is not None:
        print(f"warm-up AP: {warm_ap:.4f}")
    print("\n| run | teacher peak, first → last epoch | lost joints, first → last | AP, first → last |")
    print("|---|---|---|---|")
    for name, label in RUNS:
        rows = curves.get(name)
        if not rows:
            print(f"| {label} | — | — | — |")
            continue
        aps = [r["AP"] for r in rows if r["AP"] is not None]
        print(f"| {label} | {rows[0]['conf']:.3f} → {rows[-1]['conf']:.3f} | {rows[0]['low']:.3f} → {rows[-1]['low']:.3f} | "
              f"{aps[0]:.4f} → {aps[-1]:.4f} |")


if __name__ == "__main__":
    main()
