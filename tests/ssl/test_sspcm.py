"""SSPCM in the teacher/student module: the agreement corrections on constructed predictions,
the temporal pair choice, who teaches whom, and where the gradients go."""

from __future__ import annotations

import pytest
import torch
from test_methods import Recorder, SpyLoss, _batch

from semipose.errors import ConfigError
from semipose.losses import joints_mse_loss
from semipose.params import AugmentParams, SSPCMParams
from semipose.ssl.methods import SemiSupervisedModel
from semipose.ssl.sspcm import agreement_weights, temporal_pair

HM = (64, 48)  # heatmap (h, w): diagonal 80


def _joints(*xy):
    return torch.tensor([list(xy)], dtype=torch.float32)  # (1, K, 2)


def test_agreeing_networks_keep_full_weight_and_disagreeing_ones_are_masked():
    every = SSPCMParams(score_filter=True, score_reweight=True, dist_filter=True, dist_reweight=True, dist_thr=0.1)
    j1 = _joints([10.0, 10.0], [10.0, 10.0], [10.0, 10.0])
    j2 = _joints([10.0, 10.0], [10.0, 18.0], [50.0, 60.0])  # equal; 8 px = 0.1 × 80 apart; far
    p1 = torch.tensor([[0.8, 0.8, 0.8]])
    p2 = torch.tensor([[0.8, 0.8, 0.8]])
    pair, aux = agreement_weights(j1, p1, j2, p2, HM, every)
    torch.testing.assert_close(pair, torch.ones(1, 3))
    assert aux[0, 0] == pytest.approx(1.0)  # agreeing: weight 1
    assert aux[0, 1] == 0.0 and aux[0, 2] == 0.0  # at / beyond the threshold: masked
    loose = SSPCMParams(score_filter=False, dist_filter=False, dist_reweight=True)
    _, aux = agreement_weights(j1, p1, j2, p2, HM, loose)
    assert aux[0, 1] == pytest.approx(0.81) and 0 < aux[0, 2] < 0.16  # (1 − distance / diagonal)², as the reference


def test_peak_filter_and_peak_difference():
    j = _joints([1.0, 1.0], [1.0, 1.0])
    p1, p2 = torch.tensor([[0.05, 0.9]]), torch.tensor([[0.1, 0.3]])
    pair, aux = agreement_weights(j, p1, j, p2, HM, SSPCMParams())  # the reference's: peak filter at 0.1 only
    torch.testing.assert_close(pair, torch.tensor([[0.0, 1.0]]))  # (0.05 + 0.1) / 2 < 0.1
    torch.testing.assert_close(aux, pair)
    pair, _ = agreement_weights(j, p1, j, p2, HM, SSPCMParams(score_filter=False, score_reweight=True))
    torch.testing.assert_close(pair, torch.tensor([[0.95, 0.4]]) ** 2)


def test_reweighting_is_the_references_weighted_prediction_and_target():
    """The reference multiplies the prediction and the target by r (JointsMSELoss with target
    weights): the weight on the squared error is r², which joints_mse_loss gets from pair."""
    from semipose.losses import joints_mse_loss

    g = torch.Generator().manual_seed(1)
    j = _joints([1.0, 1.0], [2.0, 2.0])
    p1, p2 = torch.tensor([[0.9, 0.7]]), torch.tensor([[0.5, 0.6]])
    pair, _ = agreement_weights(j, p1, j, p2, HM, SSPCMParams(score_filter=False, score_reweight=True))
    pred, target = torch.rand(1, 2, 8, 10, generator=g), torch.rand(1, 2, 8, 10, generator=g)
    r = (1 - (p1 - p2).abs())[..., None, None]
    reference = 0.5 * ((pred * r - target * r) ** 2).mean()
    torch.testing.assert_close(joints_mse_loss(pred, target, pair), reference)


def test_temporal_pair_takes_the_closest_pair_per_joint():
    g = torch.Generator().manual_seed(0)
    maps = [torch.rand(1, 2, 4, 3, generator=g) for _ in range(4)]  # now1, now2, prev1, prev2
    now1, now2, prev1, prev2 = _joints([0, 0], [0, 0]), _joints([9, 9], [1, 0]), _joints([9, 8], [5, 5]), _joints([0, 1], [0, 0])
    out = temporal_pair(maps, [now1, now2, prev1, prev2])
    # joint 0: (prev1, now2) is 1 px apart, the best; joint 1: (now1, prev2) coincide
    torch.testing.assert_close(out[0, 0], 0.5 * (maps[2][0, 0] + maps[1][0, 0]))
    torch.testing.assert_close(out[0, 1], 0.5 * (maps[0][0, 1] + maps[3][0, 1]))
    # all pairs equally close: the current pair
    same = _joints([3, 3], [3, 3])
    torch.testing.assert_close(temporal_pair(maps, [same] * 4), 0.5 * (maps[0] + maps[1]))


def _sspcm(**kw):
    nets = [Recorder((0, 0), 1), Recorder((4, 6), 2), Recorder((2, 3), 3)]
    return nets, SemiSupervisedModel(nets, method="sspcm", hard_affine=None, **kw)


def test_three_networks_two_teachers_and_the_auxiliary_target():
    spy = SpyLoss()
    params = AugmentParams(jo_joints=2)
    (a, b, c), model = _sspcm(paths=["JO"], augment=params, consistency=spy, sspcm=SSPCMParams(temporal=False))
    sup, target, wsup, unsup, wun = _batch()
    out = model(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0))
    # a, b: supervised, teacher, student; c (auxiliary): supervised, student only
    assert [x["grad"] for x in a.calls] == [True, False, True] and [x["grad"] for x in b.calls] == [True, False, True]
    assert [x["grad"] for x in c.calls] == [True, True]
    assert set(out.terms) == {"sup1", "sup2", "sup3", "cons1", "cons2", "cons3"} and len(out.teachers) == 2
    with torch.no_grad():
        ea = a.conv(torch.nn.functional.avg_pool2d(unsup, 4)) + a.bump
        eb = b.conv(torch.nn.functional.avg_pool2d(unsup, 4)) + b.bump
        sc = c.conv(torch.nn.functional.avg_pool2d(c.calls[1]["input"], 4)) + c.bump
    assert torch.allclose(out.terms["cons3"], joints_mse_loss(sc, 0.5 * (ea + eb), wun))  # the mean of the two
    assert torch.allclose(spy.seen[1], 0.5 * (ea + eb))  # the last student is the auxiliary one
    t = out.terms
    torch.testing.assert_close(out.loss.detach(), 0.5 * (t["sup1"] + t["sup2"] + t["sup3"]) + t["cons1"] + t["cons2"] + t["cons3"])
    out.loss.backward()
    assert all(n.conv.weight.grad is not None for n in (a, b, c))


def test_temporal_correction_uses_the_previous_epoch_after_the_warm_up():
    (a, b, c), model = _sspcm(paths=["none"], sspcm=SSPCMParams(temporal=True, temporal_warmup_epochs=0))
    assert model.prev_nets is not None and not any(p.requires_grad for p in model.prev_nets.parameters())
    with torch.no_grad():
        b.bump.zero_()
        b.bump[:, 0, 0] = 50.0  # both interactive networks peak at (0, 0)
    model.start_epoch(0)
    assert not model.temporal_active  # epoch 0: no previous epoch yet
    model.start_epoch(1)
    assert model.temporal_active
    with torch.no_grad():  # after the snapshot, network 1 moves its peak away
        a.bump.zero_()
        a.bump[:, 7, 5] = 50.0
    spy = SpyLoss()
    model.consistency = spy
    sup, target, wsup, unsup, wun = _batch()
    model(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        prev_a = model.prev_nets[0](unsup)
        now_b = b(unsup)
    # per joint the closest pair is (previous net 1, net 2 now): both at (0, 0)
    torch.testing.assert_close(spy.seen[1], 0.5 * (prev_a + now_b))


def test_sspcm_errors():
    with pytest.raises(ConfigError, match="sspcm needs 3 network"):
        SemiSupervisedModel([Recorder((0, 0), 1), Recorder((1, 1), 2)], method="sspcm")
    with pytest.raises(ConfigError, match="mean-of-networks teacher"):
        _sspcm(paths=["CO"], teacher_view="hard")
