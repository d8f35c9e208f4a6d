"""Checkpoint reading and strict, key-mapped loading (torchvision layout, wrappers, mismatches)."""

from __future__ import annotations

import argparse
import re
import warnings
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from semipose.errors import CheckpointError, CheckpointMismatchError, UnsafeCheckpointError
from semipose.models import (
    IDENTITY,
    KEY_MAPS,
    TORCHVISION_RESNET,
    KeyMap,
    LoadReport,
    PoseResNet,
    build_pose_model,
    get_key_map,
    load_imagenet_backbone,
    load_weights,
    read_checkpoint,
    resnet18,
    resnet50,
)

# ----------------------------------------------------------------------------- torchvision table


def _bn(table: dict, prefix: str, c: int) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        table[f"{prefix}.{name}"] = (c,)
    table[f"{prefix}.num_batches_tracked"] = ()


def torchvision_resnet_table(depth: int) -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's ``resnet{depth}().state_dict()`` (ImageNet layout)."""
    bottleneck = depth >= 50
    counts = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[depth]
    t: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}
    _bn(t, "bn1", 64)
    inplanes = 64
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), counts), start=1):
        for i in range(n):
            p = f"layer{stage}.{i}"
            stride = 2 if (stage > 1 and i == 0) else 1
            if bottleneck:
                out = planes * 4
                t[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
                _bn(t, f"{p}.bn1", planes)
                t[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                _bn(t, f"{p}.bn2", planes)
                t[f"{p}.conv3.weight"] = (out, planes, 1, 1)
                _bn(t, f"{p}.bn3", out)
            else:
                out = planes
                t[f"{p}.conv1.weight"] = (planes, inplanes, 3, 3)
                _bn(t, f"{p}.bn1", planes)
                t[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                _bn(t, f"{p}.bn2", planes)
            if i == 0 and (stride != 1 or inplanes != out):
                t[f"{p}.downsample.0.weight"] = (out, inplanes, 1, 1)
                _bn(t, f"{p}.downsample.1", out)
            inplanes = out
    t["fc.weight"] = (1000, inplanes)
    t["fc.bias"] = (1000,)
    return t


def random_state(table: dict[str, tuple[int, ...]], seed: int = 0) -> OrderedDict:
    g = torch.Generator().manual_seed(seed)
    sd: OrderedDict = OrderedDict()
    for k, shape in table.items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.randint(0, 10_000, shape, generator=g, dtype=torch.long)
        elif k.endswith("running_var"):
            sd[k] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[k] = torch.randn(shape, generator=g)
    return sd


HEAD_RE = re.compile(r"^(deconv_layers|final_layer)\.")


@pytest.fixture(scope="module")
def small_pose() -> PoseResNet:
    torch.manual_seed(1)
    return PoseResNet(18, 5, deconv_filters=(32, 32, 32)).eval()


@pytest.mark.parametrize(
    "depth, n_keys, n_params, ctor",
    [(18, 122, 11_689_512, resnet18), (50, 320, 25_557_032, resnet50)],
)
def test_table_matches_torchvision_facts(depth, n_keys, n_params, ctor) -> None:
    table = torchvision_resnet_table(depth)
    assert len(table) == n_keys
    params = sum(
        torch.Size(s).numel()
        for k, s in table.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    assert params == n_params
    # our backbone has exactly the torchvision keys and shapes minus fc
    ours = {k: tuple(v.shape) for k, v in ctor().state_dict().items()}
    assert ours == {k: s for k, s in table.items() if not k.startswith("fc.")}


@pytest.mark.parametrize("depth", [18, 50])
def test_imagenet_checkpoint_loads_strictly(tmp_path: Path, depth: int) -> None:
    table = torchvision_resnet_table(depth)
    sd = random_state(table, seed=depth)
    path = tmp_path / f"resnet{depth}-torchvision.pth"
    torch.save(sd, path)

    model = build_pose_model(f"resnet{depth}", num_joints=17)
    head_before = {k: v.clone() for k, v in model.state_dict().items() if HEAD_RE.match(k)}
    report = load_imagenet_backbone(model, path)

    assert isinstance(report, LoadReport) and report.ok
    assert report.source == str(path)
    assert sorted(report.dropped) == ["fc.bias", "fc.weight"]
    assert report.missing == [] and report.unexpected == [] and report.mismatched == []
    assert set(report.loaded) == set(table) - {"fc.weight", "fc.bias"}
    assert set(report.allowed_missing) == set(head_before)
    loaded = model.state_dict()
    for k, v in sd.items():
        if not k.startswith("fc."):
            assert torch.equal(loaded[k], v), k
    for k, v in head_before.items():  # head untouched
        assert torch.equal(loaded[k], v)
    assert "loaded" in str(report) and str(path) in str(report)


def test_imagenet_backbone_still_strict_for_backbone(tmp_path: Path) -> None:
    sd = random_state(torchvision_resnet_table(18))
    del sd["layer3.1.bn2.running_mean"]
    sd["layer3.1.conv2.weight"] = torch.zeros(256, 256, 1, 1)
    path = tmp_path / "broken.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointMismatchError) as ei:
        load_imagenet_backbone(build_pose_model("resnet18", 17), path)
    msg = str(ei.value)
    assert str(path) in msg and "layer3.1.bn2.running_mean" in msg
    assert "layer3.1.conv2.weight" in msg
    assert "(256, 256, 1, 1)" in msg and "(256, 256, 3, 3)" in msg
    assert "deconv_layers" not in msg and "final_layer" not in msg


def test_missing_num_batches_tracked_is_allowed() -> None:
    """Old torchvision files have no num_batches_tracked buffers; strict loading accepts that."""
    sd = random_state(torchvision_resnet_table(18))
    sd = OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    report = load_imagenet_backbone(resnet18(), sd)
    assert report.ok and report.source == "<state_dict>"
    assert len(report.allowed_missing) == 20


# ----------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_round_trip_wrapped_module_prefix(tmp_path: Path, wrapper: str) -> None:
    torch.manual_seed(0)
    src = PoseResNet(18, 5, deconv_filters=(32, 32, 32))
    with torch.no_grad():  # make BN stats and head non-trivial
        src.train()(torch.randn(2, 3, 64, 64))
        for p in src.final_layer.parameters():
            p.normal_()
    src.eval()
    path = tmp_path / "ckpt.pth.tar"
    torch.save(
        {wrapper: {"module." + k: v for k, v in src.state_dict().items()}, "epoch": 7}, path
    )

    torch.manual_seed(123)
    dst = PoseResNet(18, 5, deconv_filters=(32, 32, 32)).eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert not torch.allclose(src(x), dst(x))
        report = load_weights(dst, path)
        assert report.ok and len(report.loaded) == len(src.state_dict())
        assert torch.equal(src(x), dst(x))


def test_read_checkpoint_unwraps_and_strips(tmp_path: Path) -> None:
    path = tmp_path / "c.pth"
    torch.save({"state_dict": {"module.a": torch.ones(2), "module.b": torch.zeros(1)}}, path)
    assert list(read_checkpoint(path)) == ["a", "b"]
    # prefix kept unless every key has it
    torch.save({"module.a": torch.ones(2), "b": torch.zeros(1)}, path)
    assert list(read_checkpoint(str(path))) == ["module.a", "b"]


def test_read_checkpoint_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        read_checkpoint(missing)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_weights(resnet18(), missing)

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CheckpointError, match="garbage.pth"):
            read_checkpoint(garbage)

    notsd = tmp_path / "notsd.pth"
    torch.save({"weights": {"a": torch.ones(1)}, "epoch": 3}, notsd)
    with pytest.raises(CheckpointError, match="notsd.pth"):
        read_checkpoint(notsd)


def test_read_checkpoint_refuses_unsafe_files_unless_trusted(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pth"
    torch.save({"state_dict": {"a": torch.ones(3)}, "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"legacy.pth: refused.*argparse.Namespace.*--trust-checkpoint"):
        read_checkpoint(path)
    with pytest.warns(UserWarning, match="trusted"):
        sd = read_checkpoint(path, trust=True)
    assert list(sd) == ["a"] and torch.equal(sd["a"], torch.ones(3))


# ----------------------------------------------------------------------------- mismatches


def _save(tmp_path: Path, name: str, sd: dict) -> Path:
    path = tmp_path / name
    torch.save(sd, path)
    return path


def test_missing_key_raises(tmp_path: Path, small_pose: PoseResNet) -> None:
    sd = dict(small_pose.state_dict())
    del sd["layer1.0.conv1.weight"]
    path = _save(tmp_path, "missing.pth", sd)
    with pytest.raises(CheckpointMismatchError) as ei:
        load_weights(small_pose, path)
    msg = str(ei.value)
    assert str(path) in msg and "layer1.0.conv1.weight" in msg and "missing" in msg
    assert ei.value.report.missing == ["layer1.0.conv1.weight"]


def test_unexpected_key_raises(tmp_path: Path, small_pose: PoseResNet) -> None:
    sd = dict(small_pose.state_dict())
    sd["layer5.0.conv1.weight"] = torch.zeros(3)
    path = _save(tmp_path, "extra.pth", sd)
    with pytest.raises(CheckpointMismatchError) as ei:
        load_weights(small_pose, path)
    msg = str(ei.value)
    assert str(path) in msg and "layer5.0.conv1.weight" in msg and "unexpected" in msg


def test_shape_mismatch_raises_and_loads_nothing(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = PoseResNet(18, 5, deconv_filters=(32, 32, 32))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sd = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in model.state_dict().items()}
    sd["final_layer.weight"] = torch.zeros(17, 32, 1, 1)
    path = _save(tmp_path, "shape.pth", sd)
    with pytest.raises(CheckpointMismatchError) as ei:
        load_weights(model, path)
    msg = str(ei.value)
    assert str(path) in msg and "final_layer.weight" in msg
    assert "(17, 32, 1, 1)" in msg and "(5, 32, 1, 1)" in msg
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # strict failure: untouched


def test_non_strict_reports_and_loads_rest(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = PoseResNet(18, 5, deconv_filters=(32, 32, 32))
    sd = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in model.state_dict().items()}
    del sd["layer1.0.conv1.weight"]
    sd["bogus.weight"] = torch.zeros(1)
    sd["final_layer.weight"] = torch.zeros(17, 32, 1, 1)
    path = _save(tmp_path, "mixed.pth", sd)

    report = load_weights(model, path, strict=False)
    assert not report.ok
    assert report.missing == ["layer1.0.conv1.weight"]
    assert report.unexpected == ["bogus.weight"]
    assert report.mismatched == [("final_layer.weight", (17, 32, 1, 1), (5, 32, 1, 1))]
    assert "final_layer.weight" not in report.loaded
    assert torch.equal(model.state_dict()["layer2.0.conv1.weight"], sd["layer2.0.conv1.weight"])
    text = str(report)
    assert "missing 1" in text and "unexpected 1" in text and "mismatched 1" in text
    detail = report.describe()
    assert "layer1.0.conv1.weight" in detail and "bogus.weight" in detail


def test_long_lists_are_truncated(small_pose: PoseResNet) -> None:
    with pytest.raises(CheckpointMismatchError) as ei:
        load_weights(small_pose, {"conv1.weight": small_pose.conv1.weight})
    msg = str(ei.value)
    n = len(ei.value.report.missing)
    assert n > 40 and f"{n} missing" in msg and f"and {n - 20} more" in msg
    assert "<state_dict>" in msg


def test_allow_missing(small_pose: PoseResNet) -> None:
    sd = {k: v for k, v in small_pose.state_dict().items() if not k.startswith("layer4.")}
    with pytest.raises(CheckpointMismatchError):
        load_weights(small_pose, sd)
    report = load_weights(small_pose, sd, allow_missing=[r"^layer4\."])
    assert report.ok and all(k.startswith("layer4.") or "num_batches" in k
                             for k in report.allowed_missing)


# ----------------------------------------------------------------------------- key maps


def test_key_map_rules_drop_and_registry(small_pose: PoseResNet) -> None:
    km = KeyMap(rules=[(r"^resnet\.", "")], drop=[r"^resnet2\.", r"^fc\."], name="pose_dual_1")
    assert km.map_key("resnet.conv1.weight") == "conv1.weight"
    assert km.map_key("resnet2.conv1.weight") is None
    assert km.map_key("other.x") == "other.x"
    sd = {}
    for k, v in small_pose.state_dict().items():
        sd["resnet." + k] = v
        sd["resnet2." + k] = v + 1 if v.is_floating_point() else v
    report = load_weights(small_pose, sd, key_map=km)
    assert report.ok and len(report.dropped) == len(report.loaded)
    assert report.origin["conv1.weight"] == "resnet.conv1.weight"

    assert get_key_map("torchvision_resnet") is TORCHVISION_RESNET
    assert get_key_map("identity") is IDENTITY and KEY_MAPS["identity"] is IDENTITY
    with pytest.raises(ValueError, match="torchvision_resnet"):
        get_key_map("nope")


def test_key_map_first_rule_wins_and_collisions() -> None:
    km = KeyMap(rules=[(r"^a\.", "x."), (r"^a\.b", "never")])
    assert km.map_key("a.b") == "x.b"
    clash = KeyMap(rules=[(r"^(net1|net2)\.", "")], name="clash")
    with pytest.raises(CheckpointError, match="clash"):
        clash.apply({"net1.w": torch.ones(1), "net2.w": torch.ones(1)})


def test_unexpected_key_message_shows_checkpoint_key() -> None:
    model = resnet18()
    sd = {"resnet." + k: v for k, v in model.state_dict().items()}
    sd["resnet.extra"] = torch.ones(1)
    with pytest.raises(CheckpointMismatchError, match=r"extra \(checkpoint key resnet\.extra\)"):
        load_weights(model, sd, key_map=KeyMap(rules=[(r"^resnet\.", "")]))
