"""The image module on the real sample photos: the decoded-image cache and the crop normalisation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from semipose.codec import HeatmapCodec
from semipose.data.coco import load_coco_keypoints
from semipose.data.topdown import TopDownDataset, TopDownTransform
from semipose.image import IMAGENET_MEAN, IMAGENET_STD, ImageCache, normalize_crop, read_image
from semipose.params import AugmentConfig
from semipose.skeletons import COCO17


@pytest.fixture(scope="module")
def coco(sample_data):
    return load_coco_keypoints(sample_data / "coco/person_keypoints_sample.json", sample_data / "coco/images")


def test_normalize_crop_equals_the_plain_expression():
    crop = np.random.default_rng(0).integers(0, 256, (37, 29, 3), dtype=np.uint8)
    mean = np.asarray(IMAGENET_MEAN, np.float32) * np.float32(255)
    std = np.asarray(IMAGENET_STD, np.float32) * np.float32(255)
    for reverse in (True, False):
        src = crop[:, :, ::-1] if reverse else crop
        plain = ((src.astype(np.float32) - mean.reshape(1, 1, 3)) / std.reshape(1, 1, 3)).transpose(2, 0, 1)
        out = normalize_crop(crop, mean, std, reverse_channels=reverse)
        assert out.shape == (3, 37, 29) and out.dtype == np.float32 and out.flags.c_contiguous
        np.testing.assert_array_equal(out, plain)


def test_cache_decodes_each_file_once_and_evicts_least_recent(coco):
    paths = sorted(p for p in {r.image_path for r in coco.records} if read_image(p).shape[1] == 640)  # 3 of similar size
    sizes = [read_image(p).nbytes for p in paths]
    assert len(paths) == 3 and sum(sizes) > 2 * max(sizes) + 1
    cache = ImageCache(max_mb=(2 * max(sizes) + 1) / 2**20)  # room for any two, not three
    a = cache.read(paths[0])
    assert not a.flags.writeable  # a cached picture cannot be changed by a caller
    with pytest.raises(ValueError):
        a[0, 0, 0] = 1
    np.testing.assert_array_equal(a, read_image(paths[0]))
    assert cache.read(paths[0]) is a and (cache.hits, cache.misses) == (1, 1)
    cache.read(paths[1])
    cache.read(paths[0])  # paths[0] is now the most recent
    cache.read(paths[2])  # evicts paths[1], the least recently used
    assert len(cache) <= 2 and cache.nbytes <= cache.max_bytes
    cache.read(paths[0])
    assert cache.hits == 3
    misses = cache.misses
    cache.read(paths[1])
    assert cache.misses == misses + 1
    # no budget: nothing kept; a pickled copy (a spawned worker's) starts empty with the budget
    off = ImageCache(0)
    off.read(paths[0])
    off.read(paths[0])
    assert len(off) == 0 and off.misses == 2
    copy = pickle.loads(pickle.dumps(cache))
    assert len(copy) == 0 and copy.max_bytes == cache.max_bytes
    with pytest.raises(ValueError, match=">= 0"):
        ImageCache(-1)


def test_cached_dataset_gives_the_same_samples(coco):
    codec = HeatmapCodec((192, 256), (48, 64), sigma=2.0)
    t = TopDownTransform(codec, COCO17, train=True, aug=AugmentConfig(rot_prob=1.0))
    plain = TopDownDataset(coco.records, t, seed=3)
    cached = TopDownDataset(coco.records, t, seed=3, images=ImageCache(64))
    n = len(coco.records)
    for i in list(range(n)) + list(range(n)):
        a, b = plain[i], cached[i]
        assert set(a) == set(b)
        for key in a:
            assert torch.equal(a[key], b[key]), key
    assert cached.images.misses == len({r.image_path for r in coco.records})  # 4 photos, 14 persons, 2 passes
    assert plain.images.misses == 2 * n
