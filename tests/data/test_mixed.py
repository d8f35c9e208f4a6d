"""Labelled + unlabelled pairing: label subsets, batch composition, epochs, collation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semipose.codec import HeatmapCodec
from semipose.data.coco import load_coco_keypoints
from semipose.data.mixed import (
    MixedBatchSampler,
    MixedDataset,
    mixed_collate,
    read_label_ids,
    select_labelled,
    write_label_subset,
)
from semipose.data.topdown import TopDownDataset, TopDownTransform
from semipose.errors import DataFormatError
from semipose.skeletons import COCO17


@pytest.fixture(scope="module")
def records(synth_dir):
    return load_coco_keypoints(synth_dir / "annotations" / "person_keypoints_train.json", synth_dir / "images" / "train").records


def test_first_n_in_file_order(records):
    first = select_labelled(records, 10, mode="first")
    assert [r.ann_id for r in first] == [r.ann_id for r in records[:10]]
    assert select_labelled(records, 0) == list(records)


def test_random_subset_is_seeded_and_ordered(records):
    a = select_labelled(records, 10, mode="random", seed=3)
    b = select_labelled(records, 10, mode="random", seed=3)
    c = select_labelled(records, 10, mode="random", seed=4)
    ids = [r.ann_id for r in a]
    assert ids == [r.ann_id for r in b] and ids != [r.ann_id for r in c]
    order = [r.ann_id for r in records]
    assert ids == sorted(ids, key=order.index) and len(set(ids)) == 10
    assert ids != order[:10]


def test_subset_round_trip(records, tmp_path):
    chosen = select_labelled(records, 7, mode="random", seed=1)
    p = write_label_subset(tmp_path / "label_subset.json", chosen, {"mode": "random"})
    ids = read_label_ids(p)
    again = select_labelled(records, 0, ids=ids)
    assert [r.ann_id for r in again] == [r.ann_id for r in chosen]
    with pytest.raises(ValueError, match="not in the training file"):
        select_labelled(records, 0, ids=[*ids, 987654321])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"ann_ids": "x"}))
    with pytest.raises(DataFormatError, match="bad.json"):
        read_label_ids(bad)


def test_batches_pair_unlabelled_and_labelled() -> None:
    s = MixedBatchSampler(50, 7, 8, 3, seed=0)
    s.set_epoch(0)
    batches = list(s)
    assert len(batches) == len(s) == 6  # 50 // 8, last incomplete batch dropped
    unl = [i for b in batches for i in b[:8]]
    lab = [i for b in batches for i in b[8:]]
    assert all(len(b) == 11 for b in batches)
    assert all(i < 50 for i in unl) and len(set(unl)) == len(unl)  # one pass, no repeats
    persons = [(i - 50) % 7 for i in lab]
    assert all(i >= 50 for i in lab)  # labelled persons drawn with replacement ...
    assert len(set(persons)) < len(persons)
    assert len(set(lab)) == len(lab)  # ... each draw with its own index (its own augmentation)
    s.set_epoch(1)
    again = list(s)
    assert again != batches  # redrawn every epoch
    s.set_epoch(0)
    assert list(s) == batches  # deterministic


def test_ranks_split_the_unlabelled_pass() -> None:
    r0 = MixedBatchSampler(40, 5, 4, 4, seed=2, rank=0, world_size=2)
    r1 = MixedBatchSampler(40, 5, 4, 4, seed=2, rank=1, world_size=2)
    u0 = {i for b in r0 for i in b[:4]}
    u1 = {i for b in r1 for i in b[:4]}
    assert not u0 & u1 and len(u0 | u1) == 40
    l0 = {i for b in r0 for i in b[4:]}
    l1 = {i for b in r1 for i in b[4:]}
    assert not l0 & l1  # no two ranks crop a labelled draw with the same augmentation


def test_mixed_dataset_items(records, synth_dir):
    codec = HeatmapCodec((64, 64), (16, 16), 2.0)
    tr = TopDownTransform(codec, COCO17, train=True)
    lab = TopDownDataset(records[:5], tr, seed=0)
    unl_records = [r.__class__(**{**r.__dict__, "keypoints": np.zeros_like(r.keypoints)}) for r in records[5:15]]
    unl = TopDownDataset(unl_records, tr, seed=1)
    sup = np.ones(17, bool)
    sup[[1, 2]] = False
    ds = MixedDataset(lab, unl, sup)
    assert len(ds) == 15 and ds.num_unlabelled == 10
    batch = mixed_collate([ds[i] for i in [0, 1, 2, 10, 11]])
    assert batch["unsup"]["image"].shape == (3, 3, 64, 64)
    assert batch["sup"]["image"].shape == (2, 3, 64, 64) and batch["sup"]["target"].shape == (2, 17, 16, 16)
    w = batch["unsup"]["weight"]
    assert w.shape == (3, 17) and (w[:, 1:3] == 0).all() and (w[:, 3:] == 1).all()
    with pytest.raises(ValueError, match="mask"):
        MixedDataset(lab, unl, np.ones(5, bool))
    with pytest.raises(ValueError, match="need labelled and unlabelled"):
        MixedBatchSampler(0, 5, 4, 4)
    torch.testing.assert_close(ds[3]["image"], ds[3]["image"])  # seeded per (seed, epoch, index)


def test_repeated_labelled_draws_are_augmented_apart(records):
    """Regression: a person drawn twice in one epoch got the same crop (the augmentation was
    seeded by the person's index), so a small labelled set saw one augmentation per epoch."""
    codec = HeatmapCodec((64, 64), (16, 16), 2.0)
    tr = TopDownTransform(codec, COCO17, train=True)
    lab = TopDownDataset(records[:2], tr, seed=0)
    unl = TopDownDataset(records[2:10], tr, seed=1)
    ds = MixedDataset(lab, unl, np.ones(17, bool))
    s = MixedBatchSampler(8, 2, 4, 4, seed=0)
    draws = [i for b in s for i in b[4:]]
    person = [(i - 8) % 2 for i in draws]
    first = {p: i for i, p in reversed(list(zip(draws, person)))}
    again = next(i for i, p in zip(draws, person) if i != first[p])
    p = (again - 8) % 2
    a, b = ds[first[p]], ds[again]
    assert a["image"].shape == b["image"].shape
    assert not torch.equal(a["image"], b["image"])  # same person, another random crop
