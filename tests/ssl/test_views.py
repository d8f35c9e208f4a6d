"""The hard view's geometry: image and heatmap warps stay aligned on non-square crops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semipose.codec import HeatmapCodec
from semipose.params import HardAffineParams
from semipose.ssl.views import affine_to_theta, compose_affine, invert_affine, sample_hard_affine, warp, warp_points


def _fixed(n: int, w: int, h: int, deg: float, s: float) -> torch.Tensor:
    """The matrix sample_hard_affine would produce for rotation ``deg`` and scale ``s``."""
    a = math.radians(deg)
    c, si = math.cos(a) * s, math.sin(a) * s
    cx, cy = (w - 1) / 2, (h - 1) / 2
    m = torch.tensor([[c, si, cx - c * cx - si * cy], [-si, c, cy + si * cx - c * cy]], dtype=torch.float32)
    return m.expand(n, 2, 3).clone()


def test_sample_ranges_and_determinism() -> None:
    p = HardAffineParams(scale_factor=0.25, rot_factor=30, rot_prob=0.8)
    g = torch.Generator().manual_seed(0)
    m = sample_hard_affine(4000, (96, 128), p, generator=g)
    lin = m[:, :, :2]
    s = torch.sqrt(torch.linalg.det(lin))
    rot = torch.rad2deg(torch.atan2(lin[:, 0, 1], lin[:, 0, 0]))
    assert s.min() >= 0.75 - 1e-5 and s.max() <= 1.25 + 1e-5
    assert rot.abs().max() <= 60 + 1e-3 and rot.abs().max() > 45
    frac_rot = (rot.abs() > 1e-6).float().mean().item()
    assert 0.77 < frac_rot < 0.83
    # the image centre is fixed
    c = torch.tensor([(96 - 1) / 2, (128 - 1) / 2])
    assert torch.allclose(lin @ c + m[:, :, 2], c.expand(4000, 2), atol=1e-3)
    g2 = torch.Generator().manual_seed(0)
    assert torch.equal(m, sample_hard_affine(4000, (96, 128), p, generator=g2))


def test_identity_is_identity() -> None:
    x = torch.randn(2, 3, 32, 24)
    m = _fixed(2, 24, 32, 0.0, 1.0)
    assert torch.allclose(warp(x, m), x, atol=1e-5)
    theta = affine_to_theta(m, (32, 24))
    assert torch.allclose(theta, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3), atol=1e-6)


def test_points_and_inverse() -> None:
    m = sample_hard_affine(5, (96, 128), HardAffineParams(), generator=torch.Generator().manual_seed(3))
    pts = torch.rand(5, 7, 2) * torch.tensor([96.0, 128.0])
    back = warp_points(warp_points(pts, m), invert_affine(m))
    assert torch.allclose(back, pts, atol=1e-3)


@pytest.mark.parametrize("deg,s", [(40.0, 1.0), (-55.0, 0.8), (25.0, 1.2), (90.0, 1.0)])
def test_image_pixel_moves_where_warp_points_says(deg: float, s: float) -> None:
    """Rotation in pixels on a non-square image: a bright pixel lands at warp_points()."""
    w, h = 96, 128
    x = torch.zeros(1, 1, h, w)
    px, py = 30, 90
    x[0, 0, py - 1 : py + 2, px - 1 : px + 2] = 1.0
    m = _fixed(1, w, h, deg, s)
    out = warp(x, m)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    wsum = out[0, 0].sum()
    centroid = torch.stack([(out[0, 0] * xx).sum() / wsum, (out[0, 0] * yy).sum() / wsum])
    expect = warp_points(torch.tensor([[[float(px), float(py)]]]), m)[0, 0]
    assert torch.allclose(centroid, expect, atol=0.3)


@pytest.mark.parametrize("seed", range(6))
def test_heatmap_peak_follows_keypoint(seed: int) -> None:
    """A Gaussian at a keypoint of the easy view, pushed through the hard affine, peaks where the
    keypoint lands in the hard image (within 1 heatmap pixel) — on a non-square 128x96 crop."""
    w, h = 96, 128
    codec = HeatmapCodec((w, h), (w // 4, h // 4), 2.0)
    rng = np.random.default_rng(seed)
    kp = np.stack([rng.uniform(30, 66, 4), rng.uniform(35, 93, 4)], axis=1)
    hm, _ = codec.encode(kp, np.ones(4, bool))
    hm_t = torch.from_numpy(hm)[None]
    m = sample_hard_affine(1, (w, h), HardAffineParams(rot_prob=1.0), generator=torch.Generator().manual_seed(seed))
    warped = warp(hm_t, m, stride=4.0)
    expect = warp_points(torch.from_numpy(kp).float()[None], m)[0] / 4.0  # heatmap pixels
    for k in range(4):
        flat = int(warped[0, k].argmax())
        peak = torch.tensor([flat % (w // 4), flat // (w // 4)], dtype=torch.float32)
        if (expect[k] < 1).any() or expect[k][0] > w // 4 - 2 or expect[k][1] > h // 4 - 2:
            continue  # landed outside the crop
        assert torch.linalg.norm(peak - expect[k]) <= 1.0, (k, peak, expect[k])


def test_image_and_heatmap_agree() -> None:
    """The same transform on the image and on its heatmap: the warped image's bright spot and
    the warped heatmap's peak coincide (× stride)."""
    w, h = 96, 128
    x = torch.zeros(1, 1, h, w)
    x[0, 0, 84:87, 34:37] = 1.0  # centre (35, 85)
    codec = HeatmapCodec((w, h), (w // 4, h // 4), 2.0)
    hm, _ = codec.encode(np.array([[35.0, 85.0]]), np.ones(1, bool))
    m = _fixed(1, w, h, 35.0, 0.9)
    img = warp(x, m)[0, 0]
    hmw = warp(torch.from_numpy(hm)[None], m, stride=4.0)[0, 0]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    c_img = torch.stack([(img * xx).sum(), (img * yy).sum()]) / img.sum()
    flat = int(hmw.argmax())
    c_hm = torch.tensor([flat % (w // 4), flat // (w // 4)], dtype=torch.float32) * 4
    assert img.sum() > 1 and 0 < c_img[0] < w and 0 < c_img[1] < h
    assert torch.linalg.norm(c_img - c_hm) <= 4.0


def test_compose_affine_applies_the_second_first():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 2, 3, generator=g), torch.randn(3, 2, 3, generator=g)
    pts = torch.randn(3, 5, 2, generator=g)

    def apply(m, p):
        return p @ m[:, :, :2].transpose(1, 2) + m[:, None, :, 2]

    torch.testing.assert_close(apply(compose_affine(a, b), pts), apply(a, apply(b, pts)))
    eye = torch.eye(2, 3).expand(3, 2, 3)
    torch.testing.assert_close(compose_affine(a, invert_affine(a)), eye, atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(192, 256), (48, 64), (64, 64)])
def test_reference_geometry_is_the_reference_formula(size):
    """ssl.reference_geometry: given the same (s, r) and crop, the hard view is
    grid_sample(img, affine_grid(θ)) and the warped target grid_sample(hm, affine_grid(θ)), θ the
    OpenCV matrix getRotationMatrix2D((0, 0), r, s) used as the normalised θ (the reference's
    pose_dual.py), for the image and for the heatmap alike."""
    import cv2
    import torch.nn.functional as F

    from semipose.ssl.views import hard_affine_matrix

    w, h = size
    g = torch.Generator().manual_seed(3)
    img, hm = torch.rand(3, 3, h, w, generator=g), torch.rand(3, 17, h // 4, w // 4, generator=g)
    s, r = torch.tensor([0.8, 1.2, 1.0]), torch.tensor([25.0, -50.0, 0.0])
    theta = torch.tensor(np.stack([cv2.getRotationMatrix2D((0, 0), float(ri), float(si)) for si, ri in zip(s, r)]), dtype=torch.float32)
    want_img = F.grid_sample(img, F.affine_grid(theta, list(img.shape), align_corners=False), align_corners=False)
    want_hm = F.grid_sample(hm, F.affine_grid(theta, list(hm.shape), align_corners=False), align_corners=False)
    m = hard_affine_matrix(s, r, (w, h), reference=True)
    # equal up to float32 rounding (θ goes through the pixel matrix and back)
    torch.testing.assert_close(warp(img, m), want_img, atol=1e-4, rtol=0)
    torch.testing.assert_close(warp(hm, m, 4.0, reference=True), want_hm, atol=1e-4, rtol=0)
    # the corrected geometry differs where the reference shears (non-square) or is off-centre (heatmaps)
    fixed = hard_affine_matrix(s, r, (w, h))
    assert not torch.allclose(warp(hm, fixed, 4.0), want_hm, atol=1e-3)
    if w != h:
        assert not torch.allclose(warp(img, fixed), want_img, atol=1e-3)


def test_reference_geometry_through_the_model():
    """The switch reaches the training step: the same generator gives the reference matrix."""
    from semipose.ssl.views import hard_affine_matrix

    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    params = HardAffineParams()
    a = sample_hard_affine(4, (192, 256), params, generator=g1, reference=True)
    b = sample_hard_affine(4, (192, 256), params, generator=g2)
    theta_a = affine_to_theta(a, (256, 192))
    assert torch.allclose(theta_a[:, :, 2], torch.zeros(4, 2), atol=1e-5)  # about the centre, no translation
    assert torch.allclose(theta_a[:, 0, 0], theta_a[:, 1, 1]) and torch.allclose(theta_a[:, 0, 1], -theta_a[:, 1, 0])  # OpenCV's form
    assert not torch.allclose(a, b)
    assert torch.equal(hard_affine_matrix(torch.ones(1), torch.zeros(1), (192, 256), reference=True)[:, :, :2], torch.eye(2)[None])
