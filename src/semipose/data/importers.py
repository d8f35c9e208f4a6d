"""A labelling tool's project in: labels → a COCO keypoint file and an image folder.

``semipose data import SRC --format dlc|sleap|label-studio|coco --out DIR`` writes ``DIR/annotations.json`` (COCO
keypoints: one instance per labelled frame, or per labelled animal of a multi-animal project;
the keypoint names and the skeleton where the source has one; empty cells → ``v = 0``; a whole-frame box unless the source has boxes, the
keypoints' extent for several animals) and ``DIR/images/`` (links to the source images, or
copies; ``file_name`` relative to it).

Readers:

* **DeepLabCut / lightning-pose CSV** (:func:`read_dlc_csv`): header rows ``scorer``,
  optionally ``individuals`` (multi-animal), ``bodyparts`` and ``coords`` (``x``, ``y`` and,
  for machine labels, ``likelihood``), then one row per image, its path in the first column
  (or split over the first columns, as newer DeepLabCut writes it). Read here with the csv
  module: the format is a plain table, and the reader names the row and column of a problem
  (sleap-io reads it through pandas and would add pandas, h5py, pynwb and skia to the
  install for it). Its ``.h5`` twin is read by :mod:`semipose.data.sleap` and parsed here.
* **SLEAP** ``.slp`` / ``.pkg.slp``: through sleap-io (:mod:`semipose.data.sleap`).
* **Label Studio JSON export** (:func:`read_label_studio`): a list of tasks, each with its
  image in ``data`` and results of type ``keypointlabels`` (one point each, ``x`` / ``y`` in
  percent of ``original_width`` / ``original_height``, the keypoint in ``keypointlabels``);
  the first annotation that was not cancelled counts. Upload names (``/data/upload/3/
  1a2b3c4d-img01.png``) are matched to ``--images`` by path, base name, or base name without
  Label Studio's 8-hex prefix.
* **COCO keypoints** (e.g. CVAT's export): checked by the one COCO checker, images linked.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataFormatError, MissingImageError
from ..params import IMPORT_FORMATS

__all__ = ["DlcLabels", "ImportSummary", "read_dlc_csv", "parse_dlc_rows", "read_label_studio", "import_project", "split_project"]
#: the box of one animal among several: its keypoints' extent, enlarged by this fraction per side
MULTI_ANIMAL_MARGIN = 0.15


@dataclass
class DlcLabels:
    """A DeepLabCut CSV read.

    Attributes:
        keypoints: the body part names, in column order.
        individuals: the animals' names (``[""]`` for a single-animal project).
        frames: per image row, its path (as written) and per individual ``(K, 2)`` coordinates
            with NaN where the cell is empty.
        scorer: the labeller's name.
        edges: the skeleton's edges as 0-based keypoint index pairs, where the source has one.
        files: frame path → its file, where the reader found or wrote it (otherwise the image is
            looked for under the import's roots).
    """

    keypoints: list[str]
    individuals: list[str]
    frames: list[tuple[str, list[list[tuple[float, float]]]]]
    scorer: str = ""
    edges: list[tuple[int, int]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def _number(cell: str, path: Path, row: int, col: int, what: str) -> float:
    if cell.strip() == "":
        return math.nan
    try:
        v = float(cell)
    except ValueError:
        raise DataFormatError(f"{path}: row {row}, column {col} ({what}): {cell!r:.40} is not a number") from None
    if not math.isfinite(v):
        return math.nan
    return v


def read_dlc_csv(path: str | os.PathLike[str]) -> DlcLabels:
    """Read a DeepLabCut / lightning-pose labels CSV (rows and columns are 1-based in messages).

    Raises:
        DataFormatError: one line naming the file, the row and the column.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: labels file not found")
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataFormatError(f"{p}: cannot read as CSV ({e})") from None
    return parse_dlc_rows(rows, p)


def parse_dlc_rows(rows: list[list[str]], p: Path) -> DlcLabels:
    """Parse a DeepLabCut labels table given as CSV rows (from :func:`read_dlc_csv`, or a ``.h5``
    written out as CSV); ``p`` names the file in messages."""
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
    frames = []
    for r, row in enumerate(rows[coords_row + 1 :], start=coords_row + 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise DataFormatError(f"{p}: row {r}: {len(row)} columns, the header has {width}")
        image = "/".join(cell.strip() for cell in row[:first] if cell.strip())
        if not image:
            raise DataFormatError(f"{p}: row {r}, column 1: no image path")
        per_ind = []
        for ind in individuals:
            pts = []
            for bp in keypoints:
                if (ind, bp) not in cols:
                    pts.append((math.nan, math.nan))
                    continue
                cx, cy = cols[(ind, bp)]
                pts.append((_number(row[cx], p, r, cx + 1, f"{bp} x"), _number(row[cy], p, r, cy + 1, f"{bp} y")))
            per_ind.append(pts)
        frames.append((image, per_ind))
    if not frames:
        raise DataFormatError(f"{p}: no labelled rows after the header")
    return DlcLabels(keypoints, individuals, frames, rows[0][1].strip() if len(rows[0]) > 1 else "")


def read_label_studio(path: str | os.PathLike[str], keypoints: Sequence[str] | None = None) -> DlcLabels:
    """Read a Label Studio JSON export into the same form as :func:`read_dlc_csv` (one animal
    per task; keypoint names in order of first appearance unless ``keypoints`` is given).

    Raises:
        DataFormatError: one line naming the file, the task and the result.
    """
    from .cocojson import read_json

    p = Path(path)
    tasks = read_json(p)
    if not isinstance(tasks, list):
        raise DataFormatError(f"{p}: a Label Studio JSON export is a list of tasks, got {type(tasks).__name__}")
    names: list[str] = list(keypoints or [])
    points: list[tuple[str, dict[str, tuple[float, float]]]] = []
    for t, task in enumerate(tasks):
        tid = task.get("id", t) if isinstance(task, dict) else t
        data = task.get("data") if isinstance(task, dict) else None
        image = next((v for v in (data or {}).values() if isinstance(v, str) and v.strip()), None) if isinstance(data, dict) else None
        if image is None:
            raise DataFormatError(f"{p}: task {tid}: no image in 'data'")
        anns = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
        if not anns:
            continue
        pts: dict[str, tuple[float, float]] = {}
        for r in anns[0].get("result") or []:
            if not isinstance(r, dict) or r.get("type") != "keypointlabels":
                continue
            rid, v = r.get("id", "?"), r.get("value") or {}
            try:
                label = str(v["keypointlabels"][0])
                x = float(v["x"]) / 100.0 * float(r["original_width"])
                y = float(v["y"]) / 100.0 * float(r["original_height"])
            except (KeyError, IndexError, TypeError, ValueError):
                raise DataFormatError(
                    f"{p}: task {tid}, result {rid}: a keypoint needs value.x, value.y (percent), value.keypointlabels and "
                    "original_width / original_height"
                ) from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise DataFormatError(f"{p}: task {tid}, result {rid}: non-finite coordinates")
            if label not in names:
                if keypoints:
                    raise DataFormatError(f"{p}: task {tid}, result {rid}: keypoint {label!r} is not one of --keypoints")
                names.append(label)
            pts[label] = (x, y)
        points.append((image, pts))
    if not points:
        raise DataFormatError(f"{p}: no annotated task")
    frames = [(img, [[pts.get(n, (math.nan, math.nan)) for n in names]]) for img, pts in points]
    return DlcLabels(names, [""], frames, "label-studio")


def _label_studio_image(ref: str, roots: Sequence[Path], labels: Path, where: str) -> tuple[Path, str]:
    """A Label Studio image reference → the local file and its path relative to the root found."""
    import re

    rel = ref.split("?", 1)[0]
    for prefix in ("/data/local-files/?d=", "/data/upload/", "s3://", "gs://", "http://", "https://"):
        rel = rel.split(prefix, 1)[-1] if prefix in rel else rel
    name = Path(rel).name
    for cand in (rel.lstrip("/"), name, re.sub(r"^[0-9a-f]{8}-", "", name)):
        for root in roots:
            if (root / cand).is_file():
                return root / cand, cand
    looked = ", ".join(str(r) for r in roots)
    raise MissingImageError(f"{labels}: {where}: image {ref} not found (looked for {name} under {looked}; give --images ROOT)")


@dataclass
class ImportSummary:
    """What an import wrote."""

    out_dir: Path
    annotations: Path
    images: int = 0
    instances: int = 0
    labelled_instances: int = 0
    labelled_keypoints: int = 0
    empty_keypoints: int = 0
    keypoints: list[str] = field(default_factory=list)
    #: what the reader left out, counted (SLEAP: ``predicted`` instances, ``unlabelled`` frames)
    skipped: dict[str, int] = field(default_factory=dict)


def _find_image(rel: str, roots: Sequence[Path], labels: Path, where: str) -> Path:
    for root in roots:
        cand = root / rel
        if cand.is_file():
            return cand
    raise MissingImageError(f"{labels}: {where}: image {rel} not found (looked under {', '.join(str(r) for r in roots)}; give --images ROOT)")


def _image_size(path: Path) -> tuple[int, int]:
    from ..image import read_image

    img = read_image(path)
    return int(img.shape[1]), int(img.shape[0])


def _place(src: Path, dst: Path, copy: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if copy:
        shutil.copy2(src, dst)
    else:
        os.symlink(src.resolve(), dst)


def import_project(src: str | os.PathLike[str], fmt: str, out_dir: str | os.PathLike[str], *, images: str | None = None,
                   copy: bool = False) -> ImportSummary:
    """Import a labelling tool's project (see the module docstring).

    Args:
        src: the labels file (``CollectedData*.csv`` or ``.h5`` for ``dlc``, ``.slp`` / ``.pkg.slp``
            for ``sleap``, a Label Studio JSON export, a COCO JSON for ``coco``).
        fmt: one of :data:`IMPORT_FORMATS`.
        out_dir: where ``annotations.json`` and ``images/`` go.
        images: the folder the labels' image paths are relative to (default: the labels file's
            folder, then its parents).
        copy: copy the images instead of linking them.

    Raises:
        DataFormatError, MissingImageError: one line naming the file, the row and the problem.
    """
    if fmt not in IMPORT_FORMATS:
        raise DataFormatError(f"--format {fmt}: expected one of {', '.join(IMPORT_FORMATS)}")
    s = Path(src)
    out = Path(out_dir)
    roots = [Path(images)] if images else [s.parent, *list(s.parent.parents)[:3]]
    if fmt == "coco":
        return _import_coco(s, out, roots, copy)
    skipped: dict[str, int] = {}
    if fmt == "sleap":
        from .sleap import read_sleap

        labels, skipped = read_sleap(s, out / "images", roots)
    elif fmt == "dlc" and s.suffix.lower() in (".h5", ".hdf5"):
        from .sleap import read_dlc_h5

        labels = read_dlc_h5(s)
    else:
        labels = read_dlc_csv(s) if fmt == "dlc" else read_label_studio(s)
    coco_images: list[dict[str, object]] = []
    anns: list[dict[str, object]] = []
    summary = ImportSummary(out, out / "annotations.json", keypoints=list(labels.keypoints), skipped=skipped)
    multi = len(labels.individuals) > 1
    for i, (rel, per_ind) in enumerate(labels.frames):
        if rel in labels.files:
            path = labels.files[rel]
        elif fmt == "dlc":
            path = _find_image(rel, roots, s, f"row {i + (5 if multi else 4)}")
        else:
            path, rel = _label_studio_image(rel, roots, s, f"task {i + 1}")
        w, h = _image_size(path)
        if path != out / "images" / rel:
            _place(path, out / "images" / rel, copy)
        coco_images.append({"id": i + 1, "file_name": rel, "width": w, "height": h})
        for pts in per_ind:
            kps: list[float] = []
            xs, ys = [], []
            for x, y in pts:
                if math.isnan(x) or math.isnan(y):
                    kps += [0.0, 0.0, 0]
                    summary.empty_keypoints += 1
                else:
                    kps += [float(x), float(y), 2]
                    xs.append(x)
                    ys.append(y)
            if multi and not xs:
                continue  # an animal not in this frame
            if multi:
                bw, bh = max(xs) - min(xs), max(ys) - min(ys)
                mx, my = MULTI_ANIMAL_MARGIN * bw + 2, MULTI_ANIMAL_MARGIN * bh + 2
                x0, y0 = max(0.0, min(xs) - mx), max(0.0, min(ys) - my)
                box = [x0, y0, min(float(w), max(xs) + mx) - x0, min(float(h), max(ys) + my) - y0]
            else:
                box = [0.0, 0.0, float(w), float(h)]
            summary.labelled_keypoints += len(xs)
            summary.labelled_instances += bool(xs)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "keypoints": kps, "num_keypoints": len(xs),
                         "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    summary.images, summary.instances = len(coco_images), len(anns)
    doc = {
        "info": {"description": f"imported by semipose data import from {s} ({fmt}, scorer {labels.scorer!r})"},
        "images": coco_images, "annotations": anns,
        "categories": [{"id": 1, "name": "animal", "supercategory": "animal", "keypoints": list(labels.keypoints),
                        "skeleton": [[a + 1, b + 1] for a, b in labels.edges]}],
    }
    out.mkdir(parents=True, exist_ok=True)
    summary.annotations.write_text(json.dumps(doc))
    return summary


def _import_coco(s: Path, out: Path, roots: Sequence[Path], copy: bool) -> ImportSummary:
    from .cocojson import read_coco_file

    cf = read_coco_file(s)
    summary = ImportSummary(out, out / "annotations.json", keypoints=list(cf.skeleton.keypoints) if cf.skeleton else [])
    for img in cf.images.values():
        _place(_find_image(str(img["file_name"]), roots, s, f"image {img['id']}"), out / "images" / str(img["file_name"]), copy)
    for anns in cf.by_image.values():
        for a in anns:
            v = a.get("keypoints", [])[2::3]
            summary.labelled_keypoints += sum(1 for x in v if x > 0)
            summary.labelled_instances += any(x > 0 for x in v)
            summary.empty_keypoints += sum(1 for x in v if x <= 0)
            summary.instances += 1
    summary.images = len(cf.images)
    out.mkdir(parents=True, exist_ok=True)
    summary.annotations.write_text(json.dumps(cf.data))
    return summary


def split_project(annotations: str | os.PathLike[str], every: int, doc: dict | None = None) -> tuple[Path, Path, int, int]:
    """Hold every ``every``-th labelled frame (by file name) out of an import for validation.

    Writes ``train.json`` and ``val.json`` beside ``annotations`` (``doc``: its contents, when
    already read). With fewer than ``2 * every``
    frames, or ``every < 2``, nothing is held out and both files are the whole set (the
    validation numbers are then training numbers, and the caller says so).

    Returns:
        ``(train, val, n_train, n_val)``; ``n_val`` is 0 when nothing was held out.
    """
    a = Path(annotations)
    doc = doc if doc is not None else json.loads(a.read_text())
    images = sorted(doc["images"], key=lambda im: str(im["file_name"]))
    held = {im["id"] for im in images[every // 2 :: every]} if every >= 2 and len(images) >= 2 * every else set()

    def part(keep: bool) -> dict[str, object]:
        ids = {im["id"] for im in images if (im["id"] in held) != keep} if held else {im["id"] for im in images}
        return {**doc, "images": [im for im in doc["images"] if im["id"] in ids],
                "annotations": [x for x in doc["annotations"] if x["image_id"] in ids]}

    train, val = a.with_name("train.json"), a.with_name("val.json")
    train.write_text(json.dumps(part(True)))
    val.write_text(json.dumps(part(False)))
    return train, val, len(images) - len(held), len(held)
