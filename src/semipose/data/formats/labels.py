"""The one record every labelling tool's reader returns: keypoint names, animals, and per frame
the labelled coordinates."""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ...errors import DataFormatError

__all__ = ["ProjectLabels", "number", "clean_frame_path", "labels_file", "optional_module", "FORMATS_EXTRA"]

#: how to install the optional readers (sleap-io, pandas, tables)
FORMATS_EXTRA = "pip install 'semipose[formats]'"


@dataclass
class ProjectLabels:
    """A labelling tool's labels, read.

    Attributes:
        keypoints: the body part names, in the file's order.
        individuals: the animals' names (``[""]`` for a single-animal project).
        frames: per labelled frame, its path (as written, ``/`` separators; a frame of a video is
            ``<video>#<index>``, :func:`semipose.video.frame_ref`) and per individual ``(K, 2)``
            coordinates with NaN where the keypoint is not labelled.
        scorer: the labeller's (or tool's) name.
        edges: the skeleton's edges as 0-based keypoint index pairs, where the source has one.
        files: frame path → its file (the image, or the video of a ``video#index`` frame), where
            the reader found or wrote it; other frames are looked for under the import's roots.
        rows: frame path → where it is in the source (``row 7``, ``task 3``), for messages.
        tracks: per frame and individual, the track (identity) name where the source has
            tracks (SLEAP), else empty.
    """

    keypoints: list[str]
    individuals: list[str]
    frames: list[tuple[str, list[list[tuple[float, float]]]]]
    scorer: str = ""
    edges: list[tuple[int, int]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, str] = field(default_factory=dict)
    tracks: list[list[str]] = field(default_factory=list)


def number(cell: str, path: Path, row: int, col: int, what: str) -> float:
    """A table cell as a float: NaN when empty or not finite.

    Raises:
        DataFormatError: naming the file, the row, the column and the cell.
    """
    if cell.strip() == "":
        return math.nan
    try:
        v = float(cell)
    except ValueError:
        raise DataFormatError(f"{path}: row {row}, column {col} ({what}): {cell!r:.40} is not a number") from None
    if not math.isfinite(v):
        return math.nan
    return v


def clean_frame_path(raw: str, where: str) -> str:
    """A frame path as a labelling tool wrote it → ``a/b/img.png`` relative to the project root:
    Windows separators become ``/``; a path that leaves the root (``..``, absolute, a drive)
    is refused, so an import never writes outside its output folder.

    Raises:
        DataFormatError: naming ``where`` (the file and the row) and the path.
    """
    p = raw.strip().replace("\\", "/")
    parts = [s for s in p.split("/") if s not in ("", ".")]
    if p.startswith("/") or (parts and len(parts[0]) == 2 and parts[0][1] == ":") or ".." in parts:
        raise DataFormatError(f"{where}: image path {raw!r} leaves the project folder (absolute, a drive or '..'); "
                              "give paths relative to the project (and --images ROOT)")
    if not parts:
        raise DataFormatError(f"{where}: empty image path")
    return "/".join(parts)


def labels_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`Path`, which must be a file.

    Raises:
        DataFormatError: ``<path>: labels file not found``.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: labels file not found")
    return p


def optional_module(name: str, p: Path, needs: str) -> ModuleType:
    """The optional reader ``name`` (of the ``formats`` extra), imported.

    Raises:
        DataFormatError: ``<p>: reading ... needs <needs> (pip install 'semipose[formats]')``.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        raise DataFormatError(f"{p}: {needs} ({FORMATS_EXTRA})") from None
