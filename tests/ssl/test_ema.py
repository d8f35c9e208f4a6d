"""The EMA (mean) teacher: decay schedule, update arithmetic, who teaches whom, where the
gradients go, and BatchNorm statistics."""

from __future__ import annotations

import copy

import pytest
import torch
from test_methods import K, Recorder, _batch
from torch import nn

from semipose.errors import ConfigError
from semipose.losses import joints_mse_loss
from semipose.params import HardAffineParams
from semipose.ssl.methods import SemiSupervisedModel, ema_decay_at


class BNNet(nn.Module):
    """conv → BatchNorm → pooled heatmaps: a network with running statistics."""

    output_stride = 4

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, K, 3, padding=1)
        self.bn = nn.BatchNorm2d(K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(self.bn(self.conv(x)), 4)


def test_decay_schedule():
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(80, 0.999) == pytest.approx(0.9)
    assert ema_decay_at(10**6, 0.999) == 0.999
    assert ema_decay_at(0, 0.99, warmup=False) == 0.99


def test_update_is_the_moving_average_of_parameters_and_statistics():
    net = BNNet(0)
    model = SemiSupervisedModel([net], method="posecons", teacher="ema", ema_decay=0.9, ema_warmup=False)
    ema = model.ema_nets[0]
    assert all(torch.equal(a, b) for a, b in zip(ema.state_dict().values(), net.state_dict().values()))  # starts as a copy
    assert not any(p.requires_grad for p in ema.parameters())
    before = copy.deepcopy(ema.state_dict())
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
        net.bn.running_mean.add_(1.0)
        net.bn.num_batches_tracked.add_(7)
    model.update_ema(step=5)
    for k, v in ema.state_dict().items():
        n = net.state_dict()[k]
        if v.dtype.is_floating_point:
            torch.testing.assert_close(v, 0.9 * before[k] + 0.1 * n)
        else:
            assert torch.equal(v, n), k  # integer buffers are copied
    # with warm-up the first update takes 0.9 of the network
    model = SemiSupervisedModel([BNNet(1)], method="posecons", teacher="ema", ema_decay=0.999)
    e0 = model.ema_nets[0].conv.weight.clone()
    with torch.no_grad():
        model.nets[0].conv.weight.add_(1.0)
    model.update_ema(step=0)
    torch.testing.assert_close(model.ema_nets[0].conv.weight, 0.1 * e0 + 0.9 * model.nets[0].conv.weight)


def test_posecons_ema_teaches_and_gradients_reach_only_the_student():
    net = Recorder((2, 3), 0)
    model = SemiSupervisedModel([net], method="posecons", paths=["JOCO"], hard_affine=HardAffineParams(), teacher="ema")
    ema = model.ema_nets[0]
    sup, target, wsup, unsup, wun = _batch()
    out = model(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0))
    # the network runs the supervised and the student pass; the EMA copy the teacher pass
    assert [c["grad"] for c in net.calls] == [True, True]
    assert [c["grad"] for c in ema.calls] == [False] and torch.equal(ema.calls[0]["input"], unsup)
    out.loss.backward()
    assert net.conv.weight.grad is not None and all(p.grad is None for p in ema.parameters())
    assert model.student_parameters() == list(net.parameters())
    assert len(model.teacher_nets()) == 1 and model.teacher_nets()[0] is ema


def test_posedual_ema_crosses_teachers():
    """Student 1's target is the EMA of network 2 and vice versa."""
    a, b = Recorder((0, 0), 1), Recorder((4, 6), 2)
    model = SemiSupervisedModel([a, b], method="posedual", paths=["none"], hard_affine=None, teacher="ema")
    ea, eb = model.ema_nets
    with torch.no_grad():  # make the EMA copies differ from their networks
        ea.conv.bias.fill_(3.0)
        eb.conv.bias.fill_(-2.0)
    sup, target, wsup, unsup, wun = _batch(n=2)
    out = model(sup, target, wsup, unsup, wun, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ta, tb = ea(unsup), eb(unsup)
        sa, sb = a(unsup), b(unsup)
    assert torch.allclose(out.terms["cons1"], joints_mse_loss(sa, tb, wun))
    assert torch.allclose(out.terms["cons2"], joints_mse_loss(sb, ta, wun))


def test_teacher_pass_leaves_the_ema_statistics_alone():
    model = SemiSupervisedModel([BNNet(0)], method="posecons", paths=["none"], hard_affine=HardAffineParams(), teacher="ema")
    model.train()
    ema_bn = model.ema_nets[0].bn
    mean0, var0 = ema_bn.running_mean.clone(), ema_bn.running_var.clone()
    sup, target, wsup, unsup, wun = _batch()
    model(sup, target, wsup, unsup * 3 + 1, wun, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ema_bn.running_mean, mean0) and torch.equal(ema_bn.running_var, var0)
    assert ema_bn.momentum == 0.1  # restored after the pass
    assert not torch.equal(model.nets[0].bn.running_mean, mean0)  # the network's own statistics moved


def test_ema_errors():
    with pytest.raises(ConfigError, match="needs a consistency method"):
        SemiSupervisedModel([BNNet(0)], method="supervised", teacher="ema")
    with pytest.raises(ConfigError, match="unknown teacher"):
        SemiSupervisedModel([BNNet(0)], method="posecons", teacher="mean")
    with pytest.raises(ConfigError, match=r"ema_decay must be in \[0, 1\)"):
        SemiSupervisedModel([BNNet(0)], method="posecons", teacher="ema", ema_decay=1.0)
    online = SemiSupervisedModel([BNNet(0)], method="posecons")
    assert online.ema_nets is None and online.teacher_nets()[0] is online.nets[0]
    online.update_ema(0)  # a no-op
