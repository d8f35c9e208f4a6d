"""DeepLabCut / lightning-pose labels tables: ``CollectedData*.csv`` and its ``.h5`` twin, read
and written.

The table: header rows ``scorer``, optionally ``individuals`` (multi-animal: one instance per
individual; the ``single`` individual's unique body parts, landmarks of the arena, are left out
and said), ``bodyparts`` and ``coords`` (``x``, ``y`` and, for machine labels, ``likelihood``),
then one row per image, its path in the first column (or split over the first columns, as newer
DeepLabCut writes it).

* :func:`read_dlc_csv` reads the CSV with the csv module: the format is a plain table, and the
  reader names the row and column of a problem (sleap-io reads it through pandas and would add
  pandas, h5py, pynwb and skia to the install for it).
* :func:`read_dlc_h5` reads the ``.h5`` (the pandas table the CSV is written from, ``pandas.read_hdf``)
  and parses it through the same rows, so both give the same labels and the same checks; it
  needs the ``formats`` extra (``pip install 'semipose[formats]'``).
* :func:`write_dlc_table` writes the layout: predictions (``likelihood`` columns, one row per
  frame index) and frames to label (empty cells, one row per image path).

Image paths are read with ``/`` or Windows ``\\`` separators; one that leaves the project
(``..``, absolute) is refused; an image listed twice with different labels is refused, twice
with the same labels counted once.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataFormatError
from .labels import FORMATS_EXTRA, ProjectLabels, clean_frame_path, labels_file, number, optional_module

__all__ = ["read_dlc_csv", "read_dlc_h5", "parse_dlc_rows", "write_dlc_table", "FORMATS_EXTRA"]

log = logging.getLogger(__name__)


def read_dlc_csv(path: str | os.PathLike[str]) -> ProjectLabels:
    """Read a DeepLabCut / lightning-pose labels CSV (rows and columns are 1-based in messages).

    Raises:
        DataFormatError: one line naming the file, the row and the column.
    """
    p = labels_file(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataFormatError(f"{p}: cannot read as CSV ({e})") from None
    return parse_dlc_rows(rows, p)


def read_dlc_h5(path: str | os.PathLike[str]) -> ProjectLabels:
    """Read a DeepLabCut ``CollectedData*.h5`` (the pandas table its CSV is written from).

    Raises:
        DataFormatError: one line naming the file and the problem (a row of the table counts
            from the CSV's first header row, as in the CSV it mirrors).
    """
    p = labels_file(path)
    pd = optional_module("pandas", p, "reading DeepLabCut .h5 files (or give the CSV) needs pandas and tables")
    try:
        df = pd.read_hdf(p)
    except ImportError as e:
        raise DataFormatError(f"{p}: reading DeepLabCut .h5 files needs tables ({FORMATS_EXTRA}): {e}") from None
    except Exception as e:  # noqa: BLE001 - pandas/tables raise many kinds for a bad file
        raise DataFormatError(f"{p}: cannot read as a pandas HDF5 table ({type(e).__name__}: {e})") from None
    if not isinstance(df, pd.DataFrame):
        raise DataFormatError(f"{p}: expected a DeepLabCut labels table, got a {type(df).__name__}")
    buf = io.StringIO()
    df.to_csv(buf)
    return parse_dlc_rows(list(csv.reader(io.StringIO(buf.getvalue()))), p)


def _header(rows: list[list[str]], p: Path) -> tuple[bool, int, int]:
    """``(multi-animal, bodyparts row, coords row)`` (0-based) of a table's header."""
    if not rows or not rows[0] or rows[0][0].strip() != "scorer":
        head = rows[0][0] if rows and rows[0] else ""
        raise DataFormatError(f"{p}: row 1: not a DeepLabCut labels CSV (its first cell is {head!r:.30}, expected 'scorer')")
    names = [r[0].strip() if r else "" for r in rows[:4]]
    multi = len(names) > 1 and names[1] == "individuals"
    body_row = 2 if multi else 1
    if len(names) <= body_row or names[body_row] != "bodyparts":
        got = names[body_row] if len(names) > body_row else "nothing"
        raise DataFormatError(f"{p}: row {body_row + 1}: expected the 'bodyparts' header row, got {got!r}")
    coords_row = body_row + 1
    if len(names) <= coords_row or names[coords_row] != "coords":
        raise DataFormatError(f"{p}: row {coords_row + 1}: no 'coords' header row (x, y per keypoint) after 'bodyparts'")
    return multi, body_row, coords_row


#: the individual multi-animal DeepLabCut files its unique body parts (landmarks of the arena,
#: not of an animal) under
UNIQUE_INDIVIDUAL = "single"


def _unique_bodyparts(cols: dict[tuple[str, str], tuple[int, int]], multi: bool) -> list[str]:
    """The body parts only the :data:`UNIQUE_INDIVIDUAL` individual has (multi-animal tables)."""
    if not multi:
        return []
    animal = {bp for ind, bp in cols if ind != UNIQUE_INDIVIDUAL}
    return list(dict.fromkeys(bp for ind, bp in cols if ind == UNIQUE_INDIVIDUAL and bp not in animal))


def parse_dlc_rows(rows: list[list[str]], p: Path) -> ProjectLabels:
    """Parse a DeepLabCut labels table given as CSV rows (from :func:`read_dlc_csv`, or a ``.h5``
    written out as CSV); ``p`` names the file in messages."""
    multi, body_row, coords_row = _header(rows, p)
    width = len(rows[coords_row])
    coords = [c.strip() for c in rows[coords_row]]
    first = next((i for i, c in enumerate(coords) if c in ("x", "y", "likelihood")), None)
    if first is None:
        raise DataFormatError(f"{p}: row {coords_row + 1}: no x / y columns")
    bodyparts, inds = rows[body_row], rows[1] if multi else [""] * width
    keypoints: list[str] = []
    individuals: list[str] = []
    cols: dict[tuple[str, str], tuple[int, int]] = {}
    c = first
    while c < width:
        if coords[c] == "likelihood":
            c += 1
            continue
        if coords[c] != "x" or c + 1 >= width or coords[c + 1] != "y":
            raise DataFormatError(f"{p}: row {coords_row + 1}, column {c + 1}: the coordinate columns must come in x, y pairs, got {coords[c]!r}")
        bp, ind = bodyparts[c].strip(), (inds[c].strip() if multi else "")
        if bodyparts[c + 1].strip() != bp:
            raise DataFormatError(f"{p}: row {body_row + 1}, column {c + 2}: x and y of one keypoint must name the same body part")
        if bp not in keypoints:
            keypoints.append(bp)
        if ind not in individuals:
            individuals.append(ind)
        if (ind, bp) in cols:
            raise DataFormatError(f"{p}: row {body_row + 1}, column {c + 1}: body part {bp!r} appears twice")
        cols[(ind, bp)] = (c, c + 1)
        c += 2
    unique = _unique_bodyparts(cols, multi)
    if unique:  # multi-animal DeepLabCut's "uniquebodyparts" (the "single" individual): not an animal's keypoints
        log.warning("%s: %d unique body part(s) of the %r individual (%s) are not an animal's keypoints; not imported",
                    p, len(unique), UNIQUE_INDIVIDUAL, ", ".join(unique))
        keypoints = [k for k in keypoints if k not in unique]
        individuals = [i for i in individuals if i != UNIQUE_INDIVIDUAL]
        cols = {key: v for key, v in cols.items() if key[0] != UNIQUE_INDIVIDUAL}
    frames: list[tuple[str, list[list[tuple[float, float]]]]] = []
    where: dict[str, str] = {}
    seen: dict[str, int] = {}
    repeats = 0
    for r, row in enumerate(rows[coords_row + 1 :], start=coords_row + 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise DataFormatError(f"{p}: row {r}: {len(row)} columns, the header has {width}")
        raw = "/".join(cell.strip() for cell in row[:first] if cell.strip())
        if not raw:
            raise DataFormatError(f"{p}: row {r}, column 1: no image path")
        image = clean_frame_path(raw, f"{p}: row {r}")
        per_ind = []
        for ind in individuals:
            pts = []
            for bp in keypoints:
                if (ind, bp) not in cols:
                    pts.append((math.nan, math.nan))
                    continue
                cx, cy = cols[(ind, bp)]
                pts.append((number(row[cx], p, r, cx + 1, f"{bp} x"), number(row[cy], p, r, cy + 1, f"{bp} y")))
            per_ind.append(pts)
        if image in seen:
            if not np.array_equal(np.array(frames[seen[image]][1]), np.array(per_ind), equal_nan=True):
                raise DataFormatError(f"{p}: rows {where[image].removeprefix('row ')} and {r}: image {image} is listed twice "
                                      "with different labels; keep one row")
            repeats += 1
            continue
        seen[image], where[image] = len(frames), f"row {r}"
        frames.append((image, per_ind))
    if not frames:
        raise DataFormatError(f"{p}: no labelled rows after the header")
    if repeats:
        log.warning("%s: %d rows repeat an image with the same labels; each image counted once", p, repeats)
    return ProjectLabels(keypoints, individuals, frames, rows[0][1].strip() if len(rows[0]) > 1 else "", rows=where)


def write_dlc_table(path: str | os.PathLike[str], rows: Sequence[tuple[str | int, Sequence[Any]]], keypoints: Sequence[str], *,
                    scorer: str = "semipose", individuals: Sequence[str] | None = None, likelihood: bool = False) -> Path:
    """Write a DeepLabCut / lightning-pose table.

    Args:
        path: the ``.csv`` to write (its folder is made).
        rows: per row, its first cell (an image path, or a frame index) and per individual an
            ``(K, 2)`` or ``(K, 3)`` array-like (x, y[, likelihood]) or None (cells left empty);
            fewer individuals than the header leave the rest empty.
        keypoints: the body part names (K).
        scorer: the ``scorer`` row's name.
        individuals: the ``individuals`` row's names (None: a single-animal table, no such row).
        likelihood: write ``x, y, likelihood`` per keypoint (predictions), else ``x, y`` (labels).

    Returns:
        ``path``.
    """
    out = Path(path)
    k, per = len(keypoints), 3 if likelihood else 2
    inds = list(individuals) if individuals else [""]
    n = len(inds)
    coords = ["x", "y", "likelihood"][:per]
    header = [["scorer", *[scorer] * (per * k * n)]]
    if individuals:
        header.append(["individuals", *[ind for ind in inds for _ in range(per * k)]])
    header.append(["bodyparts", *[name for _ in range(n) for name in keypoints for _ in range(per)]])
    header.append(["coords", *coords * (k * n)])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerows(header)
        for first, per_ind in rows:
            row: list[Any] = [first]
            for ind in list(per_ind)[:n]:
                if ind is None:
                    row += [""] * (per * k)
                    continue
                a = np.asarray(ind, np.float64).reshape(k, -1)[:, :per]
                row += ["" if not math.isfinite(v) else round(float(v), 4) for v in a.reshape(-1)]
            row += [""] * (1 + per * k * n - len(row))
            w.writerow(row)
    return out
