"""Top-down transform on real images: crop geometry, targets, flips, determinism, bad images."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from semipose.codec import HeatmapCodec
from semipose.data.coco import load_coco_keypoints
from semipose.data.topdown import TopDownDataset, TopDownTransform
from semipose.errors import ImageReadError
from semipose.geometry import affine_matrix, apply_affine
from semipose.image import read_image
from semipose.params import AugmentConfig
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
    center, scale = t.crop_box(rec)
    expected = apply_affine(rec.keypoints[:, :2], affine_matrix(center, scale, 0.0, (192, 256)))
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
    center, scale = t.crop_box(rec)
    base = {"center": center, "scale": scale, "rotation": 0.0}
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
    assert p["scale"][1] < t.crop_box(rec)[1][1]  # a half body box is smaller than the full box
    rgb = TopDownTransform(CODEC, COCO17, train=False, mean=(0, 0, 0), std=(1, 1, 1))
    bgr = TopDownTransform(CODEC, COCO17, train=False, color="bgr", mean=(0, 0, 0), std=(1, 1, 1))
    img = read_image(rec.image_path)
    assert torch.equal(rgb(img, rec)["image"], bgr(img, rec)["image"].flip(0))


def test_bad_images_and_records(tmp_path, coco):
    with pytest.raises(ImageReadError, match="nothere.jpg: image file not found"):
        read_image(tmp_path / "nothere.jpg")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 20 + b"\xff\xd9")  # complete markers, undecodable inside
    with pytest.raises(ImageReadError, match="corrupt.jpg: cannot decode image"):
        read_image(corrupt)
    with pytest.raises(ValueError, match="has 17 keypoints, skeleton 'aic14' has 14"):
        TopDownDataset(coco.records, TopDownTransform(CODEC, AIC14, train=False))
    with pytest.raises(ValueError, match="no records"):
        TopDownDataset([], TopDownTransform(CODEC, COCO17, train=False))


def test_truncated_images_are_errors_or_counted_skips(sample_data, tmp_path, capsys, caplog):
    """A JPEG cut to a third of its bytes decodes grey-filled in OpenCV; here it is an error
    naming the file, found before training, or a counted skip with data.skip_bad_images."""
    import shutil

    from semipose.cli import main
    from semipose.config import load_config
    from semipose.data.sources import build_label_records, build_skeleton
    from semipose.errors import DataFormatError, ImageReadError
    from semipose.image import check_image_file, read_image

    imgs = tmp_path / "images"
    shutil.copytree(sample_data / "coco/images", imgs)
    victim = sorted(imgs.glob("*.jpg"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])
    assert check_image_file(victim) == "truncated JPEG (no end-of-image marker: the file was cut short)"
    with pytest.raises(ImageReadError, match=rf"{victim.name}: truncated JPEG"):
        read_image(victim)
    (imgs / "empty.png").write_bytes(b"")
    assert check_image_file(imgs / "empty.png") == "empty file"
    png = imgs / "cut.png"
    cv2.imwrite(str(png), np.zeros((20, 20, 3), np.uint8))
    png.write_bytes(png.read_bytes()[:-12])
    assert "truncated PNG" in check_image_file(png)

    ann = sample_data / "coco/person_keypoints_sample.json"
    over = [f"data.train.ann_file={ann}", f"data.train.image_dir={imgs}", f"data.val.ann_file={ann}", f"data.val.image_dir={imgs}",
            "data.input_size=[64,64]", "model.arch=resnet18"]
    cfg = load_config(None, over)
    with pytest.raises(DataFormatError, match=rf"data.train .*1 of 4 images are unusable .*{victim.name}: truncated JPEG.*semipose data check"):
        build_label_records(cfg, build_skeleton(cfg))
    cfg = load_config(None, [*over, "data.skip_bad_images=true"])
    with caplog.at_level("WARNING", logger="semipose"):
        chosen, everyone, _ = build_label_records(cfg, build_skeleton(cfg))
    n_victim = sum(1 for a in json.loads(ann.read_text())["annotations"] if a["image_id"] == int(victim.stem) and a["num_keypoints"] > 0)
    assert len(everyone) == 12 - n_victim and f"skipped {n_victim} persons on 1 unusable images" in caplog.text

    (tmp_path / "c.yaml").write_text("model: {arch: resnet18}\n")
    assert main(["data", "check", str(tmp_path / "c.yaml"), *over]) == 2
    out = capsys.readouterr()
    assert f"data.train: {victim}: truncated JPEG" in out.out and "1 unusable image(s)" in out.out and "problem(s)" in out.err


def test_one_reading_serves_any_input_size(coco):
    """The records hold the raw box: two transforms of other input sizes crop the same person
    at their own aspect ratio (the keypoints land at the same relative place)."""
    rec = coco.records[0]
    img = read_image(rec.image_path)
    wide = TopDownTransform(HeatmapCodec((192, 256), (48, 64)), COCO17, train=False)
    square = TopDownTransform(HeatmapCodec((128, 128), (32, 32)), COCO17, train=False)
    (cw, sw), (cs, ss) = wide.crop_box(rec), square.crop_box(rec)
    np.testing.assert_allclose(cw, cs)  # the same box centre
    assert sw[0] / sw[1] == pytest.approx(0.75) and ss[0] / ss[1] == pytest.approx(1.0)
    a, b = wide(img, rec), square(img, rec)
    vis = rec.keypoints[:, 2] > 0
    # relative to the crop centre, in box units, the joints agree where both crops are limited by the height
    rel_a = (a["joints"][vis, :2].numpy() - [96, 128]) / 256 * sw[1]
    rel_b = (b["joints"][vis, :2].numpy() - [64, 64]) / 128 * ss[1]
    np.testing.assert_allclose(rel_a, rel_b, atol=1e-3)
