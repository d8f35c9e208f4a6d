"""The training curves of a metrics CSV, one small plot per numeric column (matplotlib, off-screen)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .._typing import PathLike

# training curves
# --------------------------------------------------------------------------------------------


def _to_float(cell: str | None) -> float | None:
    if cell is None:
        return None
    cell = cell.strip()
    if not cell:
        return None
    try:
        v = float(cell)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def plot_training_curves(csv_path: PathLike, out_path: PathLike) -> Path:
    """Plot every numeric metric of a metrics CSV against the epoch and save a PNG.

    The CSV has a header row. The x axis is the ``epoch`` column (else ``step``, else the row
    number); every other column whose non-empty cells are all numbers gets its own small
    subplot (empty cells are skipped, so metrics logged only on some epochs, such as ``AP``,
    plot fine). Learning-rate columns spanning more than a factor of 20 use a log axis.
    A CSV with no numeric metric yet gives a picture saying so.

    Returns:
        ``out_path`` as a :class:`~pathlib.Path` (parent folders are created).
    """
    from matplotlib.figure import Figure  # off-screen; no pyplot state involved

    src = Path(csv_path)
    with src.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h for h in (reader.fieldnames or []) if h is not None]
        rows = list(reader)
    lower = {h.strip().lower(): h for h in header}
    xcol = lower.get("epoch") or lower.get("step")
    skip = {lower[k] for k in ("epoch", "step") if k in lower}

    series: dict[str, tuple[list[float], list[float]]] = {}
    for col in header:
        if col in skip:
            continue
        xs: list[float] = []
        ys: list[float] = []
        numeric = True
        for r_i, row in enumerate(rows):
            cell = row.get(col)
            if cell is None or not str(cell).strip():
                continue
            y = _to_float(cell)
            if y is None:
                try:
                    float(str(cell).strip())  # nan / inf: numeric but not plottable
                except ValueError:
                    numeric = False
                    break
                continue
            x = _to_float(row.get(xcol)) if xcol else float(r_i)
            if x is None:
                continue
            xs.append(x)
            ys.append(y)
        if numeric and ys:
            series[col] = (xs, ys)

    n = len(series)
    ncols = min(3, max(1, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(4.0 * ncols, 2.8 * nrows), dpi=100)
    if n == 0:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, f"no numeric metrics in {src.name}", ha="center", va="center")
        ax.set_axis_off()
    for i, (name, (xs, ys)) in enumerate(series.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.plot(xs, ys, marker="o" if len(ys) <= 30 else None, markersize=3, linewidth=1.4)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xcol or "row", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        pos = [y for y in ys if y > 0]
        if "lr" in name.lower() and len(pos) == len(ys) and max(pos) / min(pos) > 20:
            ax.set_yscale("log")
    fig.tight_layout()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(out), format="png")
    return out


# --------------------------------------------------------------------------------------------
