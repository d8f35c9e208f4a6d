"""Codec: geometry against an independent 3-point construction, encode/decode round trips, flip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from semipose.codec import HeatmapCodec, affine_matrix, apply_affine, flip_back
from semipose.skeletons import COCO17


def three_point_affine(center, scale, rot, size, inv=False):
    """The reference construction (spec §2.8): three point pairs through cv2.getAffineTransform."""
    src_w, (dst_w, dst_h) = scale[0] * 200, size
    r = np.deg2rad(rot)
    src_dir = np.array([src_w * 0.5 * np.sin(r), -src_w * 0.5 * np.cos(r)])
    dst_dir = np.array([0.0, -dst_w * 0.5])

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]])

    src = np.stack([center, center + src_dir, np.zeros(2)]).astype(np.float32)
    dst = np.stack([[dst_w / 2, dst_h / 2], [dst_w / 2, dst_h / 2] + dst_dir, np.zeros(2)]).astype(np.float32)
    src[2], dst[2] = third(src[0], src[1]), third(dst[0], dst[1])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


@pytest.mark.parametrize("inv", [False, True])
def test_affine_matches_three_point_construction(inv):
    rng = np.random.default_rng(0)
    for _ in range(20):
        c, s, r = rng.uniform(0, 600, 2), rng.uniform(0.3, 3, 2), rng.uniform(-90, 90)
        np.testing.assert_allclose(affine_matrix(c, s, r, (48, 64), inv=inv), three_point_affine(c, s, r, (48, 64), inv), atol=2e-3, rtol=1e-4)


def test_affine_batched_and_inverse():
    rng = np.random.default_rng(1)
    c, s, r = rng.uniform(0, 500, (7, 2)), rng.uniform(0.5, 2, (7, 2)), rng.uniform(-60, 60, 7)
    fwd, inv = affine_matrix(c, s, r, (192, 256)), affine_matrix(c, s, r, (192, 256), inv=True)
    pts = rng.uniform(0, 500, (7, 5, 2))
    np.testing.assert_allclose(apply_affine(apply_affine(pts, fwd), inv), pts, atol=1e-6)
    # the box centre lands on the crop centre, positive rotation is counter-clockwise on screen
    np.testing.assert_allclose(apply_affine(c[:, None], fwd)[:, 0], np.tile([96, 128], (7, 1)), atol=1e-6)
    m = affine_matrix(np.array([100.0, 100.0]), np.array([1.0, 1.0]), 90.0, (200, 200))
    # a point to the right of the centre in the image moves up in the crop after a +90° rotation
    # of the content... i.e. the crop's "up" looks along image +x
    np.testing.assert_allclose(apply_affine(np.array([[150.0, 100.0]]), m), [[100.0, 50.0]], atol=1e-6)


@pytest.mark.parametrize("unbiased,limit", [(False, 0.5), (True, 0.25)])
def test_encode_decode_round_trip(unbiased, limit):
    codec = HeatmapCodec((192, 256), (48, 64), sigma=2.0, unbiased=unbiased)
    rng = np.random.default_rng(2)
    kp = np.stack([rng.uniform(12, 180, (64, 17)), rng.uniform(12, 244, (64, 17))], -1)
    heat, w = codec.encode(kp, np.ones((64, 17)))
    assert heat.shape == (64, 17, 64, 48) and w.min() == 1
    coords, maxvals = codec.decode(torch.from_numpy(heat))
    err = np.abs(coords.numpy() * 4 - kp) / 4  # in heatmap pixels
    assert err.max() <= limit + 1e-6
    assert err.mean() < limit * 0.6
    assert maxvals.min() > 0.93 and maxvals.max() <= 1.0  # sub-pixel peaks (unbiased) sit between cells


def test_encode_reference_semantics():
    codec = HeatmapCodec((192, 256), (48, 64), sigma=2.0)
    heat, w = codec.encode(np.array([[[41.0, 81.0], [0.0, 0.0], [-40.0, 10.0], [500.0, 10.0]]]), np.array([[1, 0, 1, 1]]))
    assert w.tolist() == [[1, 0, 0, 0]]  # unlabelled, and windows wholly outside the map, get 0
    # peak at cell floor(x/4 + 0.5) = (10, 20), value 1; window radius 3σ = 6
    assert np.unravel_index(heat[0, 0].argmax(), heat[0, 0].shape) == (20, 10)
    assert heat[0, 0, 20, 10] == pytest.approx(1.0)
    assert heat[0, 0, 20, 10 + 6] > 0 and heat[0, 0, 20, 10 + 7] == 0
    assert heat[0, 1:].max() == 0


def test_decode_quarter_offset_and_nonpositive():
    hm = torch.zeros(1, 2, 16, 16)
    hm[0, 0, 5, 7] = 1.0
    hm[0, 0, 5, 8] = 0.5  # right neighbour higher -> +0.25 in x
    hm[0, 0, 6, 7] = 0.2  # lower neighbour higher -> +0.25 in y
    hm[0, 1] = -1.0  # no positive peak -> (0, 0)
    coords, maxvals = HeatmapCodec.decode(hm)
    assert coords[0, 0].tolist() == [7.25, 5.25]
    assert coords[0, 1].tolist() == [0.0, 0.0] and maxvals[0, 1] == -1.0


def test_to_image_inverts_crop():
    codec = HeatmapCodec((192, 256), (48, 64))
    center, scale = np.array([[320.0, 200.0]]), np.array([[1.2, 1.6]])
    pts = np.array([[[300.0, 180.0], [350.0, 260.0]]])
    crop = apply_affine(pts, affine_matrix(center, scale, 0.0, (192, 256)))
    np.testing.assert_allclose(codec.to_image(crop / 4, center, scale), pts, atol=1e-3)


def test_flip_back_consistency():
    """Heatmaps predicted on ``torch.flip``-ed input, flipped back, line up with the unflipped ones.

    Mirroring the crop puts input column x at W - 1 - x; flipping the heatmap back maps it to
    x/4 - 0.75 heatmap pixels, and the one-pixel shift brings it to x/4 + 0.25 (the reference
    convention, spec §7.1): within a quarter pixel, and closer than without the shift.
    """
    codec = HeatmapCodec((192, 256), (48, 64), sigma=2.0, unbiased=True)
    rng = np.random.default_rng(3)
    kp = np.stack([rng.uniform(20, 170, 17), rng.uniform(20, 230, 17)], -1)
    heat, _ = codec.encode(kp[None], np.ones((1, 17)))
    kp_m = kp.copy()
    kp_m[:, 0] = 191 - kp[:, 0]  # where torch.flip(image, [3]) puts each keypoint
    kp_m = kp_m[COCO17.flip_index]  # and the left/right channels swap
    heat_m, _ = codec.encode(kp_m[None], np.ones((1, 17)))
    c0, _ = codec.decode(torch.from_numpy(heat))
    c_shift, _ = codec.decode(flip_back(torch.from_numpy(heat_m), COCO17.flip_index, shift=True))
    c_plain, _ = codec.decode(flip_back(torch.from_numpy(heat_m), COCO17.flip_index, shift=False))
    truth = torch.from_numpy(kp / 4).float()
    err_shift = (c_shift - truth)[0].abs()
    assert err_shift[:, 0].max() <= 0.5 and err_shift[:, 1].max() <= 0.26
    assert (c_shift - truth)[0, :, 0].abs().mean() < (c_plain - truth)[0, :, 0].abs().mean()
    assert ((c0 - truth)[0].abs() <= 0.26).all()
    # flipping twice without shift is the identity
    t = torch.from_numpy(heat)
    assert torch.equal(flip_back(flip_back(t, COCO17.flip_index, shift=False), COCO17.flip_index, shift=False), t)


def test_codec_validation():
    with pytest.raises(ValueError, match="sigma"):
        HeatmapCodec((192, 256), (48, 64), sigma=0)
    with pytest.raises(ValueError, match="heatmap_size"):
        HeatmapCodec((192, 256), (48,), sigma=2)
