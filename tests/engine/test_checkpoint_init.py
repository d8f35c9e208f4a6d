"""Starting a run's networks from earlier weights: semipose checkpoints and the reference
pose_cons / pose_dual files."""

from __future__ import annotations

import pytest
import torch

from semipose.errors import CheckpointError
from semipose.models import build_pose_model
from semipose.models.netweights import load_nets_weights


def _net(seed: int):
    torch.manual_seed(seed)
    return build_pose_model("resnet18", 5, deconv_filters=(16, 16, 16))


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_reference_pose_dual_file_gives_each_net_its_own(tmp_path):
    n1, n2 = _net(1), _net(2)
    ref = {}
    for prefix, net in (("resnet.", n1), ("resnet2.", n2)):
        for k, v in net.state_dict().items():
            ref["module." + prefix + k.replace("final_layer.", "final_layer_1.")] = v
    torch.save({"state_dict": ref}, tmp_path / "dual.pth")
    a, b = _net(3), _net(4)
    msg = load_nets_weights([a, b], tmp_path / "dual.pth")
    assert "pose_dual" in msg and _same(a, n1) and _same(b, n2)
    c = _net(5)
    load_nets_weights([c], tmp_path / "dual.pth")  # one network: net 1 (as the reference valid.py)
    assert _same(c, n1)


def test_pose_cons_file_and_plain_state_dict(tmp_path):
    n1 = _net(1)
    torch.save({"resnet." + k: v for k, v in n1.state_dict().items()}, tmp_path / "cons.pth")
    a, b = _net(3), _net(4)
    load_nets_weights([a, b], tmp_path / "cons.pth")  # one network initialises both
    assert _same(a, n1) and _same(b, n1)
    torch.save(n1.state_dict(), tmp_path / "plain.pth")
    c = _net(6)
    load_nets_weights([c], tmp_path / "plain.pth")
    assert _same(c, n1)
    bad = dict(n1.state_dict())
    bad.pop("final_layer.bias")
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="final_layer.bias"):
        load_nets_weights([_net(7)], tmp_path / "bad.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_nets_weights([_net(7)], tmp_path / "nope.pth")
