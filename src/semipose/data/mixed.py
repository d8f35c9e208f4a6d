"""Labelled + unlabelled training data for the semi-supervised methods.

One epoch is one pass over the **unlabelled** set; every batch pairs ``B_u`` unlabelled crops
(the easy views) with ``B_l`` labelled crops drawn **with replacement** from the labelled set,
redrawn every epoch. ``B_l = B_u`` reproduces the reference pairing of one
labelled crop per unlabelled crop.

The dataset is one index space, ``[0, U)`` unlabelled and ``[U, U + L)`` labelled, so a single
DataLoader (and its workers) serves both; :class:`MixedBatchSampler` decides which indices
form a batch and :func:`mixed_collate` splits a batch into its two halves::

    batch["sup"]    image (B_l, 3, H, W), target (B_l, K, h, w), target_weight (B_l, K), ...
    batch["unsup"]  image (B_u, 3, H, W), weight (B_u, K) — 1 on the joints the labelled
                    set supervises, index

Label subsets (:func:`select_labelled`): the first N person instances in file order (the
papers' 1K/5K/10K protocol) or a seeded random N; the chosen annotation ids can be
written (:func:`write_label_subset`) and read back (:func:`read_label_ids`) to reuse a split.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from torch.utils.data._utils.collate import default_collate

from ..errors import DataFormatError
from .batches import MixedBatch
from .cocojson import read_json
from .records import PoseRecord
from .topdown import TopDownDataset

__all__ = [
    "select_labelled",
    "write_label_subset",
    "read_label_ids",
    "MixedDataset",
    "MixedBatchSampler",
    "mixed_collate",
]


def select_labelled(
    records: Sequence[PoseRecord], n: int, *, mode: str = "first", seed: int = 0, ids: Sequence[int] | None = None
) -> list[PoseRecord]:
    """Choose the labelled persons.

    Args:
        records: all labelled persons, in annotation-file order.
        n: how many to keep (0 = all; ignored when ``ids`` is given).
        mode: ``first`` — the first ``n`` in file order; ``random`` — ``n`` drawn without
            replacement by ``numpy.random.default_rng(seed)``, kept in file order.
        ids: exact annotation ids to keep (a split written by an earlier run).

    Returns:
        The chosen records, in file order.
    """
    if ids is not None:
        wanted = {int(i) for i in ids}
        chosen = [r for r in records if r.ann_id in wanted]
        missing = wanted - {r.ann_id for r in chosen}
        if missing:
            raise DataFormatError(
                f"{len(missing)} of the {len(wanted)} requested labelled annotation ids are not in the training "
                f"file (e.g. {sorted(missing)[:5]})"
            )
        return chosen
    if n <= 0 or n >= len(records):
        return list(records)
    if mode == "first":
        return list(records[:n])
    if mode == "random":
        keep = np.sort(np.random.default_rng(seed).choice(len(records), size=n, replace=False))
        return [records[i] for i in keep]
    raise DataFormatError(f"label subset mode must be 'first' or 'random', got {mode!r}")


def write_label_subset(path: str | os.PathLike[str], records: Sequence[PoseRecord], meta: dict[str, Any]) -> Path:
    """Write the chosen annotation ids (``{"meta": ..., "ann_ids": [...]}``)."""
    p = Path(path)
    p.write_text(json.dumps({"meta": meta, "num_instances": len(records), "ann_ids": [int(r.ann_id) for r in records]}, indent=1))
    return p


def read_label_ids(path: str | os.PathLike[str]) -> list[int]:
    """Annotation ids from a :func:`write_label_subset` file or a plain JSON list."""
    p = Path(path)
    data = read_json(p)
    ids = data.get("ann_ids") if isinstance(data, dict) else data
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise DataFormatError(f"{p}: expected a JSON list of integer annotation ids or an object with 'ann_ids'")
    if not ids:
        raise DataFormatError(f"{p}: the list of labelled annotation ids is empty")
    return ids


class MixedDataset(Dataset):
    """Unlabelled easy-view crops ``[0, U)`` followed by labelled crops from ``U`` on.

    Index ``U + j`` is labelled person ``j mod L``, augmented with the random draw of index
    ``j``: a sampler that draws the same person several times in one epoch passes a
    different ``j`` each time (:class:`MixedBatchSampler` does), so every draw is its own
    augmentation rather than a copy of the person's one crop of the epoch.

    Args:
        labelled: training crops with targets.
        unlabelled: crops of the unlabelled persons (a training transform: the dataset's
            random scale/rotation/flip make the easy view).
        supervised: ``(K,)`` bool, the joints the labelled set supervises; the unlabelled
            crops' consistency weight is 1 there and 0 elsewhere (see ``docs/differences.md``).
    """

    def __init__(self, labelled: TopDownDataset, unlabelled: TopDownDataset, supervised: np.ndarray | Sequence[bool]) -> None:
        self.labelled = labelled
        self.unlabelled = unlabelled
        sup = np.asarray(supervised, bool)
        k = labelled.transform.skeleton.num_keypoints
        if sup.shape != (k,):
            raise DataFormatError(f"supervised joint mask has shape {sup.shape}, expected ({k},)")
        self.unsup_weight = torch.from_numpy(sup.astype(np.float32))

    @property
    def num_unlabelled(self) -> int:
        return len(self.unlabelled)

    @property
    def num_labelled(self) -> int:
        return len(self.labelled)

    def set_epoch(self, epoch: int) -> None:
        self.labelled.set_epoch(epoch)
        self.unlabelled.set_epoch(epoch)

    def __len__(self) -> int:
        """``U + L``: every unlabelled and every labelled crop once (larger indices wrap)."""
        return self.num_unlabelled + self.num_labelled

    def __getitem__(self, index: int) -> dict[str, Any]:
        u = self.num_unlabelled
        if index < u:
            s = self.unlabelled[index]
            item = {"_kind": 1, "image": s["image"], "weight": self.unsup_weight.clone(), "index": s["index"]}
            if "context" in s:  # the neighbouring frames (a FrameTupleDataset)
                item["context"] = s["context"]
            return item
        s = self.labelled[index - u]  # TopDownDataset wraps the index and seeds by all of it
        s["_kind"] = 0
        return s


class MixedBatchSampler(Sampler[list[int]]):
    """Batches of ``B_u`` unlabelled + ``B_l`` labelled indices of a :class:`MixedDataset`.

    Epoch ``e`` visits a permutation of the unlabelled set seeded by ``(seed, e)``, split
    across ``world_size`` ranks (each rank takes every ``world_size``-th index), and draws the
    labelled persons of the whole epoch with replacement from a generator seeded by
    ``(seed, e, rank)``; the last incomplete batch is dropped. Draw ``d`` of person ``p``
    (``d`` counted over the epoch and across ranks) is index ``U + p + L·d``, so two draws of
    one person get two different augmentations (see :class:`MixedDataset`).
    """

    def __init__(
        self,
        num_unlabelled: int,
        num_labelled: int,
        unlabelled_batch: int,
        labelled_batch: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if num_unlabelled <= 0 or num_labelled <= 0:
            raise DataFormatError(f"need labelled and unlabelled data, got {num_labelled} labelled and {num_unlabelled} unlabelled")
        self.u, self.l = num_unlabelled, num_labelled
        self.bu, self.bl = unlabelled_batch, labelled_batch
        self.seed, self.rank, self.world = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return (self.u // self.world) // self.bu

    def __iter__(self) -> Iterator[list[int]]:
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.u)
        mine = perm[self.rank :: self.world][: self.u // self.world]
        n = len(self)
        lab = np.random.default_rng([self.seed, self.epoch, self.rank, 1]).integers(0, self.l, size=(n, self.bl))
        # a distinct virtual index per draw (draw number × L + person): the dataset seeds each
        # crop's augmentation by its index, so repeated draws of a person are not copies
        draw = np.arange(n * self.bl, dtype=np.int64).reshape(n, self.bl) * self.world + self.rank
        lab = lab + self.l * draw
        for b in range(n):
            yield [int(i) for i in mine[b * self.bu : (b + 1) * self.bu]] + [self.u + int(i) for i in lab[b]]


def mixed_collate(samples: list[dict[str, Any]]) -> MixedBatch:
    """Split a list of :class:`MixedDataset` items into ``{"sup": ..., "unsup": ...}``."""
    sup = [s for s in samples if s["_kind"] == 0]
    uns = [s for s in samples if s["_kind"] == 1]
    for s in samples:
        s.pop("_kind")
    return {"sup": default_collate(sup) if sup else None, "unsup": default_collate(uns) if uns else None}

