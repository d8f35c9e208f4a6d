"""Reference checkpoint layouts (pose_resnet / pose_hrnet / pose_cons / pose_dual and the
PoseDual ImageNet initialisation file): detection, strict loading, round trips that keep the
network outputs identical, and clear errors.

Reference files are built in the test from our own models' keys renamed to the reference
names (spec §3.1-3.3): ``resnet.`` for PoseCons, ``resnet.`` / ``resnet2.`` for PoseDual, whose
PoseResNet head conv is called ``final_layer_1`` (the HRNet one stays ``final_layer``).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from semipose.errors import CheckpointError, CheckpointMismatchError
from semipose.models import (
    KEY_MAPS,
    LAYOUTS,
    POSE_LAYOUT_KEY_MAPS,
    TORCHVISION_RESNET,
    PoseHighResolutionNet,
    PoseResNet,
    detect_checkpoint_layout,
    get_key_map,
    hrnet_w32,
    load_dual_imagenet_backbones,
    load_imagenet_backbone,
    load_pose_checkpoint,
    prefixed_key_map,
)

State = "OrderedDict[str, torch.Tensor]"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Single-threaded convs: robust timings on a shared, oversubscribed CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _randomize(model: nn.Module, seed: int) -> nn.Module:
    """Give every parameter and BN buffer distinct, non-trivial values."""
    g = torch.Generator().manual_seed(seed)
    new = OrderedDict()
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            new[k] = torch.randint(0, 1000, v.shape, generator=g, dtype=v.dtype)
        elif k.endswith("running_var"):
            new[k] = torch.rand(v.shape, generator=g) + 0.5
        else:
            new[k] = torch.randn(v.shape, generator=g) * 0.05
    model.load_state_dict(new)
    return model.eval()


BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "resnet": lambda: PoseResNet(18, 5, deconv_filters=(32, 32, 32)),
    "hrnet": lambda: hrnet_w32(5),
}


class Nets:
    """Per architecture: two sources with different weights, their outputs on ``X``, two
    reusable destinations and a fresh (never loaded) template."""

    def __init__(self, build: Callable[[], nn.Module], seed: int) -> None:
        torch.manual_seed(seed)
        self.template = build().eval()
        self.src1 = _randomize(copy.deepcopy(self.template), 10 + seed)
        self.src2 = _randomize(copy.deepcopy(self.template), 20 + seed)
        self.out1, self.out2 = _out(self.src1), _out(self.src2)
        self.dst1 = copy.deepcopy(self.template)
        self.dst2 = copy.deepcopy(self.template)

    def scrubbed(self) -> tuple[nn.Module, nn.Module]:
        """The destinations with every parameter and buffer zeroed (cheaper than new models),
        so a successful load is visible in the outputs."""
        for m in (self.dst1, self.dst2):
            with torch.no_grad():
                for t in m.state_dict().values():
                    t.zero_()
        return self.dst1, self.dst2


X = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def _out(model: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(X)


@pytest.fixture(scope="module")
def nets() -> dict[str, Nets]:
    return {arch: Nets(build, i) for i, (arch, build) in enumerate(BUILDERS.items())}


# ----------------------------------------------------------------------------- reference files


def reference_state(arch: str, layout: str, sd1: State, sd2: State | None = None) -> State:
    """A state_dict in the reference layout: bare, ``resnet.`` (pose_cons) or pose_dual."""
    if layout == "single":
        return OrderedDict(sd1)
    if layout == "pose_cons":
        return OrderedDict(("resnet." + k, v) for k, v in sd1.items())
    assert layout == "pose_dual" and sd2 is not None
    head = "final_layer_1." if arch == "resnet" else "final_layer."

    def rename(k: str) -> str:
        return head + k[len("final_layer."):] if k.startswith("final_layer.") else k

    out = OrderedDict(("resnet." + rename(k), v) for k, v in sd1.items())
    out.update(("resnet2." + rename(k), v) for k, v in sd2.items())
    return out


def wrap(state: State, how: str) -> object:
    if how == "bare":
        return state
    if how == "module":
        return OrderedDict(("module." + k, v) for k, v in state.items())
    if how == "state_dict":
        return {"state_dict": state, "epoch": 3, "perf": 0.5}
    assert how == "state_dict+module"
    return {"state_dict": wrap(state, "module"), "epoch": 3, "model": "pose_dual"}


EXPECTED_LAYOUT = {
    ("resnet", "single"): "pose_resnet",
    ("hrnet", "single"): "pose_hrnet",
    ("resnet", "pose_cons"): "pose_cons",
    ("hrnet", "pose_cons"): "pose_cons",
    ("resnet", "pose_dual"): "pose_dual",
    ("hrnet", "pose_dual"): "pose_dual",
}


@pytest.mark.parametrize("how", ["bare", "state_dict", "module", "state_dict+module"])
@pytest.mark.parametrize("layout", ["single", "pose_cons", "pose_dual"])
@pytest.mark.parametrize("arch", ["resnet", "hrnet"])
def test_round_trip_each_layout(nets, arch: str, layout: str, how: str) -> None:
    n = nets[arch]
    raw = wrap(reference_state(arch, layout, n.src1.state_dict(), n.src2.state_dict()), how)
    found = detect_checkpoint_layout(raw)
    assert found == EXPECTED_LAYOUT[(arch, layout)]

    dst1, dst2 = n.scrubbed()
    assert not torch.equal(_out(dst1), n.out1)
    if layout == "pose_dual":
        reports = load_pose_checkpoint([dst1, dst2], raw)
        assert [r.key_map for r in reports] == ["pose_dual_net1", "pose_dual_net2"]
        assert all(r.ok and len(r.loaded) == len(n.src1.state_dict()) for r in reports)
        assert torch.equal(_out(dst1), n.out1)
        assert torch.equal(_out(dst2), n.out2)  # each net gets its own weights
        assert not torch.equal(n.out1, n.out2)
    else:
        (report,) = load_pose_checkpoint(dst1, raw)
        assert report.ok and report.key_map == found
        assert torch.equal(_out(dst1), n.out1)
        with pytest.raises(CheckpointError, match="network 2") as ei:
            load_pose_checkpoint([dst1, dst2], raw)
        assert found in str(ei.value) and "network 1 only" in str(ei.value)


def test_pose_dual_file_on_disk(tmp_path: Path, nets) -> None:
    """Read from a file (train.py ``checkpoint.pth.tar`` style: DataParallel ``module.`` inside
    a ``state_dict`` wrapper). ResNet only: the file path is architecture-independent, and a
    real HRNet-W32 file is read in test_hrnet.py."""
    n = nets["resnet"]
    path = tmp_path / "checkpoint.pth.tar"
    torch.save(wrap(reference_state("resnet", "pose_dual", n.src1.state_dict(),
                                    n.src2.state_dict()), "state_dict+module"), path)
    assert detect_checkpoint_layout(path) == "pose_dual"
    dst1, dst2 = n.scrubbed()
    r1, r2 = load_pose_checkpoint([dst1, dst2], path)
    assert r1.source == r2.source == str(path)
    assert r1.origin["final_layer.weight"] == "resnet.final_layer_1.weight"
    assert r2.origin["final_layer.bias"] == "resnet2.final_layer_1.bias"
    assert torch.equal(_out(dst1), n.out1) and torch.equal(_out(dst2), n.out2)
    # like valid.py: a single model gets net 1 by default; nets=2 picks the second network
    single, _ = n.scrubbed()
    load_pose_checkpoint(single, path)
    assert torch.equal(_out(single), n.out1)
    load_pose_checkpoint(single, path, nets=2)
    assert torch.equal(_out(single), n.out2)
    # and the order can be swapped
    dst1, dst2 = n.scrubbed()
    load_pose_checkpoint([dst1, dst2], path, nets=[2, 1])
    assert torch.equal(_out(dst1), n.out2) and torch.equal(_out(dst2), n.out1)


def test_pose_dual_resnet_head_under_either_name(nets) -> None:
    """A PoseResNet head saved as ``final_layer`` (not ``final_layer_1``) is also accepted."""
    n = nets["resnet"]
    state = OrderedDict(("resnet." + k, v) for k, v in n.src1.state_dict().items())
    state.update(("resnet2." + k, v) for k, v in n.src2.state_dict().items())
    dst, _ = n.scrubbed()
    load_pose_checkpoint(dst, state, nets=2)
    assert torch.equal(_out(dst), n.out2)
    both = OrderedDict(state)
    both["resnet2.final_layer_1.weight"] = state["resnet2.final_layer.weight"]
    with pytest.raises(CheckpointError, match="maps both"):
        load_pose_checkpoint(dst, both, nets=2)


# ----------------------------------------------------------------------------- wrong files


@pytest.mark.parametrize("arch", ["resnet", "hrnet"])
def test_mismatches_name_the_keys(nets, arch: str) -> None:
    n = nets[arch]
    src1 = n.src1
    good = reference_state(arch, "pose_dual", src1.state_dict(), n.src2.state_dict())
    dst1, dst2 = n.scrubbed()
    before = _out(dst2)
    victim = "layer1.0.conv1.weight" if arch == "resnet" else "stage3.1.branches.2.0.conv1.weight"
    head = "final_layer_1" if arch == "resnet" else "final_layer"

    missing = OrderedDict(good)
    del missing["resnet2." + victim]
    with pytest.raises(CheckpointMismatchError) as ei:
        load_pose_checkpoint([dst1, dst2], missing, name="dual.pth")
    msg = str(ei.value)
    assert "dual.pth" in msg and "1 missing" in msg and victim in msg
    assert ei.value.report.missing == [victim] and ei.value.report.key_map == "pose_dual_net2"
    assert torch.equal(_out(dst2), before)  # strict failure leaves net 2 untouched

    extra = OrderedDict(good)
    extra["resnet2.extra_head.weight"] = torch.ones(3)
    with pytest.raises(CheckpointMismatchError,
                       match=r"extra_head\.weight \(checkpoint key resnet2\.extra_head\.weight\)"):
        load_pose_checkpoint([dst1, dst2], extra)

    shape = OrderedDict(good)
    c = src1.final_layer.weight.shape[1]
    shape[f"resnet2.{head}.weight"] = torch.zeros(24, c, 1, 1)
    with pytest.raises(CheckpointMismatchError) as ei:
        load_pose_checkpoint([dst1, dst2], shape)
    msg = str(ei.value)
    assert f"final_layer.weight (checkpoint key resnet2.{head}.weight)" in msg
    assert f"(24, {c}, 1, 1)" in msg and f"(5, {c}, 1, 1)" in msg

    # a single-net (pose_cons) file is strict too: a key that is not under resnet.
    cons = reference_state(arch, "pose_cons", src1.state_dict())
    cons["stray.weight"] = torch.ones(1)
    with pytest.raises(CheckpointMismatchError, match="stray.weight"):
        load_pose_checkpoint(dst1, cons)


def test_cross_architecture_file_fails(nets) -> None:
    with pytest.raises(CheckpointMismatchError) as ei:
        load_pose_checkpoint(nets["hrnet"].dst1, nets["resnet"].src1.state_dict(), name="r18.pth")
    msg, report = str(ei.value), ei.value.report
    assert "r18.pth" in msg and "PoseHighResolutionNet" in msg and "key map 'pose_resnet'" in msg
    assert "missing keys" in msg and "unexpected keys" in msg and "shape mismatches" in msg
    assert "stage2.0.branches.0.0.conv1.weight" in report.missing
    assert "deconv_layers.0.weight" in report.unexpected


def test_loader_argument_errors(nets) -> None:
    template = nets["resnet"].template
    sd = nets["resnet"].src1.state_dict()
    with pytest.raises(ValueError, match="2 indices for 1 models"):
        load_pose_checkpoint(copy.deepcopy(template), sd, nets=[1, 2])
    with pytest.raises(CheckpointError, match="unknown pose checkpoint layout"):
        load_pose_checkpoint(copy.deepcopy(template), sd, layout="pose_quad")
    imagenet = OrderedDict((k, v) for k, v in sd.items() if not k.startswith(("deconv", "final")))
    imagenet["fc.weight"] = torch.zeros(1000, 512)
    with pytest.raises(CheckpointError, match="load_imagenet_backbone"):
        load_pose_checkpoint(copy.deepcopy(template), imagenet)
    with pytest.raises(CheckpointError, match="cannot tell the checkpoint layout"):
        detect_checkpoint_layout({"foo.weight": torch.ones(1)})
    with pytest.raises(CheckpointError, match="load_pose_checkpoint"):
        load_dual_imagenet_backbones([copy.deepcopy(template)] * 2, sd)
    with pytest.raises(ValueError, match="two models"):
        load_dual_imagenet_backbones([template], imagenet)
    dual = {**{"resnet." + k: v for k, v in imagenet.items()},
            **{"resnet2." + k: v for k, v in imagenet.items()}}
    with pytest.raises(CheckpointError, match="load_dual_imagenet_backbones"):
        load_imagenet_backbone(template, dual, name="posedual_init.pth")


def test_detect_imagenet_layouts(nets) -> None:
    r_src, h_src = nets["resnet"].src1, nets["hrnet"].src1
    tv = {k: v for k, v in r_src.state_dict().items() if not k.startswith(("deconv", "final"))}
    assert detect_checkpoint_layout(tv) == "torchvision_resnet"
    hr = {k: v for k, v in h_src.state_dict().items() if not k.startswith("final_layer")}
    hr["classifier.weight"] = torch.zeros(1000, 2048)
    hr["final_layer.0.weight"] = torch.zeros(2048, 1024, 1, 1)
    assert detect_checkpoint_layout(hr) == "hrnet_imagenet"
    dual = {**{"resnet." + k: v for k, v in tv.items()},
            **{"resnet2." + k: v for k, v in tv.items()}}
    assert detect_checkpoint_layout({"state_dict": dual}) == "pose_dual_imagenet"
    assert set(LAYOUTS) == {
        "torchvision_resnet", "hrnet_imagenet", "pose_resnet", "pose_hrnet", "pose_cons",
        "pose_dual", "pose_dual_imagenet", "pose_triple",
    }


def test_key_map_registry() -> None:
    for name in ("pose_resnet", "pose_hrnet", "pose_cons", "pose_dual_net1", "pose_dual_net2",
                 "hrnet_imagenet", "torchvision_resnet"):
        assert get_key_map(name).name == name and KEY_MAPS[name] is get_key_map(name)
    assert [m.name for m in POSE_LAYOUT_KEY_MAPS["pose_dual"]] == ["pose_dual_net1",
                                                                 "pose_dual_net2"]
    n1, n2 = POSE_LAYOUT_KEY_MAPS["pose_dual"]
    assert n1.map_key("resnet.final_layer_1.weight") == "final_layer.weight"
    assert n1.map_key("resnet.layer1.0.conv1.weight") == "layer1.0.conv1.weight"
    assert n1.map_key("resnet2.conv1.weight") is None
    assert n2.map_key("resnet2.final_layer_1.bias") == "final_layer.bias"
    assert n2.map_key("resnet2.stage2.0.fuse_layers.0.1.0.weight") == \
        "stage2.0.fuse_layers.0.1.0.weight"
    assert n2.map_key("resnet.conv1.weight") is None
    assert KEY_MAPS["pose_cons"].map_key("resnet.final_layer.weight") == "final_layer.weight"
    hr = KEY_MAPS["hrnet_imagenet"]
    assert hr.map_key("stage4.2.fuse_layers.1.0.0.0.weight") is None
    assert hr.map_key("stage4.2.fuse_layers.0.1.0.weight") == "stage4.2.fuse_layers.0.1.0.weight"
    assert hr.map_key("stage4.1.fuse_layers.3.0.0.0.weight") is not None
    km = prefixed_key_map(TORCHVISION_RESNET, "resnet2.")
    assert km.map_key("resnet2.fc.bias") is None and km.map_key("resnet.conv1.weight") is None
    assert km.map_key("resnet2.layer4.1.bn2.bias") == "layer4.1.bn2.bias"


# ----------------------------------------------------------------------------- PoseDual init file


def _imagenet_like(src: nn.Module) -> State:
    """An ImageNet-layout state holding ``src``'s backbone (plus classifier keys)."""
    if isinstance(src, PoseHighResolutionNet):
        sd = OrderedDict((k, v) for k, v in src.state_dict().items()
                         if not k.startswith("final_layer."))
        sd["stage4.2.fuse_layers.1.0.0.0.weight"] = torch.zeros(64, 32, 3, 3)
        sd["incre_modules.0.0.conv1.weight"] = torch.zeros(32, 32, 1, 1)
        sd["downsamp_modules.0.0.bias"] = torch.zeros(256)
        sd["final_layer.0.weight"] = torch.zeros(2048, 1024, 1, 1)
        sd["classifier.weight"] = torch.zeros(1000, 2048)
    else:
        sd = OrderedDict((k, v) for k, v in src.state_dict().items()
                         if not k.startswith(("deconv_layers.", "final_layer.")))
        sd["fc.weight"] = torch.zeros(1000, 512)
        sd["fc.bias"] = torch.zeros(1000)
    return sd


def _heads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()
            if k.startswith(("deconv_layers.", "final_layer."))}


@pytest.mark.parametrize("arch", ["resnet", "hrnet"])
def test_pose_dual_init_file_gives_two_backbones(tmp_path: Path, nets, arch: str) -> None:
    n = nets[arch]
    a, b = _imagenet_like(n.src1), _imagenet_like(n.src2)
    state = OrderedDict(("resnet." + k, v) for k, v in a.items())
    state.update(("resnet2." + k, v) for k, v in b.items())
    if arch == "resnet":
        # head keys in the file are not used: heads keep their initialisation (a complete
        # net-2 head would make it a pose_dual checkpoint, for load_pose_checkpoint)
        state["resnet2.deconv_layers.0.weight"] = torch.ones(512, 32, 4, 4)
        path = tmp_path / "resnet18_5c_gluon_posedual.pth"
        torch.save(state, path)
        source: object = path
        assert detect_checkpoint_layout(path) == "pose_dual_imagenet"
    else:  # in memory: saving two HRNet-W32 copies is slow and tests nothing more
        source = state
        assert detect_checkpoint_layout(state) == "pose_dual_imagenet"

    net1, net2 = n.scrubbed()
    heads = [_heads(net1), _heads(net2)]
    r1, r2 = load_dual_imagenet_backbones([net1, net2], source)  # type: ignore[arg-type]
    assert r1.ok and r2.ok
    assert r1.source == (str(source) if arch == "resnet" else "<state_dict>")
    assert "resnet2.conv1.weight" in r1.dropped and "resnet.conv1.weight" in r2.dropped
    if arch == "resnet":
        assert {"resnet.fc.weight", "resnet2.fc.bias", "resnet2.deconv_layers.0.weight"} <= \
            set(r1.dropped) & set(r2.dropped)
    else:
        assert {"resnet2.classifier.weight", "resnet2.stage4.2.fuse_layers.1.0.0.0.weight",
                "resnet2.final_layer.0.weight"} <= set(r2.dropped)
    for net, src, head, rep in ((net1, a, heads[0], r1), (net2, b, heads[1], r2)):
        sd = net.state_dict()
        assert set(rep.allowed_missing) == set(head)
        for k in rep.loaded:
            assert torch.equal(sd[k], src[k]), k
        assert len(rep.loaded) == len(sd) - len(head)
        for k, v in head.items():
            assert torch.equal(sd[k], v), k
    assert not torch.equal(net1.state_dict()["conv1.weight"], net2.state_dict()["conv1.weight"])

    # strict on each backbone: a missing net-2 key is named
    del state["resnet2.conv1.weight"]
    with pytest.raises(CheckpointMismatchError) as ei:
        load_dual_imagenet_backbones([net1, net2], state, name="posedual_init.pth")
    assert "posedual_init.pth" in str(ei.value) and "conv1.weight" in str(ei.value)
    assert ei.value.report.missing == ["conv1.weight"]


@pytest.mark.parametrize("arch", ["resnet", "hrnet"])
def test_plain_imagenet_file_initialises_both_nets_alike(nets, arch: str) -> None:
    n = nets[arch]
    a = _imagenet_like(n.src1)
    net1, net2 = n.scrubbed()
    r1, r2 = load_dual_imagenet_backbones([net1, net2], a)
    assert r1.ok and r2.ok
    assert r1.key_map == ("hrnet_imagenet" if arch == "hrnet" else "torchvision_resnet")
    s1, s2 = net1.state_dict(), net2.state_dict()
    assert all(torch.equal(s1[k], s2[k]) and torch.equal(s1[k], a[k]) for k in r1.loaded)
    # the single-model path picks the same key map by model type
    single = load_imagenet_backbone(net1, a)
    assert single.ok and single.key_map == r1.key_map and single.dropped == r1.dropped


@pytest.mark.parametrize("arch", ["resnet", "hrnet"])
def test_sspcm_three_network_layout(nets, arch: str) -> None:
    """SSPCM's MyPoseTriple: resnet. / resnet2. / final_resnet.; each network gets its own
    weights (the third one here is network 1's again, under final_resnet.)."""
    n = nets[arch]
    dual = reference_state(arch, "pose_dual", n.src1.state_dict(), n.src2.state_dict())
    triple = OrderedDict(dual)
    triple.update(("final_resnet." + k[len("resnet."):], v) for k, v in dual.items() if k.startswith("resnet."))
    raw = wrap(triple, "state_dict+module")
    assert detect_checkpoint_layout(raw) == "pose_triple"
    dst1, dst2 = n.scrubbed()
    dst3, _ = n.scrubbed()
    reports = load_pose_checkpoint([dst1, dst2, dst3], raw)
    assert [r.key_map for r in reports] == ["pose_triple_resnet", "pose_triple_resnet2", "pose_triple_final_resnet"]
    assert all(r.ok for r in reports)
    assert torch.equal(_out(dst1), n.out1) and torch.equal(_out(dst2), n.out2) and torch.equal(_out(dst3), n.out1)
    with pytest.raises(CheckpointError, match="networks 1..3"):
        load_pose_checkpoint(dst1, raw, nets=4)
