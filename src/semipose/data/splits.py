"""Frame-level splits of a labelled project for a comparison (``semipose compare``): a test set
per repeat that no label budget touches, and each budget's labelled frames drawn from the rest.

A *frame* is one image of the COCO files (all its instances go together). The pool is every
labelled frame of the config's training and validation files. The test set of repeat ``r`` is

* ``val``: the config's validation frames (the same for every repeat; the pool is the training file's);
* ``folds``: fold ``r`` of ``R`` of a seeded permutation of the pool, so over the repeats every
  labelled frame is tested once (a 90-frame project is not judged on 20);
* ``last:N``: the last ``N`` frames in frame order (a contiguous block of a video: its
  neighbouring frames are not training frames).

Budget ``b`` of repeat ``r`` is ``b`` frames of the rest drawn with the seed ``(seed, r)``;
budgets of one repeat are nested (the 10 frames are among the 50). ``all`` is the whole rest.
No torch.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataFormatError

__all__ = ["Split", "read_pool", "make_splits", "write_subset", "parse_test_mode", "parse_budget", "MIN_TEST_FRAMES", "ALL"]

#: ``--test auto`` takes the validation file as the test set from this many frames on, else folds
MIN_TEST_FRAMES = 300
#: the budget of every frame of the pool
ALL = "all"


def parse_budget(text: str) -> int | str:
    """``"10"`` → 10, ``"all"`` → ``"all"``; anything else is a one-line error."""
    t = str(text).strip().lower()
    if t == ALL:
        return ALL
    if not t.isdigit() or int(t) < 1:
        raise ConfigError(f"a label budget is a number of frames ≥ 1 or 'all', got {text!r}")
    return int(t)


def parse_test_mode(text: str) -> tuple[str, int]:
    """``auto``, ``val``, ``folds`` or ``last:N`` → ``(mode, N)``."""
    t = str(text).strip().lower()
    if t in ("auto", "val", "folds"):
        return t, 0
    m = re.fullmatch(r"last:(\d+)", t)
    if m and int(m.group(1)) > 0:
        return "last", int(m.group(1))
    raise ConfigError(f"--test: expected auto, val, folds or last:N, got {text!r}")


def _natural(name: str) -> list[Any]:
    """Sort key that orders ``clip.mp4#9`` before ``clip.mp4#10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DataFormatError(f"{path}: cannot read the annotation file ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) or not isinstance(doc.get("annotations"), list):
        raise DataFormatError(f"{path}: not a COCO keypoint file (no images / annotations lists)")
    return doc


def read_pool(train_file: str, val_file: str | None) -> tuple[dict[str, Any], list[int], list[int]]:
    """The pool: one COCO document of the training file's frames and the validation file's
    (duplicates once), and the frame ids of each file, in frame order.

    Raises:
        DataFormatError: a file cannot be read, or an image id names two different files.
    """
    docs = [_read(train_file)] + ([_read(val_file)] if val_file and os.path.abspath(val_file) != os.path.abspath(train_file) else [])
    images: dict[int, dict[str, Any]] = {}
    anns: dict[int, dict[str, Any]] = {}
    ids: list[list[int]] = []
    for path, doc in zip((train_file, val_file), docs):
        mine = []
        for im in doc["images"]:
            old = images.get(int(im["id"]))
            if old is not None and old.get("file_name") != im.get("file_name"):
                raise DataFormatError(f"{path}: image id {im['id']} is {im.get('file_name')!r} here and {old.get('file_name')!r} "
                                      f"in {train_file}")
            images[int(im["id"])] = im
            mine.append(int(im["id"]))
        for a in doc["annotations"]:
            anns[int(a["id"])] = a
        ids.append(sorted(set(mine), key=lambda i: _natural(str(images[i].get("file_name", i)))))
    labelled = {int(a["image_id"]) for a in anns.values()}
    pool = {**docs[0], "images": list(images.values()), "annotations": list(anns.values())}
    train_ids = [i for i in ids[0] if i in labelled]
    val_ids = [i for i in ids[1] if i in labelled] if len(ids) > 1 else []
    return pool, train_ids, val_ids


@dataclass
class Split:
    """One repeat's frames.

    Attributes:
        repeat: its number (0-based).
        test: the test frames' image ids.
        rest: the frames budgets draw from, in the seeded order budgets take them.
    """

    repeat: int
    test: list[int]
    rest: list[int]

    def budget(self, b: int | str) -> list[int]:
        """The labelled frames of budget ``b`` (a prefix of :attr:`rest`: budgets are nested)."""
        if b == ALL:
            return list(self.rest)
        assert isinstance(b, int)
        if b > len(self.rest):
            raise ConfigError(f"a budget of {b} labelled frames, but repeat {self.repeat} leaves {len(self.rest)} outside its test set")
        return self.rest[:b]


def make_splits(train_ids: Sequence[int], val_ids: Sequence[int], *, mode: str, repeats: int, seed: int = 0, last: int = 0,
                order: Mapping[int, str] | None = None) -> tuple[list[Split], str]:
    """The repeats' splits and a description of the test sets (see the module).

    Args:
        train_ids, val_ids: frame ids of the training and validation files (:func:`read_pool`).
        mode: ``auto``, ``val``, ``folds`` or ``last`` (with ``last`` frames).
        order: frame id → its file name, for ``last`` (frame order); default the ids' order.
    """
    if repeats < 1:
        raise ConfigError(f"--repeats must be ≥ 1, got {repeats}")
    if mode == "auto":
        mode = "val" if len(val_ids) >= MIN_TEST_FRAMES else "folds"
    pool = list(dict.fromkeys([*train_ids, *val_ids]))
    splits: list[Split] = []
    if mode == "val":
        if not val_ids:
            raise ConfigError("--test val: the config's validation file has no labelled frames")
        what = f"the validation file's {len(val_ids)} frames (every repeat)"
        for r in range(repeats):
            splits.append(Split(r, list(val_ids), _shuffled(list(train_ids), seed, r)))
    elif mode == "folds":
        if repeats < 2:
            raise ConfigError("--test folds needs --repeats ≥ 2 (each repeat tests one fold)")
        perm = _shuffled(pool, seed, -1)
        what = f"{repeats} folds of the {len(pool)} labelled frames (each tested once)"
        for r in range(repeats):
            test = sorted(perm[r::repeats])
            splits.append(Split(r, test, _shuffled([i for i in pool if i not in set(test)], seed, r)))
    elif mode == "last":
        ordered = sorted(pool, key=lambda i: _natural(order[i]) if order else i)
        if last >= len(ordered):
            raise ConfigError(f"--test last:{last}: the project has {len(ordered)} labelled frames")
        test, rest = ordered[-last:], ordered[:-last]
        what = f"the last {last} frames in frame order, {order[test[0]] if order else test[0]} on (every repeat)"
        for r in range(repeats):
            splits.append(Split(r, list(test), _shuffled(rest, seed, r)))
    else:
        raise ConfigError(f"unknown test mode {mode!r}")
    return splits, what


def _shuffled(ids: list[int], seed: int, r: int) -> list[int]:
    order = np.random.default_rng([seed, r + 1]).permutation(len(ids))
    return [ids[i] for i in order]


def write_subset(pool: Mapping[str, Any], image_ids: Sequence[int], path: str | os.PathLike[str]) -> Path:
    """Write the frames ``image_ids`` of the pool document (with their annotations) as a COCO file."""
    keep = {int(i) for i in image_ids}
    doc = {**pool, "images": [im for im in pool["images"] if int(im["id"]) in keep],
           "annotations": [a for a in pool["annotations"] if int(a["image_id"]) in keep]}
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, p)
    return p
