"""COCO keypoint files as a labelling tool's format: read (e.g. CVAT's export, checked by the one
COCO checker, :func:`semipose.data.cocojson.read_coco_file`) and written (the annotations file of
every import)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from ..cocojson import CocoFile, read_coco_file
from .labels import clean_frame_path

__all__ = ["read_coco_project", "write_coco_keypoints"]


def read_coco_project(path: str | os.PathLike[str]) -> CocoFile:
    """A COCO keypoint file, checked, its image file names relative to the project (``/``
    separators; a name that leaves the project is refused).

    Raises:
        DataFormatError: one line naming the file, the record and the problem.
    """
    cf = read_coco_file(path)
    for img in cf.images.values():
        cast(dict, img)["file_name"] = clean_frame_path(str(img["file_name"]), f"{path}: image {img['id']}")  # the entries of cf.data
    return cf


def write_coco_keypoints(path: str | os.PathLike[str], images: Sequence[dict[str, Any]], annotations: Sequence[dict[str, Any]],
                         keypoints: Sequence[str], *, edges: Sequence[tuple[int, int]] = (), description: str = "",
                         category: str = "animal") -> dict[str, Any]:
    """Write a COCO keypoint file of one category; returns the document written.

    Args:
        images, annotations: COCO ``images`` and ``annotations`` records.
        keypoints: the category's keypoint names.
        edges: the skeleton, 0-based index pairs (written 1-based, as COCO does).
        description: ``info.description``.
    """
    doc = {
        "info": {"description": description},
        "images": list(images), "annotations": list(annotations),
        "categories": [{"id": 1, "name": category, "supercategory": category, "keypoints": list(keypoints),
                        "skeleton": [[a + 1, b + 1] for a, b in edges]}],
    }
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc))
    return doc
