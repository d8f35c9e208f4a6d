"""MPII Human Pose in the HRNet / SimpleBaseline JSON layout → :class:`PoseRecord` lists.

The annotation file (``mpii/annot/<set>.json`` in the reference tree) is a JSON list with one
entry per person::

    {"image": "015601864.jpg", "center": [x, y], "scale": s,
     "joints": [[x, y] × 16], "joints_vis": [0|1 × 16]}

``scale`` is the person height / 200; joints are in MPII's order (:data:`~semipose.skeletons.MPII16`)
and, like the centre, in MATLAB's 1-based pixel convention; unlabelled joints are ``[-1, -1]``
with ``joints_vis`` 0. The test set has no ``joints`` / ``joints_vis``.

Conversion (reference ``MPIIDataset._get_db``, ``docs/differences.md``):

* the person box is the square of side ``s · 200`` around the centre; the crop pads it to the
  input's aspect ratio and enlarges it by ``data.padding`` (1.25), like any box;
* if ``center[0] != -1``: ``center_y += 15·s``; otherwise the box is not enlarged (the
  reference scales by 1.25 only then);
* then ``center −= 1`` and ``joints −= 1`` (1-based → 0-based pixels). The evaluation adds the
  1 back (:func:`semipose.evaluation.pckh.evaluate_pckh`);
* a joint with ``joints_vis > 0`` becomes ``v = 2`` (labelled), the others ``(0, 0, 0)``.

(The shared sample's README calls the joints 0-based; the reference code treats the file as
1-based, and this reader follows the reference. ``one_based=False`` skips the −1.)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError
from ..geometry import PIXEL_STD
from ..skeletons import MPII16
from .cocojson import read_json
from .records import CocoKeypointSet, PoseRecord

__all__ = ["load_mpii", "mpii_entry_to_record"]

log = logging.getLogger(__name__)

NUM_JOINTS = 16


def _numbers(value: Any, shape: tuple[int, ...], what: str, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataFormatError(f"{where}: '{what}' is not numeric ({e})") from e
    if arr.shape != shape:
        raise DataFormatError(f"{where}: '{what}' has shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(f"{where}: '{what}' has non-finite values")
    return arr


def _image_id(name: str, index: int) -> int:
    stem = Path(name).stem
    return int(stem) if stem.isdigit() else index + 1


def mpii_entry_to_record(
    entry: Mapping[str, Any],
    image_dir: str | os.PathLike[str],
    *,
    where: str = "entry",
    index: int = 0,
    center_shift: float = 15.0,
    one_based: bool = True,
) -> PoseRecord:
    """Convert one MPII JSON entry to a record (see the module docstring for the rules).

    Args:
        entry: ``{"image", "center", "scale", "joints"?, "joints_vis"?}``.
        image_dir: folder the ``image`` names are relative to.
        where: location used in error messages (file and entry).
        index: the entry's position (``ann_id``; ``image_id`` when the file name is not numeric).
        center_shift: ``center_y += center_shift · s`` (15 in the reference).
        one_based: subtract 1 from the centre and the joints (the reference's MATLAB → 0-based).

    Returns:
        A :class:`PoseRecord` with ``(16, 3)`` keypoints in 0-based image pixels, ``bbox`` the
        unpadded square ``s·200`` box around the (shifted) centre, ``box_score`` 1.

    Raises:
        DataFormatError: a missing or malformed field (the message names ``where``).
    """
    if not isinstance(entry, Mapping):
        raise DataFormatError(f"{where}: expected an object, got {type(entry).__name__}")
    for key in ("image", "center", "scale"):
        if key not in entry:
            raise DataFormatError(f"{where}: missing '{key}'")
    image = entry["image"]
    if not isinstance(image, str) or not image:
        raise DataFormatError(f"{where}: 'image' must be a file name")
    where = f"{where} ({image})"
    c = _numbers(entry["center"], (2,), "center", where)
    s_arr = _numbers(entry["scale"], (), "scale", where)
    s = float(s_arr)
    if s <= 0:
        raise DataFormatError(f"{where}: 'scale' must be positive, got {s}")
    kpts = np.zeros((NUM_JOINTS, 3), dtype=np.float64)
    has_joints = "joints" in entry or "joints_vis" in entry
    if has_joints:
        if "joints" not in entry or "joints_vis" not in entry:
            raise DataFormatError(f"{where}: 'joints' and 'joints_vis' must be given together")
        joints = _numbers(entry["joints"], (NUM_JOINTS, 2), "joints", where)
        vis = _numbers(entry["joints_vis"], (NUM_JOINTS,), "joints_vis", where)
        labelled = vis > 0
        kpts[:, :2] = joints - (1.0 if one_based else 0.0)
        kpts[:, 2] = 2.0
        kpts[~labelled] = 0.0
    box_side = s * PIXEL_STD
    enlarged = bool(c[0] != -1)
    if enlarged:
        c[1] += center_shift * s
    if one_based:
        c = c - 1.0
    bbox = np.array([c[0] - box_side / 2, c[1] - box_side / 2, box_side, box_side], dtype=np.float32)
    return PoseRecord(
        image_path=str(Path(image_dir) / image),
        image_id=_image_id(image, index),
        bbox=bbox,
        keypoints=kpts.astype(np.float32),
        box_score=1.0,
        ann_id=int(index),
        padding=None if enlarged else 1.0,
    )


def load_mpii(
    ann_file: str | os.PathLike[str],
    image_dir: str | os.PathLike[str],
    *,
    center_shift: float = 15.0,
    one_based: bool = True,
    require_joints: bool = False,
) -> CocoKeypointSet:
    """Read an MPII annotation file in the HRNet JSON layout.

    Args:
        ann_file: the JSON list (``train.json``, ``valid.json``, ``test.json``).
        image_dir: the ``mpii/images`` folder.
        center_shift, one_based: see :func:`mpii_entry_to_record`.
        require_joints: raise if an entry has no ``joints`` (labelled sets); by default a
            test-set entry without joints gives a record with all-zero keypoints.

    Returns:
        A :class:`~semipose.data.coco.CocoKeypointSet` (the container the COCO reader returns)
        with one record per entry, in file order, skeleton :data:`~semipose.skeletons.MPII16`.

    Raises:
        DataFormatError: missing or malformed file or entry (naming the file, the entry index
            and its image).
    """
    path = Path(ann_file)
    data = read_json(path)
    if not isinstance(data, list):
        raise DataFormatError(f"{path}: expected a JSON list of MPII entries, got {type(data).__name__}")
    records: list[PoseRecord] = []
    for i, entry in enumerate(data):
        where = f"{path}: entry {i}"
        if require_joints and isinstance(entry, Mapping) and "joints" not in entry:
            raise DataFormatError(f"{where} ({entry.get('image', '?')}): no 'joints' in a labelled set")
        records.append(
            mpii_entry_to_record(
                entry, image_dir, where=where, index=i, center_shift=center_shift, one_based=one_based,
            )
        )
    if not records:
        raise DataFormatError(f"{path}: no MPII entries")
    n_images = len({r.image_path for r in records})
    return CocoKeypointSet(records, MPII16, path, Path(image_dir), n_images, {}).checked()
