"""Occlusion and mixing augmentations (semipose.ssl.occlusion): each op's meaning and the reference-bug fixes."""

from __future__ import annotations

import pytest
import torch
from _augment_helpers import H, W, _single_thread, coded_images, gen, rand_images, random_joints, run_code, to_norm, to_pix  # noqa: F401 - _single_thread is an autouse fixture

from semipose.ssl import occlusion as O
from semipose.ssl.occlusion import cutmix, cutout, joint_cut_occlusion, joint_cutout, mixup, yoco

# ------------------------------------------------------------------------------------------
# CutOut / CutMix
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 48), (256, 192)])
def test_cutout_holes_reach_every_part_of_a_non_square_image(shape):
    h, w = shape
    n = 400 if h == 64 else 48
    x = torch.ones((n, 3, h, w))
    out = cutout(x, generator=gen(3))
    holes = out[:, 0] == 0.0
    assert torch.all(out[holes.unsqueeze(1).expand_as(out)] == 0.0) and torch.all(out[~holes.unsqueeze(1).expand_as(out)] == 1.0)
    cover = holes.float().mean(0)  # (H, W) hole frequency
    band = 8
    rows = cover.view(h // band, band, w).mean(dim=(1, 2))
    cols = cover.view(h, w // band, band).mean(dim=(0, 2))
    assert torch.all(rows > 0.02) and torch.all(cols > 0.02), (rows, cols)
    # the bottom H − W rows (never cut by the reference, Q4) are cut about as often as the rest
    bottom = cover[w:].mean()
    assert bottom > 0.5 * cover[: h - w].mean()
    assert torch.all(holes[:, -1, :].any(dim=1).sum() > 0)


def test_cutout_holes_are_clipped_boxes_of_the_drawn_size():
    x = torch.ones((32, 3, 96, 80))
    out = cutout(x, generator=gen(5), num_holes=1, half_size=(10, 19), fill=-3.0)
    for i in range(32):
        hole = out[i, 0] == -3.0
        ys, xs = torch.where(hole)
        assert len(ys) > 0
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        assert hole.sum() == (y1 - y0) * (x1 - x0)  # one rectangle
        assert 1 <= y1 - y0 <= 38 and 1 <= x1 - x0 <= 38
        if y0 > 0 and y1 < 96:  # not clipped: full side 2·s, s in [10, 19]
            assert (y1 - y0) % 2 == 0 and y1 - y0 >= 20
        if x0 > 0 and x1 < 80:
            assert (x1 - x0) % 2 == 0 and x1 - x0 >= 20
        assert torch.all(out[i][:, ~hole] == 1.0)  # untouched elsewhere


def test_cutmix_holes_come_from_the_permuted_partner_at_the_same_location():
    n = 8
    x = coded_images(n)
    out = cutmix(x, generator=gen(11), num_holes=2)
    lenders = []
    for i in range(n):
        assert torch.equal(out[i, 1:], x[i, 1:])  # same location: row/column codes unchanged
        src = {int(v) for v in out[i, 0].unique().tolist()}
        assert i in src and len(src) <= 2  # own pixels plus at most one partner
        others = src - {i}
        if others:
            lenders.append(others.pop())
    assert lenders  # some image received a partner's content
    assert len(set(lenders)) == len(lenders)  # a permutation: every image lends to at most one


def test_cutmix_reaches_the_bottom_rows():
    x = coded_images(16, 256, 192)
    out = cutmix(x, generator=gen(2), num_holes=2)
    changed = (out[:, 0] != x[:, 0]).float().mean(0)
    assert changed[192:].sum() > 0


# ------------------------------------------------------------------------------------------
# MixUp
# ------------------------------------------------------------------------------------------


def _lambdas(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For one-hot images (image i = 1 in channel i), λ'_i = out[i, i] and the partner index."""
    n = out.shape[0]
    own = out[torch.arange(n), torch.arange(n), 0, 0]
    return own, out[:, :, 0, 0]


def test_mixup_lambda_is_in_range_and_one_per_batch():
    n = 6
    x = torch.zeros((n, n, 4, 3))
    x[torch.arange(n), torch.arange(n)] = 1.0
    seen = []
    for seed in range(60):
        out = mixup(x, generator=gen(seed))
        own, full = _lambdas(out)
        mixed = own < 1.0
        if mixed.any():
            lam = own[mixed]
            assert torch.all(lam > 0.75 - 1e-6) and torch.all(lam <= 1.0)
            assert torch.allclose(lam, lam[0].expand_as(lam))  # one λ for the whole batch
            # the remainder is exactly one partner image with weight 1 − λ'
            rest = full.clone()
            rest[torch.arange(n), torch.arange(n)] = 0.0
            rest = rest[mixed]
            assert torch.allclose(rest.sum(1), 1.0 - lam, atol=1e-6)
            assert torch.all((rest > 0).sum(1) <= 1)
            seen.append(float(lam[0]))
    seen_t = torch.tensor(seen)
    # Beta(0.2, 0.2) is U-shaped: both ends of (0.75, 1) occur
    assert seen_t.min() < 0.8 and seen_t.max() > 0.95


def test_mixup_per_sample_draws_distinct_lambdas():
    n = 8
    x = torch.zeros((n, n, 2, 2))
    x[torch.arange(n), torch.arange(n)] = 1.0
    out = mixup(x, generator=gen(1), per_sample=True)
    own, _ = _lambdas(out)
    lam = own[own < 1.0]
    assert len(lam) >= 2 and torch.all(lam > 0.75 - 1e-6)
    assert len(torch.unique(lam)) == len(lam)


def test_beta_sampler_matches_moments():
    g = gen(7)
    for a, b in [(0.2, 0.2), (2.0, 5.0), (1.0, 1.0)]:
        s = O._sample_beta(a, b, (20000,), g, torch.device("cpu"))
        assert torch.all((s >= 0) & (s <= 1)) and torch.isfinite(s).all()
        mean = a / (a + b)
        var = a * b / ((a + b) ** 2 * (a + b + 1))
        assert abs(float(s.mean()) - mean) < 0.01
        assert abs(float(s.var()) - var) < 0.01


# ------------------------------------------------------------------------------------------
# Joint CutOut
# ------------------------------------------------------------------------------------------


def test_joint_cutout_boxes_sit_on_valid_joints():
    n, k = 32, 4
    x = torch.ones((n, 3, H, W))
    joints = torch.zeros((n, k, 2))
    joints[:, 0] = torch.tensor([2.0, 2.0])  # invalid: top-left corner must never be cut
    joints[:, 1] = torch.stack([torch.linspace(20, 27, n), torch.linspace(30, H - 1, n)], dim=1)  # valid
    joints[:, 2] = torch.tensor([W - 2.0, 1.0])  # invalid
    joints[:, 3] = torch.tensor([1.0, H - 2.0])  # invalid
    valid = torch.zeros((n, k), dtype=torch.bool)
    valid[:, 1] = True
    valid[-1] = False  # a sample without valid joints: untouched
    out = joint_cutout(x, joints, valid, generator=gen(4), num_joints=3, jitter=0.0, fill=0.0)
    assert torch.equal(out[-1], x[-1])
    for i in range(n - 1):
        hole = out[i, 0] == 0.0
        jx, jy = int(round(float(joints[i, 1, 0]))), int(round(float(joints[i, 1, 1])))
        assert hole[jy, jx]  # the hole contains the joint
        ys, xs = torch.where(hole)
        assert torch.all((ys - jy).abs() <= 19) and torch.all((xs - jx).abs() <= 19)
        assert not hole[2, 2] and not hole[1, W - 2]
    # bottom-row joints get their box down to the last row (Q4 fix)
    assert (out[n - 2, 0, H - 1] == 0.0).any()


def test_joint_cutout_reaches_every_part_of_the_image():
    n = 200
    x = torch.ones((n, 3, 256, 192))
    joints = random_joints(n, 5, 256, 192, seed=3)
    out = joint_cutout(x, joints, None, generator=gen(8))
    cover = (out[:, 0] == 0.0).float().mean(0)
    rows = cover.view(256 // 16, 16, 192).mean(dim=(1, 2))
    cols = cover.view(256, 192 // 16, 16).mean(dim=(0, 2))
    assert torch.all(rows > 0.02) and torch.all(cols > 0.02)


def test_joint_cutout_jitter_moves_the_centre():
    n = 64
    x = torch.ones((n, 3, 128, 128))
    joints = torch.full((n, 1, 2), 64.0)
    out = joint_cutout(x, joints, None, generator=gen(9), num_joints=1, half_size=(2, 2), jitter=10.0)
    hole = out[:, 0] == 0.0
    ys = torch.arange(128.0).view(1, 128, 1)
    cy = (hole * ys).sum(dim=(1, 2)) / hole.sum(dim=(1, 2)).clamp_min(1)
    off = cy - 63.5  # box [c−2, c+2) has centre c − 0.5
    assert off.std() > 5.0 and off.abs().max() < 60


# ------------------------------------------------------------------------------------------
# Joint Cut-Occlusion
# ------------------------------------------------------------------------------------------


def test_joint_cut_occlusion_pastes_another_images_joint_patch_on_this_images_joint():
    n, k, h, w = 6, 3, 96, 80
    x = coded_images(n, h, w)
    g = gen(21)
    joints = torch.stack([torch.randint(30, w - 30, (n, k), generator=g), torch.randint(30, h - 30, (n, k), generator=g)], dim=-1).float()
    valid = torch.ones((n, k), dtype=torch.bool)
    valid[:, 2] = False
    joints[:, 2] = torch.tensor([0.0, 0.0])  # invalid joint in the corner: never a centre (neither end)
    out = joint_cut_occlusion(x, joints, valid, generator=gen(22), num_joints=1, jitter=0.0)
    for i in range(n):
        changed = (out[i] != x[i]).any(dim=0)
        src = out[i, 0][changed].unique()
        assert len(src) == 1 and int(src) != i  # one source image, another one
        s = int(src)
        # the patch is a translated copy: source offset is constant over the patch
        ys, xs = torch.where(changed)
        dy = out[i, 1][changed] - ys
        dx = out[i, 2][changed] - xs
        assert len(dy.unique()) == 1 and len(dx.unique()) == 1
        # centred on one of this image's valid joints, copied from one of the source's valid joints
        hits = []
        for jd in range(2):
            djx, djy = int(joints[i, jd, 0]), int(joints[i, jd, 1])
            if changed[djy, djx]:
                sy, sx = int(out[i, 1, djy, djx]), int(out[i, 2, djy, djx])
                hits += [(jd, js) for js in range(2) if (sx, sy) == (int(joints[s, js, 0]), int(joints[s, js, 1]))]
        assert hits, f"image {i}: destination joint pixel did not receive the source joint pixel"
        jd = hits[0][0]
        assert torch.all((ys - joints[i, jd, 1]).abs() <= 19) and torch.all((xs - joints[i, jd, 0]).abs() <= 19)
        assert not changed[0, 0]


def test_joint_cut_occlusion_uses_unmodified_content_and_skips_out_of_bounds_source():
    n = 2
    x = coded_images(n)
    joints = torch.tensor([[[24.0, 32.0]], [[1.0, H - 1.0]]])  # image 1's joint: bottom-left corner
    out = joint_cut_occlusion(x, joints, None, generator=gen(3), num_joints=2, half_size=(10, 10), jitter=0.0)
    # image 0 receives image 1's corner patch: only the part inside image 1 is pasted,
    # the rest of the destination box is left as it was (no zero fill)
    ch0 = (out[0] != x[0]).any(dim=0)
    assert torch.equal(out[0, 0][ch0].unique(), torch.tensor([1.0]))
    ys, xs = torch.where(ch0)
    assert int(ys.min()) == 32 - 10 and int(ys.max()) == 32  # source rows H−11 … H−1 only
    assert int(xs.min()) == 24 - 1 and int(xs.max()) == 24 + 9  # source columns 0 … 10 only
    assert torch.all(out[0][:, ~ch0] == x[0][:, ~ch0])
    # image 1 receives image 0's centre patch (from the unmodified batch), clipped at the corner
    ch1 = (out[1] != x[1]).any(dim=0)
    assert torch.equal(out[1, 0][ch1].unique(), torch.tensor([0.0]))
    assert bool(ch1[H - 1, 0]) and int(out[1, 1, H - 1, 1]) == 32 and int(out[1, 2, H - 1, 1]) == 24


def test_joint_cut_occlusion_single_image_and_no_valid_joints():
    x = coded_images(1)
    joints = torch.tensor([[[10.0, 10.0], [30.0, 50.0]]])
    out = joint_cut_occlusion(x, joints, None, generator=gen(0), num_joints=2, jitter=0.0)
    assert out.shape == x.shape and torch.all(out[:, 0] == 0)  # N == 1: source is itself
    none_valid = torch.zeros((1, 2), dtype=torch.bool)
    assert torch.equal(joint_cut_occlusion(x, joints, none_valid, generator=gen(0)), x)


# ------------------------------------------------------------------------------------------
# YOCO
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 48), (63, 47)])
def test_yoco_takes_bottom_or_right_half_from_aux(shape):
    h, w = shape
    n = 32
    a = torch.zeros((n, 3, h, w))
    b = torch.ones((n, 3, h, w))
    out = yoco(a, b, generator=gen(5))
    bottom = torch.zeros((h, w))
    bottom[h // 2 :] = 1
    right = torch.zeros((h, w))
    right[:, w // 2 :] = 1
    kinds = []
    for i in range(n):
        if torch.equal(out[i, 0], bottom):
            kinds.append("b")
        else:
            assert torch.equal(out[i, 0], right)
            kinds.append("r")
        assert torch.equal(out[i, 0], out[i, 2])
    assert 4 < kinds.count("b") < 28


def test_size_scale_shrinks_boxes_per_sample_and_none_changes_nothing():
    """Instance-relative views (ssl.augment.size_relative_to: instance): the same draws, each
    sample's half sizes times its factor; without factors the output is bit-identical."""
    x = torch.ones((16, 3, 96, 80))
    base = cutout(x, generator=gen(5), num_holes=1, half_size=(10, 19), fill=-3.0)
    assert torch.equal(cutout(x, generator=gen(5), num_holes=1, half_size=(10, 19), fill=-3.0, size_scale=None), base)
    assert torch.equal(cutout(x, generator=gen(5), num_holes=1, half_size=(10, 19), fill=-3.0, size_scale=torch.ones(16)), base)
    scale = torch.tensor([0.25, 1.0] * 8)
    out = cutout(x, generator=gen(5), num_holes=1, half_size=(10, 19), fill=-3.0, size_scale=scale)
    for i in range(16):
        area, full = int((out[i, 0] == -3.0).sum()), int((base[i, 0] == -3.0).sum())
        if scale[i] == 1.0:
            assert area == full
        else:
            assert 0 < area <= max(4, full // 9)  # a quarter of the half size: about a sixteenth of the area
    j = random_joints(16, 5, seed=3)
    a = joint_cutout(x, j, None, generator=gen(2), num_joints=2, size_scale=torch.full((16,), 0.3))
    b = joint_cutout(x, j, None, generator=gen(2), num_joints=2)
    assert (a != 1).sum() < 0.25 * (b != 1).sum()
    c = joint_cut_occlusion(rand_images(16), j, None, generator=gen(2), num_joints=2, size_scale=torch.full((16,), 0.3))
    assert c.shape == (16, 3, H, W)
    with pytest.raises(ValueError, match="size_scale must be"):
        cutout(x, generator=gen(5), size_scale=torch.ones(3))


def test_instance_scale_is_the_keypoint_extent():
    from semipose.ssl.recipes import instance_scale

    joints = torch.tensor([[[10.0, 10.0], [46.0, 28.0], [0.0, 0.0]], [[5.0, 5.0], [500.0, 5.0], [0.0, 0.0]], [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]])
    valid = torch.tensor([[True, True, False], [True, True, False], [True, False, False]])
    s = instance_scale(joints, valid, 180.0)
    assert s.tolist() == pytest.approx([36 / 180, 1.0, 1.0])  # extent 36 px; larger than the reference: 1; one joint: 1
