"""Label Studio: JSON exports read, task lists written.

**Read** (:func:`read_label_studio`): a list of tasks, each with its image in ``data`` and
results of type ``keypointlabels`` (one point each, ``x`` / ``y`` in percent of
``original_width`` / ``original_height``, the keypoint in ``keypointlabels``); the first
annotation that was not cancelled counts. Upload names (``/data/upload/3/1a2b3c4d-img01.png``)
are matched to ``--images`` by path, base name, or base name without Label Studio's 8-hex
prefix (:func:`find_image`).

**Write** (:func:`write_label_studio_tasks`): a task list of images to label (``data.img``
and a ``meta`` of the caller's), what Label Studio imports as new tasks.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import DataFormatError, MissingImageError
from .labels import ProjectLabels, clean_frame_path

__all__ = ["read_label_studio", "find_image", "write_label_studio_tasks"]


def read_label_studio(path: str | os.PathLike[str], keypoints: Sequence[str] | None = None) -> ProjectLabels:
    """Read a Label Studio JSON export (one animal per task; keypoint names in order of first
    appearance unless ``keypoints`` is given). Frame paths are the tasks' image references, as
    written (resolve them with :func:`find_image`).

    Raises:
        DataFormatError: one line naming the file, the task and the result.
    """
    from ..cocojson import read_json

    p = Path(path)
    tasks = read_json(p)
    if not isinstance(tasks, list):
        raise DataFormatError(f"{p}: a Label Studio JSON export is a list of tasks, got {type(tasks).__name__}")
    names: list[str] = list(keypoints or [])
    points: list[tuple[str, dict[str, tuple[float, float]]]] = []
    rows: dict[str, str] = {}
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
        if image in rows:
            raise DataFormatError(f"{p}: {rows[image]} and task {tid}: image {image} is annotated twice; keep one task")
        rows[image] = f"task {tid}"
        points.append((image, pts))
    if not points:
        raise DataFormatError(f"{p}: no annotated task")
    frames = [(img, [[pts.get(n, (math.nan, math.nan)) for n in names]]) for img, pts in points]
    return ProjectLabels(names, [""], frames, "label-studio", rows=rows)


def find_image(ref: str, roots: Sequence[Path], labels: Path, where: str) -> tuple[Path, str]:
    """A Label Studio image reference → the local file and its path relative to the root found.

    Raises:
        MissingImageError: naming the labels file, the task and where it looked.
    """
    rel = ref.split("?", 1)[0]
    for prefix in ("/data/local-files/?d=", "/data/upload/", "s3://", "gs://", "http://", "https://"):
        rel = rel.split(prefix, 1)[-1] if prefix in rel else rel
    rel = rel.replace("\\", "/")
    name = rel.rsplit("/", 1)[-1]
    for cand in (rel.lstrip("/"), name, re.sub(r"^[0-9a-f]{8}-", "", name)):
        if not cand or ".." in cand.split("/"):
            continue
        for root in roots:
            if (root / cand).is_file():
                return root / cand, clean_frame_path(cand, f"{labels}: {where}")
    looked = ", ".join(str(r) for r in roots)
    raise MissingImageError(f"{labels}: {where}: image {ref} not found (looked for {name} under {looked}; give --images ROOT)")


def write_label_studio_tasks(path: str | os.PathLike[str], images: Sequence[tuple[str, Mapping[str, Any]]]) -> Path:
    """Write a Label Studio task list: per image its reference (``data.img``) and ``meta``.

    Args:
        path: the ``.json`` to write.
        images: ``(image reference, meta)`` per task, ids 1, 2 … in this order.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tasks = [{"id": i + 1, "data": {"img": img}, "meta": dict(meta)} for i, (img, meta) in enumerate(images)]
    out.write_text(json.dumps(tasks, indent=1))
    return out
