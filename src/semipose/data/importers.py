"""A labelling tool's project in: labels → a COCO keypoint file, an image folder, a validation
split and a training config.

``semipose data import SRC --format dlc|sleap|label-studio|coco --out DIR`` (:func:`import_and_configure`)
writes ``DIR/annotations.json`` (COCO keypoints: one instance per labelled frame, or per
labelled animal of a multi-animal project; the keypoint names and the skeleton where the source
has one; empty cells → ``v = 0``; a whole-frame box unless the source has boxes, the keypoints'
extent for several animals, at least half the median animal's box for one with few
keypoints), ``DIR/images/`` (links to the source images and videos, or copies; ``file_name``
relative to it, a frame of a video as ``clip.mp4#12``), ``train.json`` / ``val.json``
(:func:`split_project`) and ``config.yaml`` (:mod:`semipose.config.project`); for several animals
per frame also ``finder.yaml``, their instance finder's.

Each tool's format is read by its module in :mod:`semipose.data.formats`; nothing is ever
written or removed outside ``DIR``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from ..errors import DataFormatError, MissingFileError, MissingImageError
from ..params import IMPORT_FORMATS
from ..video import parse_frame_ref, video_info
from .formats.coco import read_coco_project, write_coco_keypoints
from .formats.labels import ProjectLabels

__all__ = ["ImportSummary", "ProjectImport", "read_project", "import_project", "split_project", "import_and_configure",
           "MULTI_ANIMAL_MARGIN"]
#: the box of one animal among several: its keypoints' extent, enlarged by this fraction per side
MULTI_ANIMAL_MARGIN = 0.15


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
    #: the annotations file's contents, as written
    document: dict[str, Any] = field(default_factory=dict, repr=False)


def read_project(src: Path, fmt: str, images_dir: Path, roots: Sequence[Path]) -> tuple[ProjectLabels, dict[str, int]]:
    """A labelling tool's labels file read by its format's module, and what the reader left out.

    Args:
        src: the labels file.
        fmt: ``dlc`` (``.csv`` or ``.h5``), ``sleap`` or ``label-studio`` (``coco`` is imported as it is).
        images_dir: where a reader that must write frames (a SLEAP package) writes them.
        roots: folders to look in for files the labels name.
    """
    if fmt == "sleap":
        from .formats.sleap import read_sleap

        return read_sleap(src, images_dir, roots)
    if fmt == "dlc":
        from .formats.dlc import read_dlc_csv, read_dlc_h5

        return (read_dlc_h5(src) if src.suffix.lower() in (".h5", ".hdf5") else read_dlc_csv(src)), {}
    from .formats.label_studio import read_label_studio

    return read_label_studio(src), {}


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


def _place(src: Path, dst: Path, root: Path, copy: bool) -> None:
    """Link (or copy) ``src`` to ``dst``, which must lie inside ``root`` (an import writes nothing
    outside its folder; the readers refuse paths that leave it, this is the last guard)."""
    d, r = os.path.abspath(dst), os.path.abspath(root)
    if os.path.commonpath([d, r]) != r:
        raise DataFormatError(f"{src}: would be written to {dst}, outside {root}; refused")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if copy:
        shutil.copy2(src, dst)
    else:
        os.symlink(src.resolve(), dst)


def _box(xs: list[float], ys: list[float], w: int, h: int) -> list[float]:
    """One animal among several: its keypoints' extent, enlarged by :data:`MULTI_ANIMAL_MARGIN`, clipped to the frame."""
    bw, bh = max(xs) - min(xs), max(ys) - min(ys)
    mx, my = MULTI_ANIMAL_MARGIN * bw + 2, MULTI_ANIMAL_MARGIN * bh + 2
    x0, y0 = max(0.0, min(xs) - mx), max(0.0, min(ys) - my)
    return [x0, y0, min(float(w), max(xs) + mx) - x0, min(float(h), max(ys) + my) - y0]


def _widen_small_boxes(anns: list[dict[str, Any]], sizes: dict[int, tuple[int, int]], k: int) -> None:
    """An animal with few labelled keypoints (one: a 4-px box) gets a box of at least half the
    median box of the animals with at least half their keypoints labelled, around its own centre,
    so its crop is not a zoom into a few pixels (in place)."""
    full = [a["bbox"] for a in anns if int(a["num_keypoints"]) >= max(2, k // 2)]
    if not full:
        return
    min_w, min_h = median(b[2] for b in full) / 2, median(b[3] for b in full) / 2
    for a in anns:
        x, y, w, h = a["bbox"]
        if w >= min_w and h >= min_h:
            continue
        fw, fh = sizes[int(a["image_id"])]
        cx, cy, w, h = x + w / 2, y + h / 2, max(w, min_w), max(h, min_h)
        x0, y0 = max(0.0, cx - w / 2), max(0.0, cy - h / 2)
        a["bbox"] = [x0, y0, min(float(fw), cx + w / 2) - x0, min(float(fh), cy + h / 2) - y0]
        a["area"] = a["bbox"][2] * a["bbox"][3]


def import_project(src: str | os.PathLike[str], fmt: str, out_dir: str | os.PathLike[str], *, images: str | None = None,
                   copy: bool = False) -> ImportSummary:
    """Import a labelling tool's project into ``annotations.json`` and ``images/`` (see the module docstring).

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
    labels, skipped = read_project(s, fmt, out / "images", roots)
    coco_images: list[dict[str, object]] = []
    anns: list[dict[str, object]] = []
    summary = ImportSummary(out, out / "annotations.json", keypoints=list(labels.keypoints), skipped=skipped)
    multi = len(labels.individuals) > 1
    videos: dict[str, tuple[int, int]] = {}
    for i, (rel, per_ind) in enumerate(labels.frames):
        where = labels.rows.get(rel, f"frame {i + 1}")
        frame = parse_frame_ref(rel, must_exist=False)
        if frame is not None and rel in labels.files:  # a frame of a video: the video placed once, the frame read from it
            video = frame[0]
            if video not in videos:
                _place(labels.files[rel], out / "images" / video, out, copy)
                vi = video_info(labels.files[rel], error=DataFormatError)
                videos[video] = (vi.width, vi.height)
            w, h = videos[video]
        else:
            if rel in labels.files:
                path = labels.files[rel]
            elif fmt == "dlc":
                path = _find_image(rel, roots, s, where)
            else:
                from .formats.label_studio import find_image

                path, rel = find_image(rel, roots, s, where)
            w, h = _image_size(path)
            if path != out / "images" / rel:
                _place(path, out / "images" / rel, out, copy)
        coco_images.append({"id": i + 1, "file_name": rel, "width": w, "height": h})
        tracks = labels.tracks[i] if labels.tracks else []
        for j, pts in enumerate(per_ind):
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
            box = _box(xs, ys, w, h) if multi else [0.0, 0.0, float(w), float(h)]
            summary.labelled_keypoints += len(xs)
            summary.labelled_instances += bool(xs)
            ann: dict[str, object] = {"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "keypoints": kps,
                                      "num_keypoints": len(xs), "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
            if multi:
                ann["individual"] = labels.individuals[j]
            if j < len(tracks) and tracks[j]:
                ann["track"] = tracks[j]
            anns.append(ann)
    if multi:
        sizes = {int(im["id"]): (int(im["width"]), int(im["height"])) for im in coco_images}  # type: ignore[call-overload]
        _widen_small_boxes(anns, sizes, len(labels.keypoints))
    summary.images, summary.instances = len(coco_images), len(anns)
    summary.document = write_coco_keypoints(summary.annotations, coco_images, anns, labels.keypoints, edges=labels.edges,
                                            description=f"imported by semipose data import from {s} ({fmt}, scorer {labels.scorer!r})")
    return summary


def _import_coco(s: Path, out: Path, roots: Sequence[Path], copy: bool) -> ImportSummary:
    cf = read_coco_project(s)
    summary = ImportSummary(out, out / "annotations.json", keypoints=list(cf.skeleton.keypoints) if cf.skeleton else [])
    for img in cf.images.values():
        _place(_find_image(str(img["file_name"]), roots, s, f"image {img['id']}"), out / "images" / str(img["file_name"]), out, copy)
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
    summary.document = dict(cf.data)
    return summary


def _check_val_every(every: object) -> None:
    """``--val-every`` is a whole number ≥ 0 (0: hold nothing out); else one line."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise DataFormatError(f"--val-every {every}: expected a whole number ≥ 0 (0: hold nothing out)")


def _frame_order(name: str) -> tuple[str, int]:
    """Sort key of a frame path: a video's frames by their index (``clip.mp4#9`` before ``#10``), images by name."""
    frame = parse_frame_ref(name, must_exist=False)
    return (frame[0], frame[1]) if frame is not None else (name, -1)


def split_project(annotations: str | os.PathLike[str], every: int, doc: dict | None = None) -> tuple[Path, Path, int, int]:
    """Hold every ``every``-th labelled frame (by file name; a video's frames by index) out of an import for validation.

    Writes ``train.json`` and ``val.json`` beside ``annotations`` (``doc``: its contents, when
    already read). With ``every`` 0 or 1, or fewer than ``2 * every``
    frames, nothing is held out and both files are the whole set (the
    validation numbers are then training numbers, and the caller says so).

    Returns:
        ``(train, val, n_train, n_val)``; ``n_val`` is 0 when nothing was held out.
    """
    _check_val_every(every)
    a = Path(annotations)
    doc = doc if doc is not None else json.loads(a.read_text())
    images = sorted(doc["images"], key=lambda im: _frame_order(str(im["file_name"])))
    held = {im["id"] for im in images[every // 2 :: every]} if every >= 2 and len(images) >= 2 * every else set()

    def part(keep: bool) -> dict[str, object]:
        ids = {im["id"] for im in images if (im["id"] in held) != keep} if held else {im["id"] for im in images}
        return {**doc, "images": [im for im in doc["images"] if im["id"] in ids],
                "annotations": [x for x in doc["annotations"] if x["image_id"] in ids]}

    train, val = a.with_name("train.json"), a.with_name("val.json")
    train.write_text(json.dumps(part(True)))
    val.write_text(json.dumps(part(False)))
    return train, val, len(images) - len(held), len(held)


@dataclass
class ProjectImport:
    """What :func:`import_and_configure` wrote: the import, the split and the training config."""

    summary: ImportSummary
    train: Path
    val: Path
    n_train: int
    n_val: int
    val_every: int
    config_path: Path
    config: dict[str, Any]
    #: the instance finder's config (``finder.yaml``) of a project with several animals per frame
    finder_path: Path | None = None

    @property
    def held_out(self) -> str:
        """One line on the validation split."""
        if self.n_val:
            return f"{self.n_val} frames held out for validation (every {self.val_every}th: val.json), {self.n_train} to train on (train.json)"
        if self.val_every < 2:
            return f"--val-every {self.val_every}: nothing held out; val.json is the training set (its numbers are training numbers)"
        return f"too few frames to hold every {self.val_every}th out: val.json is the training set (its numbers are training numbers)"


def import_and_configure(src: str | os.PathLike[str], fmt: str, out_dir: str | os.PathLike[str], *, images: str | None = None,
                         copy: bool = False, val_every: int = 10, videos: Sequence[str | os.PathLike[str]] = ()) -> ProjectImport:
    """``semipose data import``: the project imported (:func:`import_project`), split
    (:func:`split_project`) and given a training config (``DIR/config.yaml``,
    :func:`semipose.config.project.project_config`) whose unlabelled set is ``videos``.

    Raises:
        DataFormatError, MissingImageError, MissingFileError: one line naming the file and the problem.
    """
    from ..config.project import config_header, finder_config, finder_header, project_config, render_project_config

    _check_val_every(val_every)  # before any work
    vids = [str(Path(v).resolve()) for v in videos]
    for v in vids:
        if not Path(v).exists():
            raise MissingFileError(f"--videos {v}: not found")
    s = import_project(src, fmt, out_dir, images=images, copy=copy)
    doc = s.document
    train, val, n_train, n_val = split_project(s.annotations, val_every, doc)
    out = s.out_dir.resolve()
    sizes = Counter((int(im["width"]), int(im["height"])) for im in doc["images"])
    cat = doc["categories"][0]
    per_frame = Counter(int(a["image_id"]) for a in doc["annotations"])
    several = bool(per_frame) and max(per_frame.values()) > 1
    boxes = [a["bbox"] for a in doc["annotations"] if a.get("num_keypoints", 0)]
    instance_box = (float(median(b[2] for b in boxes)), float(median(b[3] for b in boxes))) if several and boxes else None
    cfg = project_config(str(out), name=out.name, frame_size=sizes.most_common(1)[0][0], flip_pairs=bool(cat.get("flip_pairs")),
                         videos=vids, instance_box=instance_box)
    path = out / "config.yaml"
    path.write_text(render_project_config(cfg, config_header(f"{src} ({fmt})", path, bool(vids))))
    finder_path = None
    if instance_box is not None:  # several animals a frame: their finder too
        finder_path = out / "finder.yaml"
        fcfg = finder_config(str(out), name=f"{out.name}-finder", frame_size=sizes.most_common(1)[0][0], crop=instance_box)
        finder_path.write_text(render_project_config(fcfg, finder_header(f"{src} ({fmt})", finder_path, path)))
    return ProjectImport(s, train, val, n_train, n_val, val_every, path, cfg, finder_path)
