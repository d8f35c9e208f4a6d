"""One step of supervised / PoseCons / PoseDual / multi-path training: who teaches whom,
where gradients flow, how the terms are weighted."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semipose.errors import ConfigError
from semipose.losses import joints_mse_loss
from semipose.models.ensemble import EnsembleNet
from semipose.params import AugmentParams, HardAffineParams
from semipose.ssl.methods import ConsistencyLoss, SemiSupervisedModel, argmax_joints, sigmoid_rampup

K, H, W = 3, 32, 24  # image 32x24 -> heatmaps 8x6


class Recorder(nn.Module):
    """A tiny BN-free network: heatmap = conv(pooled image) + a fixed per-net bump.
    Records, per call, whether autograd was on and whether its input required grad."""

    output_stride = 4

    def __init__(self, bump_at: tuple[int, int], seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, K, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.05)
            self.conv.bias.zero_()
        bump = torch.zeros(K, H // 4, W // 4)
        bump[:, bump_at[1], bump_at[0]] = 50.0
        self.register_buffer("bump", bump)
        self.calls: list[dict] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append({"grad": torch.is_grad_enabled(), "input_requires_grad": x.requires_grad, "input": x.detach().clone()})
        return self.conv(nn.functional.avg_pool2d(x, 4)) + self.bump


def _batch(seed: int = 0, n: int = 4):
    g = torch.Generator().manual_seed(seed)
    sup = torch.randn(n, 3, H, W, generator=g)
    target = torch.rand(n, K, H // 4, W // 4, generator=g)
    wsup = torch.ones(n, K)
    unsup = torch.randn(n, 3, H, W, generator=g)
    wun = torch.ones(n, K)
    return sup, target, wsup, unsup, wun


def test_supervised_is_plain_mse() -> None:
    net = Recorder((1, 1), 0)
    model = SemiSupervisedModel([net], method="supervised")
    sup, target, wsup, unsup, wun = _batch()
    out = model(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0))
    assert set(out.terms) == {"sup"}
    assert torch.allclose(out.loss, joints_mse_loss(net(sup), target, wsup))
    assert len(net.calls) == 2  # one in the step, one above


def test_posecons_teacher_without_grad_student_with() -> None:
    net = Recorder((2, 3), 0)
    model = SemiSupervisedModel([net], method="posecons", paths=["JOCO"], hard_affine=HardAffineParams())
    sup, target, wsup, unsup, wun = _batch()
    out = model(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0))
    sup_call, teacher, student = net.calls
    assert sup_call["grad"] and student["grad"]
    assert not teacher["grad"]
    assert torch.equal(teacher["input"], unsup)  # the teacher sees the easy view
    assert not student["input_requires_grad"]  # the hard view is built without autograd
    assert not torch.equal(student["input"], unsup)  # ... and differs from the easy view
    out.loss.backward()
    assert net.conv.weight.grad is not None and torch.isfinite(net.conv.weight.grad).all()
    assert set(out.terms) == {"sup", "cons"}
    assert len(out.teachers) == 1 and out.path_terms == {}


def test_posecons_without_views_is_self_consistent() -> None:
    """No augmentation and no affine: the student sees the easy view, so its loss is 0."""
    net = Recorder((2, 3), 0)
    model = SemiSupervisedModel([net], method="posecons", paths=["none"], hard_affine=None)
    out = model(*_batch(), generator=torch.Generator().manual_seed(0))
    assert float(out.terms["cons"]) == 0.0


def test_posedual_crosses_teachers_and_occlusions() -> None:
    """Net 1's consistency target is net 2's easy-view heatmap and vice versa; net 1's hard
    view is occluded at net 2's predicted joints (JC, no jitter)."""
    a, b = Recorder((0, 0), 1), Recorder((4, 6), 2)
    params = AugmentParams(jc_joints=3, jitter=0.0, half_size_min=2, half_size_max=2, fill=0.0)
    model = SemiSupervisedModel([a, b], method="posedual", paths=["JC"], hard_affine=None, augment=params)
    sup, target, wsup, unsup, wun = _batch(n=2)
    unsup = unsup + 5.0  # nothing is near the fill value 0 except the holes
    out = model(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0))
    # a: sup, teacher, student; b: the same
    assert [c["grad"] for c in a.calls] == [True, False, True]
    assert [c["grad"] for c in b.calls] == [True, False, True]
    ta, tb = a.calls[1]["input"], b.calls[1]["input"]
    assert torch.equal(ta, unsup) and torch.equal(tb, unsup)
    hard_a, hard_b = a.calls[2]["input"], b.calls[2]["input"]
    # b's peak is at heatmap (4, 6) -> image (16, 24): a's hard view has its hole there
    assert (hard_a[:, :, 24, 16] == 0).all() and (hard_a[:, :, 0, 0] != 0).all()
    assert (hard_b[:, :, 0, 0] == 0).all() and (hard_b[:, :, 24, 16] != 0).all()
    # targets are crossed
    with torch.no_grad():
        ea, eb = a.conv(nn.functional.avg_pool2d(unsup, 4)) + a.bump, b.conv(nn.functional.avg_pool2d(unsup, 4)) + b.bump
        sa = a.conv(nn.functional.avg_pool2d(hard_a, 4)) + a.bump
        sb = b.conv(nn.functional.avg_pool2d(hard_b, 4)) + b.bump
    assert torch.allclose(out.terms["cons1"], joints_mse_loss(sa, eb, wun))
    assert torch.allclose(out.terms["cons2"], joints_mse_loss(sb, ea, wun))
    # weights: 0.5 + 0.5 supervised, 1 + 1 consistency (spec §5.3)
    t = out.terms
    assert torch.allclose(out.loss.detach(), 0.5 * t["sup1"] + 0.5 * t["sup2"] + t["cons1"] + t["cons2"])


def test_multi_path_and_repeat() -> None:
    net = Recorder((2, 3), 0)
    model = SemiSupervisedModel([net], method="posecons", paths=["JOCO", "JCCM"], repeat=2, hard_affine=HardAffineParams())
    out = model(*_batch(), generator=torch.Generator().manual_seed(0))
    assert len(net.calls) == 1 + 1 + 4
    paths = out.path_terms["cons"]
    assert len(paths) == 4 and torch.allclose(out.terms["cons"], torch.stack(paths).sum())
    hard = [c["input"] for c in net.calls[2:]]
    assert not torch.equal(hard[0], hard[2])  # a repeated recipe draws new randomness
    # one affine shared by all paths: the zero border (outside the easy view) is identical
    # wherever no occlusion differs — compare the masks of exact zeros from the warp
    fused = SemiSupervisedModel([net], method="posecons", paths=["JOCO", "JCCM"], consistency=ConsistencyLoss(heat_fusion=True),
                                hard_affine=HardAffineParams())
    fo = fused(*_batch(), generator=torch.Generator().manual_seed(0))
    assert set(fo.terms) == {"sup", "cons"} and fo.path_terms == {}


def test_same_seed_same_step() -> None:
    net = Recorder((2, 3), 0)
    model = SemiSupervisedModel([net], method="posecons", paths=["JO+CO", "MU"], hard_affine=HardAffineParams())
    o1 = model(*_batch(), generator=torch.Generator().manual_seed(5))
    o2 = model(*_batch(), generator=torch.Generator().manual_seed(5))
    o3 = model(*_batch(), generator=torch.Generator().manual_seed(6))
    assert torch.equal(o1.loss, o2.loss) and not torch.equal(o1.loss, o3.loss)


def test_concat_views_matches_separate_passes_without_batchnorm() -> None:
    net = Recorder((2, 3), 0)
    kw = {"method": "posecons", "paths": ["CO", "CM"], "hard_affine": HardAffineParams()}
    sep = SemiSupervisedModel([net], **kw)(*_batch(), generator=torch.Generator().manual_seed(1))
    cat = SemiSupervisedModel([net], concat_views=True, **kw)(*_batch(), generator=torch.Generator().manual_seed(1))
    assert torch.allclose(sep.loss, cat.loss, atol=1e-6)


def test_conf_masking_and_unsup_weight() -> None:
    net = Recorder((2, 3), 0)
    sup, target, wsup, unsup, wun = _batch()
    masked = SemiSupervisedModel([net], method="posecons", paths=["CO"], consistency=ConsistencyLoss(conf_masking=True, conf_thresh=500.0),
                                 hard_affine=HardAffineParams())
    out = masked(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0))
    assert float(out.terms["cons"]) == 0.0  # every teacher peak (≈50) is below 500
    half = SemiSupervisedModel([net], method="posecons", paths=["CO"], unsup_weight=1.0, hard_affine=HardAffineParams())
    o1 = half(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0), unsup_scale=1.0)
    o2 = half(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0), unsup_scale=0.25)
    assert torch.allclose(o2.loss, o1.terms["sup"] + 0.25 * o1.terms["cons"])


def test_collapse_statistics() -> None:
    net = Recorder((2, 3), 0)
    model = SemiSupervisedModel([net], method="posecons", paths=["none"], collapse_thr=0.5)
    sup, target, wsup, unsup, wun = _batch()
    wun[:, 0] = 0  # joint 0 is not supervised: it does not count
    st = model(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0)).teachers[0]
    assert float(st.count) == 4 * (K - 1)
    _, peaks = argmax_joints(net(unsup))
    assert torch.allclose(st.conf_sum, peaks[:, 1:].sum())
    assert float(st.low) == float((peaks[:, 1:] < 0.5).sum())


def test_rampup_and_ensemble_and_errors() -> None:
    assert sigmoid_rampup(0, 0) == 1.0
    assert sigmoid_rampup(0, 100) == pytest.approx(torch.exp(torch.tensor(-5.0)).item())
    assert sigmoid_rampup(100, 100) == 1.0 and sigmoid_rampup(50, 100) < 1.0
    a, b = Recorder((0, 0), 1), Recorder((4, 6), 2)
    x = torch.randn(2, 3, H, W)
    assert torch.allclose(EnsembleNet([a, b])(x), (a(x) + b(x)) / 2)
    with pytest.raises(ValueError, match="posedual needs 2"):
        SemiSupervisedModel([a], method="posedual")
    with pytest.raises(ValueError, match="unknown method"):
        SemiSupervisedModel([a], method="meanteacher")
    with pytest.raises(ValueError, match="Generator"):
        SemiSupervisedModel([a], method="posecons")(*_batch())


class SpyLoss(ConsistencyLoss):
    """The consistency loss, keeping what it was given."""

    def __call__(self, preds, target, weight):
        self.seen = (preds, target)
        return super().__call__(preds, target, weight)


class Pool(nn.Module):
    """Heatmap = the image average-pooled to the heatmap grid: it moves with the image."""

    output_stride = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(x, 4) + 0.0 * self.dummy

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))


def _blob_images(n: int = 4) -> torch.Tensor:
    """Images with one bright Gaussian blob, the same on every channel, off the centre."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    cx = torch.tensor([5.0, 17.0, 8.0, 15.0])[:n]  # 6-8 px from the centre (11.5, 15.5): rotations move them
    cy = torch.tensor([12.0, 20.0, 9.0, 22.0])[:n]
    blob = torch.exp(-((xs - cx.view(-1, 1, 1)) ** 2 + (ys - cy.view(-1, 1, 1)) ** 2) / (2 * 2.0**2))
    return blob.unsqueeze(1).expand(n, 3, H, W).contiguous()


def test_view_pairs_map_the_teacher_into_the_student_frame() -> None:
    """A hard teacher view gets its own affine; its heatmaps, mapped into the student's frame,
    peak where the student's view has the blob, for hard → easy and hard → hard."""
    easy = _blob_images()
    sup, target, wsup, _, wun = _batch()
    for teacher_view, student_view in (("hard", "easy"), ("hard", "hard"), ("easy", "hard")):
        spy = SpyLoss()
        model = SemiSupervisedModel([Pool()], method="posecons", paths=["none"], hard_affine=HardAffineParams(),
                                    teacher_view=teacher_view, student_view=student_view, consistency=spy)
        model(sup, target, wsup, easy, wun, generator=torch.Generator().manual_seed(3))
        (pred,), tgt = spy.seen
        if student_view == "easy":
            assert torch.equal(pred, nn.functional.avg_pool2d(easy, 4))
        p_arg = pred.flatten(2).argmax(-1)
        t_arg = tgt.flatten(2).argmax(-1)
        px, py, tx, ty = p_arg % (W // 4), p_arg // (W // 4), t_arg % (W // 4), t_arg // (W // 4)
        assert ((px - tx).abs() <= 1).all() and ((py - ty).abs() <= 1).all(), (teacher_view, student_view)


def test_hard_teacher_view_sees_its_own_occluded_view() -> None:
    net = Recorder((2, 3), 0)
    params = AugmentParams(co_holes=8, half_size_min=3, half_size_max=4)
    model = SemiSupervisedModel([net], method="posecons", paths=["CO"], hard_affine=None, augment=params,
                                teacher_view="hard", student_view="easy")
    sup, target, wsup, unsup, wun = _batch()
    unsup = unsup + 5.0  # nothing near the hole value 0
    out = model(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0))
    sup_call, easy_teacher, hard_teacher, student = net.calls
    assert not hard_teacher["grad"] and student["grad"]
    assert (hard_teacher["input"] == 0).any() and torch.equal(student["input"], unsup)  # teacher occluded, student easy
    with torch.no_grad():
        t = net.conv(nn.functional.avg_pool2d(hard_teacher["input"], 4)) + net.bump
        s = net.conv(nn.functional.avg_pool2d(unsup, 4)) + net.bump
    assert torch.allclose(out.terms["cons"], joints_mse_loss(s, t, wun))
    with pytest.raises(ConfigError, match="exactly one path"):
        SemiSupervisedModel([net], method="posecons", paths=["CO", "JC"], teacher_view="hard")
    with pytest.raises(ConfigError, match="teacher_view must be one of easy, hard"):
        SemiSupervisedModel([net], method="posecons", teacher_view="medium")


def test_conf_masking_thresholds_the_warped_target() -> None:
    """As the reference (lib/core/loss.py): the confidence mask is the peak of the target the
    student sees, i.e. the teacher's heatmap after the hard view's warp, whose interpolation
    lowers an off-grid peak; the un-warped teacher peak would keep the joint."""
    from semipose.ssl.views import warp

    hm = torch.zeros(1, 2, 16, 12)
    hm[0, 0, 8, 6] = 0.56  # a sharp peak: interpolation lowers it below 0.5
    hm[0, 1, 7:10, 5:8] = 0.9  # a flat-topped one keeps its peak
    shift = torch.tensor([[[1.0, 0.0, 2.0], [0.0, 1.0, 2.0]]])  # half a heatmap pixel (stride 4) each way
    warped = warp(hm, shift, 4.0)
    assert warped[0, 0].max() < 0.5 < warped[0, 1].max()
    target, weight = ConsistencyLoss(conf_masking=True, conf_thresh=0.5).target(warped, torch.ones(1, 2))
    assert weight.tolist() == [[0.0, 1.0]] and torch.equal(target, warped)
