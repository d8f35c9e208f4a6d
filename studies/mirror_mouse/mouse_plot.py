"""The mirror-mouse study's picture (docs/mouse_study.png): test RMSE per run and seed, the
mean as a bar, supervised as a line, for the 10-label cells, the 70-label cells and the suggest
round.

    python studies/mirror_mouse/mouse_plot.py runs/mouse-study docs/mouse_study.png
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from matplotlib.figure import Figure

PANELS = [
    ("10 labels", r"_b10_s(\d+)$", "supervised",
     ["supervised", "posecons", "posedual", "posedual2", "multiaugs", "multiaugs-crop", "multiaugs-ema", "multiaugs-mask",
      "supervised-ema", "supervised-noflip"]),
    ("70 labels", r"_b70_s(\d+)$", "supervised", ["supervised", "posecons", "multiaugs"]),
    ("suggest round (10 + 10 labels)", r"_s(\d+)$", "more-none", ["more-none", "more-suggested", "more-random0", "more-random1"]),
]

LABELS = {"posedual": "posedual\n(identical nets)", "posedual2": "posedual\n(two warm-ups)", "multiaugs": "multiaugs\n(instance)",
          "multiaugs-crop": "multiaugs\n(crop)", "multiaugs-ema": "multiaugs\n(EMA teacher)", "multiaugs-mask": "multiaugs\n(conf. mask)",
          "supervised-noflip": "supervised\n(no flips)", "supervised-ema": "supervised\n(EMA)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("png", type=Path)
    a = ap.parse_args()
    names = [line.split("\t")[0] for line in (a.out / "times.tsv").read_text().splitlines()]
    fig = Figure(figsize=(15, 4.4), dpi=110)
    axes = fig.subplots(1, len(PANELS), gridspec_kw={"width_ratios": [len(p[3]) for p in PANELS]})
    for ax, (title, pat, base, order) in zip(axes, PANELS):
        per: dict[str, list[float]] = {}
        for n in names:
            m = re.search(pat, n)
            f = a.out / n / "eval/metrics.json"
            if m and f.is_file():
                method = n[: m.start()]
                if method in order:
                    per.setdefault(method, []).append(json.loads(f.read_text())["rmse_px"])
        shown = [m for m in order if m in per]
        for i, m in enumerate(shown):
            vals = per[m]
            ax.bar(i, sum(vals) / len(vals), color="#9ecae1" if m != base else "#bdbdbd", width=0.7)
            ax.scatter([i] * len(vals), vals, color="#08519c", s=14, zorder=3)
        if base in per:
            ax.axhline(sum(per[base]) / len(per[base]), color="#636363", ls="--", lw=1)
        ax.set_xticks(range(len(shown)), [LABELS.get(s, s.replace("more-", "")) for s in shown], rotation=35, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("test RMSE (px), bars: mean of seeds, dots: seeds", fontsize=8)
    fig.suptitle("mirror-mouse: semi-supervised methods vs supervised (dashed) at equal steps", fontsize=11)
    fig.tight_layout()
    fig.savefig(a.png)
    print(f"wrote {a.png}")


if __name__ == "__main__":
    main()
