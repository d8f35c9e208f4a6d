"""Codec: geometry against an independent 3-point construction, encode/decode round trips, flip."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from semipose.codec import HeatmapCodec, flip_back
from semipose.geometry import affine_matrix, apply_affine
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
    coords, maxvals = HeatmapCodec((48, 64), (12, 16)).decode(hm)
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


# ------------------------------------------------------------------ DARK decoding


def _reference_dark(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """The reference's per-joint DARK loop (spec §7.2), written out independently with cv2."""
    hm = heatmaps.astype(np.float64).copy()
    n, k, h, w = hm.shape
    flat = hm.reshape(n, k, -1)
    idx, maxvals = flat.argmax(2), flat.max(2)
    coords = np.stack([idx % w, idx // w], -1).astype(np.float64) * (maxvals > 0)[..., None]
    border = (kernel - 1) // 2
    for i in range(n):
        for j in range(k):
            origin_max = hm[i, j].max()
            dr = np.zeros((h + 2 * border, w + 2 * border))
            dr[border:-border, border:-border] = hm[i, j]
            dr = cv2.GaussianBlur(dr, (kernel, kernel), 0)
            hm[i, j] = dr[border:-border, border:-border]
            hm[i, j] *= origin_max / hm[i, j].max()
    hm = np.log(np.maximum(hm, 1e-10))
    for i in range(n):
        for j in range(k):
            m, (x, y) = hm[i, j], coords[i, j]
            px, py = int(x), int(y)
            if 1 < px < w - 2 and 1 < py < h - 2:
                dx, dy = 0.5 * (m[py, px + 1] - m[py, px - 1]), 0.5 * (m[py + 1, px] - m[py - 1, px])
                dxx = 0.25 * (m[py, px + 2] - 2 * m[py, px] + m[py, px - 2])
                dyy = 0.25 * (m[py + 2, px] - 2 * m[py, px] + m[py - 2, px])
                dxy = 0.25 * (m[py + 1, px + 1] - m[py - 1, px + 1] - m[py + 1, px - 1] + m[py - 1, px - 1])
                hess = np.array([[dxx, dxy], [dxy, dyy]])
                if dxx * dyy - dxy**2 != 0:
                    coords[i, j] += -np.linalg.inv(hess) @ np.array([dx, dy])
    return coords


def _gaussian_maps(centres: np.ndarray, h: int = 64, w: int = 48, sigma: float = 2.0) -> np.ndarray:
    """``(N, K, h, w)`` untruncated Gaussians (peak 1) at sub-pixel ``(N, K, 2)`` centres."""
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    dx = xs - centres[..., 0, None]
    dy = ys - centres[..., 1, None]
    return np.exp(-(dy[..., :, None] ** 2 + dx[..., None, :] ** 2) / (2 * sigma**2))


def test_dark_recovers_subpixel_centres_where_shift_cannot():
    from semipose.codec import decode_heatmaps

    rng = np.random.default_rng(5)
    centres = np.stack([rng.uniform(6, 42, (8, 24)), rng.uniform(6, 58, (8, 24))], -1)
    hm = torch.from_numpy(_gaussian_maps(centres)).float()
    c_dark, mv_dark = decode_heatmaps(hm, "dark")
    c_shift, mv_shift = decode_heatmaps(hm, "shift")
    assert c_dark.shape == (8, 24, 2) and mv_dark.shape == (8, 24) and c_dark.dtype == torch.float32
    err_dark = np.abs(c_dark.numpy() - centres)
    err_shift = np.abs(c_shift.numpy() - centres)
    assert err_dark.max() < 0.05
    assert err_shift.max() > 0.05
    assert torch.equal(mv_dark, mv_shift)  # maxvals come from the unblurred maps
    # the codec's own (window-truncated, unbiased) targets decode as well
    codec = HeatmapCodec((192, 256), (48, 64), sigma=2.0, unbiased=True)
    heat, _ = codec.encode(centres * 4, np.ones((8, 24)))
    c2, _ = dataclasses.replace(codec, decoder="dark").decode(torch.from_numpy(heat))
    assert np.abs(c2.numpy() - centres).max() < 0.05


def test_dark_matches_reference_loop_and_edge_cases():
    from semipose.codec import decode_heatmaps

    rng = np.random.default_rng(6)
    centres = np.stack([rng.uniform(-2, 50, (4, 6)), rng.uniform(-2, 66, (4, 6))], -1)  # some at the border
    hm = _gaussian_maps(centres) * rng.uniform(0.2, 1.0, (4, 6, 1, 1)) + rng.normal(0, 0.02, (4, 6, 64, 48))
    hm[0, 0] = 0.0  # all-zero map (NaN in the reference, quirk Q26)
    hm[0, 1] = -0.5  # no positive peak
    hm[1, 2] = 0.0
    hm[1, 2, 30, 20] = 1.0  # a single spike: the log map is flat around it except the clamp
    expect = _reference_dark(np.delete(hm.reshape(24, 64, 48), [0], axis=0)[None])[0]
    coords, maxvals = decode_heatmaps(torch.from_numpy(hm), "dark")
    assert coords.dtype == torch.float64
    got = coords.numpy().reshape(24, 2)
    np.testing.assert_allclose(np.delete(got, [0], axis=0), expect, atol=1e-6)
    assert torch.isfinite(coords).all()
    assert coords[0, 0].tolist() == [0.0, 0.0] and coords[0, 1].tolist() == [0.0, 0.0]
    assert maxvals[0, 1] == -0.5
    # a batch of all-zero maps is finite, and float32 gives the same answer
    z, zm = decode_heatmaps(torch.zeros(2, 3, 16, 12), "dark")
    assert torch.equal(z, torch.zeros(2, 3, 2)) and torch.equal(zm, torch.zeros(2, 3))
    c32, _ = decode_heatmaps(torch.from_numpy(hm).float(), "dark")
    np.testing.assert_allclose(c32.numpy(), coords.numpy(), atol=1e-3)


def test_decode_methods_and_blur():
    from semipose.codec import decode_heatmaps, gaussian_blur_heatmaps
    from semipose.params import DECODERS

    assert set(DECODERS) == {"argmax", "shift", "dark"}
    hm = torch.zeros(1, 1, 16, 16)
    hm[0, 0, 5, 7], hm[0, 0, 5, 8], hm[0, 0, 6, 7] = 1.0, 0.5, 0.2
    assert decode_heatmaps(hm, "argmax")[0][0, 0].tolist() == [7.0, 5.0]
    assert decode_heatmaps(hm)[0][0, 0].tolist() == [7.25, 5.25]  # default is the shift
    with pytest.raises(ValueError, match="unknown decode method"):
        decode_heatmaps(hm, "soft")
    # the blur equals OpenCV's 11x11 automatic-sigma blur of the zero-padded map, max restored
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, (2, 3, 20, 17))
    out = gaussian_blur_heatmaps(torch.from_numpy(x)).numpy()
    for i in range(2):
        for j in range(3):
            pad = cv2.GaussianBlur(np.pad(x[i, j], 5), (11, 11), 0)[5:-5, 5:-5]
            np.testing.assert_allclose(out[i, j], pad * x[i, j].max() / pad.max(), atol=1e-12)
    with pytest.raises(ValueError, match="odd"):
        gaussian_blur_heatmaps(torch.from_numpy(x), kernel=10)


def test_encode_left_and_top_edges_follow_the_reference():
    """int(x / stride + 0.5) truncates toward zero, and the weight is 0 only when the window
    lies wholly outside (br < 0): a joint at x = -3 px peaks on column 0; one at x = -31 px
    keeps weight 1 with an all-zero map (192x256 crop, stride 4, sigma 2)."""
    codec = HeatmapCodec((192, 256), (48, 64), sigma=2.0)
    hm, w = codec.encode(np.array([[-3.0, 100.0], [-31.0, 100.0], [-35.0, 100.0], [100.0, -3.0]]), np.ones(4))
    assert hm[0, 25, 0] == pytest.approx(1.0) and w[0] == 1  # semipose's earlier floor(): 0.8825
    assert w[1] == 1 and hm[1].max() == 0.0  # window [-13, -1]: br = 0, not < 0
    assert w[2] == 0 and hm[2].max() == 0.0  # mu = -8: br = -1 < 0
    assert hm[3, 0, 25] == pytest.approx(1.0) and w[3] == 1
    # right and bottom edges agree with rounding (positive values)
    hm, w = codec.encode(np.array([[190.5, 100.0]]), np.ones(1))
    assert hm[0, 25, 47] == pytest.approx(float(np.exp(-1 / 8))) and w[0] == 1
