"""Top-down transform on real images: crop geometry, targets, flips, determinism, bad images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semipose.codec import HeatmapCodec, affine_matrix, apply_affine
from semipose.data.coco import load_coco_keypoints
from semipose.data.topdown import AugmentConfig, ImageReadError, TopDownDataset, TopDownTransform, read_image
from semipose.skeletons import AIC14, COCO17

CODEC = HeatmapCodec((192, 256), (48, 64), sigma=2.0)


@pytest.fixture(scope="module")
def coco(sample_data):
    return load_coco_keypoints(sample_data / "coco/person_keypoints_sample.json", sample_data / "coco/images")


def test_eval_crop_geometry_and_targets(coco):
    t = TopDownTransform(CODEC, COCO17, train=False)
    rec = coco.records[0]
    out = t(read_image(rec.image_path), rec)
    assert out["image"].shape == (3, 256, 192) and out["image"].dtype == torch.float32
    assert out["target"].shape == (17, 64, 48) and out["target_weight"].shape == (17,)
    expected = apply_affine(rec.keypoints[:, :2], affine_matrix(rec.center, rec.scale, 0.0, (192, 256)))
    np.testing.assert_allclose(out["joints"][:, :2].numpy(), expected, atol=1e-3)
    # each labelled joint's target peaks at its heatmap cell
    for k in np.flatnonzero(rec.keypoints[:, 2] > 0):
        y, x = np.unravel_index(out["target"][k].argmax().item(), (64, 48))
        assert abs(x - expected[k, 0] / 4) <= 0.5 + 1e-6 and abs(y - expected[k, 1] / 4) <= 0.5 + 1e-6
    # normalised roughly to zero mean / unit variance
    assert abs(float(out["image"].mean())) < 1.5 and 0.3 < float(out["image"].std()) < 2.0


def test_flip_mirrors_crop_and_swaps_joints(coco):
    t = TopDownTransform(CODEC, COCO17, train=True)
    rec = coco.records[0]
    img = read_image(rec.image_path)
    base = {"center": rec.center, "scale": rec.scale, "rotation": 0.0}
    a = t(img, rec, params={**base, "flip": False})
    b = t(img, rec, params={**base, "flip": True})
    # the flipped crop is the mirror image (the reference's mirror lands one pixel off)
    diff = (b["image"][:, :, 1:] - a["image"].flip(2)[:, :, :-1]).abs().mean()
    assert diff < 0.05
    ja, jb = a["joints"].numpy(), b["joints"].numpy()
    for k in range(17):
        if ja[k, 2] > 0:
            kk = COCO17.flip_index[k]  # the same body point carries the mirrored label
            assert jb[kk, 0] == pytest.approx(192 - ja[k, 0], abs=0.05) and jb[kk, 1] == pytest.approx(ja[k, 1], abs=1e-3)


def test_dataset_is_deterministic_per_seed_epoch_index(coco):
    t = TopDownTransform(CODEC, COCO17, train=True, aug=AugmentConfig(rot_prob=1.0))
    ds1, ds2 = TopDownDataset(coco.records, t, seed=5), TopDownDataset(coco.records, t, seed=5)
    assert torch.equal(ds1[3]["image"], ds2[3]["image"])
    ds2.set_epoch(1)
    assert not torch.equal(ds1[3]["image"], ds2[3]["image"])
    assert ds1[3]["index"] == 3 and ds1[3]["image_id"] == coco.records[3].image_id


def test_half_body_and_bgr(coco):
    rec = max(coco.records, key=lambda r: (r.keypoints[:, 2] > 0).sum())
    t = TopDownTransform(CODEC, COCO17, train=True, aug=AugmentConfig(half_body_prob=1.0, half_body_min_joints=3))
    p = t.draw_params(rec, np.random.default_rng(0))
    assert p["scale"][1] < rec.scale[1]  # a half body box is smaller than the full box
    rgb = TopDownTransform(CODEC, COCO17, train=False, mean=(0, 0, 0), std=(1, 1, 1))
    bgr = TopDownTransform(CODEC, COCO17, train=False, color="bgr", mean=(0, 0, 0), std=(1, 1, 1))
    img = read_image(rec.image_path)
    assert torch.equal(rgb(img, rec)["image"], bgr(img, rec)["image"].flip(0))


def test_bad_images_and_records(tmp_path, coco):
    with pytest.raises(ImageReadError, match="nothere.jpg: image file not found"):
        read_image(tmp_path / "nothere.jpg")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 20)
    with pytest.raises(ImageReadError, match="corrupt.jpg: cannot decode image"):
        read_image(corrupt)
    with pytest.raises(ValueError, match="has 17 keypoints, skeleton 'aic14' has 14"):
        TopDownDataset(coco.records, TopDownTransform(CODEC, AIC14, train=False))
    with pytest.raises(ValueError, match="no records"):
        TopDownDataset([], TopDownTransform(CODEC, COCO17, train=False))
