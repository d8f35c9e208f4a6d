"""The mirror-mouse study's tables (docs/results.md) from its run folders: per run name
``<method>_b<budget>_s<seed>`` (or ``<method>_s<seed>`` for the suggest round) the test RMSE,
median error and PCK@10 px of ``eval/metrics.json`` (a two-network run: the ensemble, and each
network), and the seconds in ``times.tsv``.

    python studies/mirror_mouse/mouse_table.py runs/mouse-study --budget 10
    python studies/mirror_mouse/mouse_table.py runs/mouse-study --suggest
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def _metrics(run: Path, net: str = "") -> dict | None:
    f = run / "eval" / (f"metrics_{net}.json" if net else "metrics.json")
    return json.loads(f.read_text()) if f.is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--budget", type=int)
    ap.add_argument("--suggest", action="store_true")
    ap.add_argument("--baseline", default="supervised", help="the row the others are compared with")
    a = ap.parse_args()
    times = {}
    for line in (a.out / "times.tsv").read_text().splitlines():
        name, secs, rest = (line.split("\t") + ["", ""])[:3]
        times[name] = (secs, rest)
    pat = re.compile(r"^(?P<m>.+)_s(?P<s>\d+)$" if a.suggest else rf"^(?P<m>.+)_b{a.budget}_s(?P<s>\d+)$")
    rows: dict[str, dict[int, tuple]] = {}
    for name, (secs, note) in times.items():
        m = pat.match(name)
        if not m or (a.suggest and not name.startswith("more-")):
            continue
        met = _metrics(a.out / name)
        if met is None:
            rows.setdefault(m["m"], {})[int(m["s"])] = (None, note, secs, "")
            continue
        nets = ""
        per_net = [_metrics(a.out / name, n) or {} for n in ("net1", "net2")]
        if all("rmse_px" in m for m in per_net):  # runs before per-network pixel errors were written have none
            nets = " / ".join(f"{m['rmse_px']:.1f}" for m in per_net)
        rows.setdefault(m["m"], {})[int(m["s"])] = (met, note, secs, nets)
    seeds = sorted({s for r in rows.values() for s in r})
    base = rows.get(a.baseline, {})
    base_mean = None
    if base and all(base.get(s, (None,))[0] for s in seeds):
        base_mean = sum(base[s][0]["rmse_px"] for s in seeds) / len(seeds)
    sl = " / ".join(f"s{s}" for s in seeds)
    print(f"| run | RMSE px {sl} | **mean** | vs {a.baseline} | median px {sl} | PCK@10 {sl} | networks 1 / 2 RMSE | training s {sl} |")
    print("|---|---|---|---|---|---|---|---|")
    for method, per in rows.items():
        got = [per.get(s) for s in seeds]
        if not all(g and g[0] for g in got):
            print(f"| {method} | " + " / ".join(g[1] if g else "—" for g in got) + " | | | | | | |")
            continue
        mets = [g[0] for g in got]  # type: ignore[index]
        mean = sum(m["rmse_px"] for m in mets) / len(mets)
        vs = "—" if method == a.baseline or base_mean is None else f"{100 * (mean / base_mean - 1):+.1f} %"
        nets = "; ".join(g[3] for g in got if g[3])  # type: ignore[index]
        print(f"| {method} | " + " / ".join(f"{m['rmse_px']:.2f}" for m in mets) + f" | **{mean:.2f}** | {vs} | "
              + " / ".join(f"{m['median_px']:.2f}" for m in mets) + " | " + " / ".join(f"{m['pck10_px']:.3f}" for m in mets)
              + f" | {nets} | " + " / ".join(str(g[2]) for g in got) + " |")  # type: ignore[index]


if __name__ == "__main__":
    main()
