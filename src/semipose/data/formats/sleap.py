"""SLEAP projects (``.slp``, ``.pkg.slp``), read through sleap-io.

SLEAP files are HDF5 with JSON metadata, several video backends (a video file, an image
sequence, frames embedded in a ``.pkg.slp``) and user and predicted instances; read with
`sleap-io <https://github.com/talmolab/sleap-io>`_ (SLEAP's own I/O library), not by hand.
Only user-labelled instances count (predictions are counted and left out); the instances'
tracks are kept (:attr:`ProjectLabels.tracks`).

Frames of a video file are named by the frame rule (``clip.mp4#12``,
:func:`semipose.video.frame_ref`) and read from the video when used: nothing is written.
Frames embedded in a package (or in a video OpenCV cannot open) are written once as PNG to
``DIR/images/<video>/img<frame>.png``; frames of an image sequence are linked like any image.
A video that moved since labelling is looked for by its name under ``--images`` (or the labels
file's folder).

Needs the ``formats`` extra (``pip install 'semipose[formats]'``); without it the import stops
with one line saying so.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import DataFormatError, MissingImageError
from ...video import frame_ref, is_video
from .labels import ProjectLabels, labels_file, optional_module

__all__ = ["read_sleap"]


def _find_file(name: str, roots: Sequence[Path]) -> Path | None:
    p = Path(name)
    if p.is_file():
        return p
    for root in roots:
        for cand in (root / name, root / p.name):
            if cand.is_file():
                return cand
    return None


def _video_frame(video: Any, frame_idx: int, labels: Path, where: str) -> Any:
    try:
        img = video[frame_idx]
    except Exception as e:  # noqa: BLE001 - the video backends raise many kinds
        raise DataFormatError(f"{labels}: {where}: cannot read frame {frame_idx} of {video.filename} ({type(e).__name__}: {e})") from None
    if img is None:
        raise DataFormatError(f"{labels}: {where}: frame {frame_idx} of {video.filename} could not be decoded")
    return img


def read_sleap(path: str | os.PathLike[str], images_dir: str | os.PathLike[str], roots: Sequence[Path]) -> tuple[ProjectLabels, dict[str, int]]:
    """Read a SLEAP labels file; write the labelled frames of packages to ``images_dir`` (frames
    of video files are named ``video#index``, nothing written).

    Args:
        path: a ``.slp`` or ``.pkg.slp`` file.
        images_dir: ``DIR/images`` of the import: frames extracted from a package go to ``<video>/img<frame>.png``.
        roots: folders to look in for a video or image that is not where the file says.

    Returns:
        The labels (``files`` maps each frame's path relative to ``images_dir`` to its file; the
        skeleton's edges are kept) and counts: ``predicted`` instances left out, ``unlabelled``
        frames (predictions only) left out.

    Raises:
        DataFormatError, MissingImageError: one line naming the file, the frame and the problem.
    """
    import cv2
    import numpy as np

    p = labels_file(path)
    sio = optional_module("sleap_io", p, "reading SLEAP files needs sleap-io")
    try:
        labels = sio.load_slp(str(p), open_videos=False)
    except Exception as e:  # noqa: BLE001 - h5py / sleap-io raise many kinds for a bad file
        raise DataFormatError(f"{p}: cannot read as a SLEAP labels file ({type(e).__name__}: {e})") from None
    if not labels.skeletons:
        raise DataFormatError(f"{p}: no skeleton in the file")
    if len(labels.skeletons) > 1:
        names = ", ".join(repr(s.name) for s in labels.skeletons)
        raise DataFormatError(f"{p}: {len(labels.skeletons)} skeletons ({names}); import one skeleton per project")
    skel = labels.skeletons[0]
    keypoints = [str(n) for n in skel.node_names]
    edges = [(int(a), int(b)) for a, b in skel.edge_inds]
    out = Path(images_dir)
    counts = {"predicted": 0, "unlabelled": 0}
    stems: dict[int, str] = {}
    opened: dict[int, Any] = {}
    located: dict[int, tuple[Path | None, bool]] = {}
    rows: dict[str, str] = {}
    tracks: list[list[str]] = []
    frames: list[tuple[str, list[list[tuple[float, float]]]]] = []
    files: dict[str, Path] = {}

    def folder(v: Any) -> str:
        key = id(v)
        if key not in stems:
            src = v.source_video.filename if v.source_video is not None else v.filename
            src = src[0] if isinstance(src, list) else src
            base = Path(str(src)).parent.name if isinstance(v.filename, list) else Path(str(src)).name.split(".")[0]
            name, i = base or "video", 1
            while name in stems.values():
                i += 1
                name = f"{base}_{i}"
            stems[key] = name
        return stems[key]

    for n, lf in enumerate(sorted(labels.labeled_frames, key=lambda f: (labels.videos.index(f.video), f.frame_idx))):
        where = f"labelled frame {n + 1} (video {labels.videos.index(lf.video)}, frame {lf.frame_idx})"
        user = [i for i in lf.instances if isinstance(i, sio.Instance) and not isinstance(i, sio.PredictedInstance)]
        counts["predicted"] += len(lf.instances) - len(user)
        if not user:
            counts["unlabelled"] += 1
            continue
        v, fidx = lf.video, int(lf.frame_idx)
        if isinstance(v.filename, list):  # an image sequence: link the image itself
            if not 0 <= fidx < len(v.filename):
                raise DataFormatError(f"{p}: {where}: the image sequence has {len(v.filename)} images")
            found = _find_file(str(v.filename[fidx]), roots)
            if found is None:
                raise MissingImageError(f"{p}: {where}: image {v.filename[fidx]} not found (give --images ROOT)")
            rel = f"{folder(v)}/{found.name}"
            files[rel] = found
        else:
            if id(v) not in located:
                embedded = Path(str(v.filename)).resolve() == p.resolve()
                located[id(v)] = (p, True) if embedded else (_find_file(str(v.filename), roots), False)
            source, embedded = located[id(v)]
            if source is None:
                raise MissingImageError(f"{p}: {where}: video {v.filename} not found (looked for {Path(str(v.filename)).name} "
                                        "under the labels file's folder; give --images ROOT)")
            if not embedded and is_video(source):  # read from the video when used: nothing written
                rel = frame_ref(f"{folder(v)}{source.suffix.lower()}", fidx)
                files[rel] = source
            else:
                rel = f"{folder(v)}/img{fidx:06d}.png"
                dst = out / rel
                if not dst.is_file():
                    if id(lf.video) not in opened:
                        if embedded:
                            v.open()
                        else:
                            v = sio.load_video(str(source))
                        opened[id(lf.video)] = v
                    img = np.asarray(_video_frame(opened[id(lf.video)], fidx, p, where))
                    if img.ndim == 3 and img.shape[2] == 3:
                        img = img[:, :, ::-1]  # sleap-io gives RGB
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    if not cv2.imwrite(str(dst), np.ascontiguousarray(img)):
                        raise DataFormatError(f"{p}: {where}: cannot write {dst}")
                files[rel] = dst
        rows[rel] = where
        tracks.append([str(i.track.name) if getattr(i, "track", None) is not None else "" for i in user])
        per_ind = []
        for inst in user:
            xy = np.asarray(inst.numpy(invisible_as_nan=True), dtype=float)
            per_ind.append([(float(x), float(y)) if math.isfinite(x) and math.isfinite(y) else (math.nan, math.nan) for x, y in xy])
        frames.append((rel, per_ind))
    if not frames:
        raise DataFormatError(f"{p}: no user-labelled frame ({counts['unlabelled']} frames hold predictions only)")
    most = max(len(per) for _, per in frames)
    empty = [(math.nan, math.nan)] * len(keypoints)
    frames = [(rel, per + [empty] * (most - len(per))) for rel, per in frames]
    individuals = [""] if most == 1 else [str(i) for i in range(most)]
    tracks = [t + [""] * (most - len(t)) for t in tracks] if any(any(t) for t in tracks) else []
    return ProjectLabels(keypoints, individuals, frames, "sleap", edges=edges, files=files, rows=rows, tracks=tracks), counts
