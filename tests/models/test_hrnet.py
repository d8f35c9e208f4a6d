"""HRNet (PoseHighResolutionNet): reference key layout, parameter counts, shapes, init, ImageNet
initialisation from a classification-HRNet checkpoint."""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from semipose.errors import CheckpointMismatchError
from semipose.models import (
    POSE_MODELS,
    HighResolutionModule,
    PoseHighResolutionNet,
    build_pose_model,
    detect_checkpoint_layout,
    hrnet_w32,
    hrnet_w48,
    load_imagenet_backbone,
    load_pose_checkpoint,
    load_weights,
)

WIDTHS = {32: (32, 64, 128, 256), 48: (48, 96, 192, 384)}

# ----------------------------------------------------------------------------- reference tables
# Key -> shape tables written from the structure of the reference ``pose_hrnet.py`` /
# ``cls_hrnet.py`` (independently of our module code), so the comparison below really checks
# that a reference checkpoint would load.


def _bn(t: dict, prefix: str, c: int) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        t[f"{prefix}.{name}"] = (c,)
    t[f"{prefix}.num_batches_tracked"] = ()


def _bottleneck(t: dict, p: str, cin: int, planes: int) -> None:
    out = planes * 4
    t[f"{p}.conv1.weight"] = (planes, cin, 1, 1)
    _bn(t, f"{p}.bn1", planes)
    t[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
    _bn(t, f"{p}.bn2", planes)
    t[f"{p}.conv3.weight"] = (out, planes, 1, 1)
    _bn(t, f"{p}.bn3", out)
    if cin != out:
        t[f"{p}.downsample.0.weight"] = (out, cin, 1, 1)
        _bn(t, f"{p}.downsample.1", out)


def hrnet_trunk_table(width: int, multi_scale_last: bool) -> dict[str, tuple[int, ...]]:
    """Reference trunk keys (stem .. stage4); ``multi_scale_last`` as in the classifier."""
    ch = WIDTHS[width]
    t: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 3, 3)}
    _bn(t, "bn1", 64)
    t["conv2.weight"] = (64, 64, 3, 3)
    _bn(t, "bn2", 64)
    for i in range(4):
        _bottleneck(t, f"layer1.{i}", 64 if i == 0 else 256, 64)
    pre = [256]
    for stage, n_mod in ((2, 1), (3, 4), (4, 3)):
        cur = list(ch[:stage])
        tr = f"transition{stage - 1}"
        for i, c in enumerate(cur):
            if i < len(pre):
                if pre[i] != c:
                    t[f"{tr}.{i}.0.weight"] = (c, pre[i], 3, 3)
                    _bn(t, f"{tr}.{i}.1", c)
            else:
                n = i + 1 - len(pre)
                for k in range(n):
                    out = c if k == n - 1 else pre[-1]
                    t[f"{tr}.{i}.{k}.0.weight"] = (out, pre[-1], 3, 3)
                    _bn(t, f"{tr}.{i}.{k}.1", out)
        for m in range(n_mod):
            p = f"stage{stage}.{m}"
            for b, c in enumerate(cur):
                for k in range(4):
                    t[f"{p}.branches.{b}.{k}.conv1.weight"] = (c, c, 3, 3)
                    _bn(t, f"{p}.branches.{b}.{k}.bn1", c)
                    t[f"{p}.branches.{b}.{k}.conv2.weight"] = (c, c, 3, 3)
                    _bn(t, f"{p}.branches.{b}.{k}.bn2", c)
            last = stage == 4 and m == n_mod - 1
            n_out = len(cur) if (multi_scale_last or not last) else 1
            for i in range(n_out):
                for j in range(len(cur)):
                    f = f"{p}.fuse_layers.{i}.{j}"
                    if j > i:
                        t[f"{f}.0.weight"] = (cur[i], cur[j], 1, 1)
                        _bn(t, f"{f}.1", cur[i])
                    elif j < i:
                        for k in range(i - j):
                            out = cur[i] if k == i - j - 1 else cur[j]
                            t[f"{f}.{k}.0.weight"] = (out, cur[j], 3, 3)
                            _bn(t, f"{f}.{k}.1", out)
        pre = cur
    return t


def pose_hrnet_table(width: int, num_joints: int = 17) -> dict[str, tuple[int, ...]]:
    """Keys of the reference ``pose_hrnet`` state_dict (e.g. ``pose_hrnet_w32_256x192.pth``)."""
    t = hrnet_trunk_table(width, multi_scale_last=False)
    t["final_layer.weight"] = (num_joints, WIDTHS[width][0], 1, 1)
    t["final_layer.bias"] = (num_joints,)
    return t


def imagenet_hrnet_table(width: int) -> dict[str, tuple[int, ...]]:
    """Keys of the ImageNet classifier ``hrnet_w{width}-*.pth`` (``cls_hrnet.py``)."""
    t = hrnet_trunk_table(width, multi_scale_last=True)
    head = (32, 64, 128, 256)
    for i, c in enumerate(WIDTHS[width]):
        _bottleneck(t, f"incre_modules.{i}.0", c, head[i])
    for i in range(3):
        cin, cout = head[i] * 4, head[i + 1] * 4
        t[f"downsamp_modules.{i}.0.weight"] = (cout, cin, 3, 3)
        t[f"downsamp_modules.{i}.0.bias"] = (cout,)
        _bn(t, f"downsamp_modules.{i}.1", cout)
    t["final_layer.0.weight"] = (2048, 1024, 1, 1)
    t["final_layer.0.bias"] = (2048,)
    _bn(t, "final_layer.1", 2048)
    t["classifier.weight"] = (1000, 2048)
    t["classifier.bias"] = (1000,)
    return t


def n_table_params(table: dict[str, tuple[int, ...]]) -> int:
    return sum(
        torch.Size(s).numel()
        for k, s in table.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )


def random_state(table: dict[str, tuple[int, ...]], seed: int = 0) -> OrderedDict:
    g = torch.Generator().manual_seed(seed)
    sd: OrderedDict = OrderedDict()
    for k, shape in table.items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.randint(0, 1000, shape, generator=g, dtype=torch.long)
        elif k.endswith("running_var"):
            sd[k] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[k] = torch.randn(shape, generator=g) * 0.05
    return sd


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared, oversubscribed CPU, multi-threaded convolutions of
    these big networks can be 10-20x slower than single-threaded ones."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def w32() -> PoseHighResolutionNet:
    torch.manual_seed(0)
    return hrnet_w32(17).eval()


@pytest.fixture(scope="module")
def w48() -> PoseHighResolutionNet:
    torch.manual_seed(0)
    return hrnet_w48(17).eval()


# ----------------------------------------------------------------------------- structure


def test_state_dict_matches_reference_pose_hrnet(w32, w48) -> None:
    for width, model in ((32, w32), (48, w48)):
        ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert ours == pose_hrnet_table(width), width
    sd = w32.state_dict()
    # spot checks of names from the brief / spec §3.2
    assert sd["stage2.0.branches.0.0.conv1.weight"].shape == (32, 32, 3, 3)
    assert sd["stage2.0.fuse_layers.0.1.0.weight"].shape == (32, 64, 1, 1)
    assert sd["stage2.0.fuse_layers.1.0.0.0.weight"].shape == (64, 32, 3, 3)
    assert sd["transition1.0.0.weight"].shape == (32, 256, 3, 3)
    assert sd["transition1.1.0.0.weight"].shape == (64, 256, 3, 3)
    assert sd["transition2.2.0.0.weight"].shape == (128, 64, 3, 3)
    assert sd["transition3.3.0.0.weight"].shape == (256, 128, 3, 3)
    assert sd["final_layer.weight"].shape == (17, 32, 1, 1) and "final_layer.bias" in sd
    assert not any(re.match(r"transition2\.[01]\.|transition3\.[012]\.", k) for k in sd)
    assert [len(w32.stage2), len(w32.stage3), len(w32.stage4)] == [1, 4, 3]
    assert len(w32.stage4[2].fuse_layers) == 1 and len(w32.stage4[1].fuse_layers) == 4


def test_param_counts_match_published_figures(w32, w48) -> None:
    # HRNet paper / mmpose: pose W32 256x192 28.5M, W48 63.6M (17 joints)
    assert n_params(w32) == n_table_params(pose_hrnet_table(32)) == 28_536_113
    assert n_params(w48) == n_table_params(pose_hrnet_table(48)) == 63_595_745
    assert round(n_params(w32) / 1e6, 1) == 28.5 and round(n_params(w48) / 1e6, 1) == 63.6
    # the ImageNet classifier tables give the published HRNet-W32-C 41.2M / W48-C 77.5M
    assert round(n_table_params(imagenet_hrnet_table(32)) / 1e6, 1) == 41.2
    assert round(n_table_params(imagenet_hrnet_table(48)) / 1e6, 1) == 77.5


def test_init_matches_reference(w32) -> None:
    convs = [m for m in w32.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) > 100
    w = torch.cat([m.weight.flatten() for m in convs])
    assert abs(w.std().item() - 0.001) < 0.0001 and abs(w.mean().item()) < 1e-4
    assert torch.all(w32.final_layer.bias == 0)
    for m in w32.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
            assert m.momentum == 0.1


# ----------------------------------------------------------------------------- forward


@pytest.mark.parametrize("hw", [(256, 192), (256, 256), (384, 288)])
def test_w32_output_sizes(w32, hw) -> None:
    with torch.no_grad():
        y = w32(torch.randn(1, 3, *hw))
    assert y.shape == (1, 17, hw[0] // 4, hw[1] // 4)


def test_w48_384x288_and_small_inputs(w48) -> None:
    with torch.no_grad():
        assert w48(torch.randn(1, 3, 384, 288)).shape == (1, 17, 96, 72)
        assert w48(torch.randn(2, 3, 64, 32)).shape == (2, 17, 16, 8)
        feats = w48.forward_features(torch.randn(1, 3, 32, 32))
    assert feats.shape == (1, 48, 8, 8)
    assert w48.output_stride == 4 and w48.out_channels == 48


def test_narrow_variant_and_final_kernel() -> None:
    m = PoseHighResolutionNet(5, channels=(8, 16, 32, 64), num_modules=(1, 1, 2), num_blocks=1,
                              stem_blocks=1, final_kernel=3).eval()
    with torch.no_grad():
        assert m(torch.randn(2, 3, 96, 64)).shape == (2, 5, 24, 16)
    sd = m.state_dict()
    assert sd["final_layer.weight"].shape == (5, 8, 3, 3)
    assert "stage4.1.fuse_layers.0.3.0.weight" in sd and "stage4.1.fuse_layers.1.0.0.0.weight" \
        not in sd and "stage4.0.fuse_layers.3.0.2.0.weight" in sd
    assert "layer1.1.conv1.weight" not in sd


def test_high_resolution_module_fusion() -> None:
    mod = HighResolutionModule((4, 8, 16), (1, 1, 1)).eval()
    xs = [torch.randn(1, 4, 16, 16), torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)]
    with torch.no_grad():
        ys = mod(list(xs))
    assert [tuple(y.shape) for y in ys] == [(1, 4, 16, 16), (1, 8, 8, 8), (1, 16, 4, 4)]
    assert all(torch.all(y >= 0) for y in ys)  # ReLU after the sum
    single = HighResolutionModule((4, 8, 16), (1, 1, 1), multi_scale_output=False).eval()
    with torch.no_grad():
        assert len(single(list(xs))) == 1
    with pytest.raises(ValueError, match="branch inputs"):
        mod(xs[:2])
    with pytest.raises(ValueError, match="block count"):
        HighResolutionModule((4, 8), (1,))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_joints"):
        PoseHighResolutionNet(0)
    with pytest.raises(ValueError, match="final_kernel"):
        PoseHighResolutionNet(17, final_kernel=5)
    with pytest.raises(ValueError, match="channels"):
        PoseHighResolutionNet(17, channels=(32, 64, 128))
    with pytest.raises(ValueError, match="num_modules"):
        PoseHighResolutionNet(17, num_modules=(1, 4))


# ----------------------------------------------------------------------------- registry


def test_build_pose_model_hrnet_like_build_model() -> None:
    assert {"hrnet_w32", "hrnet_w48"} <= set(POSE_MODELS)
    # engine.build.build_model always passes the deconv arguments: accepted and ignored
    m = build_pose_model(
        "hrnet_w32", 17, num_deconv_layers=3, deconv_filters=(256, 256, 256),
        deconv_kernels=(4, 4, 4), final_kernel=1,
    )
    assert isinstance(m, PoseHighResolutionNet) and m.channels == (32, 64, 128, 256)
    m3 = build_pose_model("hrnet_w48", 14, final_kernel=3)
    assert m3.state_dict()["final_layer.weight"].shape == (14, 48, 3, 3)
    with pytest.raises(ValueError, match="stride 4"):
        build_pose_model("hrnet_w32", 17, num_deconv_layers=2, deconv_filters=(256, 256),
                         deconv_kernels=(4, 4))
    with pytest.raises(ValueError, match="hrnet_w32"):
        build_pose_model("hrnet_w33", 17)


# ----------------------------------------------------------------------------- checkpoints


def test_imagenet_hrnet_checkpoint_initialises_backbone(tmp_path: Path, w32) -> None:
    table = imagenet_hrnet_table(32)
    sd = random_state(table, seed=3)
    path = tmp_path / "hrnet_w32-36af842e.pth"
    torch.save(sd, path)
    assert detect_checkpoint_layout(path) == "hrnet_imagenet"

    torch.manual_seed(1)
    model = hrnet_w32(17)
    head = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("final_layer.")}
    report = load_imagenet_backbone(model, path)
    assert report.ok and report.key_map == "hrnet_imagenet"
    assert set(report.allowed_missing) == set(head)  # the pose head stays random
    assert set(report.loaded) == set(pose_hrnet_table(32)) - set(head)
    dropped = set(report.dropped)
    assert {"classifier.weight", "final_layer.0.weight", "final_layer.1.running_var",
            "incre_modules.3.0.downsample.0.weight", "downsamp_modules.2.0.bias"} <= dropped
    assert any(k.startswith("stage4.2.fuse_layers.3.") for k in dropped)
    assert not any(k.startswith("stage4.1.fuse_layers.") for k in dropped)
    assert len(report.dropped) + len(report.loaded) == len(table)
    new = model.state_dict()
    for k in report.loaded:
        assert torch.equal(new[k], sd[k]), k
    for k, v in head.items():
        assert torch.equal(new[k], v)


def test_imagenet_hrnet_still_strict_on_backbone() -> None:
    sd = random_state(imagenet_hrnet_table(32))
    del sd["stage3.2.branches.1.3.bn2.running_mean"]
    sd["transition2.2.0.0.weight"] = torch.zeros(128, 64, 1, 1)
    with pytest.raises(CheckpointMismatchError) as ei:
        load_imagenet_backbone(hrnet_w32(17), sd, name="hrnet_w32-36af842e.pth")
    msg = str(ei.value)
    assert "hrnet_w32-36af842e.pth" in msg and "stage3.2.branches.1.3.bn2.running_mean" in msg
    assert "transition2.2.0.0.weight" in msg and "(128, 64, 1, 1)" in msg
    assert "final_layer" not in msg
    # a W48 file into a W32 model: every width differs
    with pytest.raises(CheckpointMismatchError, match="shape mismatches"):
        load_imagenet_backbone(hrnet_w32(17), random_state(imagenet_hrnet_table(48)))


def test_reference_pose_hrnet_checkpoint_round_trip(tmp_path: Path, w32) -> None:
    table = pose_hrnet_table(32)
    sd = random_state(table, seed=7)
    path = tmp_path / "pose_hrnet_w32_256x192.pth"
    torch.save({"state_dict": OrderedDict(("module." + k, v) for k, v in sd.items())}, path)
    assert detect_checkpoint_layout(path) == "pose_hrnet"
    model = hrnet_w32(17).eval()
    (report,) = load_pose_checkpoint(model, path)
    assert report.ok and report.key_map == "pose_hrnet" and len(report.loaded) == len(table)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    ref = hrnet_w32(17).eval()
    ref.load_state_dict(sd, strict=True)  # what torch itself does with the reference file
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    # strict: a 24-joint checkpoint does not fit a 17-joint model
    with pytest.raises(CheckpointMismatchError, match="final_layer.weight"):
        load_weights(model, random_state(pose_hrnet_table(32, num_joints=24)))
