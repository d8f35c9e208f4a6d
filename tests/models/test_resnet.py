"""ResNet backbones and the SimpleBaseline PoseResNet: structure, key names, shapes, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semipose.models import (
    POSE_MODELS,
    PoseResNet,
    ResNet,
    build_pose_model,
    resnet10,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from semipose.models.resnet import BasicBlock, Bottleneck


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def pose_r18() -> PoseResNet:
    torch.manual_seed(0)
    return build_pose_model("resnet18", num_joints=17).eval()


@pytest.fixture(scope="module")
def pose_r50() -> PoseResNet:
    torch.manual_seed(0)
    return build_pose_model("resnet50", num_joints=17).eval()


# ----------------------------------------------------------------------------- backbones


@pytest.mark.parametrize(
    "ctor, expected, out_ch",
    [
        # torchvision totals minus fc (512*1000+1000 / 2048*1000+1000)
        (resnet18, 11_689_512 - 513_000, 512),
        (resnet34, 21_797_672 - 513_000, 512),
        (resnet50, 25_557_032 - 2_049_000, 2048),
        (resnet101, 44_549_160 - 2_049_000, 2048),
        (resnet152, 60_192_808 - 2_049_000, 2048),
    ],
)
def test_backbone_param_counts(ctor, expected, out_ch) -> None:
    m = ctor()
    assert n_params(m) == expected
    assert m.out_channels == out_ch
    assert not any(k.startswith(("fc.", "avgpool")) for k in m.state_dict())


def test_named_counts_from_brief() -> None:
    assert n_params(resnet18()) == 11_176_512
    assert n_params(resnet10()) == 4_905_792  # the demo's trunk: one BasicBlock a stage
    assert n_params(resnet50()) == 23_508_032


def test_resnet_forward_features_stride32() -> None:
    m = ResNet(BasicBlock, [1, 1, 1, 1]).eval()
    with torch.no_grad():
        y = m.forward_features(torch.randn(2, 3, 64, 96))
    assert y.shape == (2, 512, 2, 3)
    assert m.out_channels == 512


def test_bottleneck_v15_stride_on_3x3() -> None:
    m = resnet50()
    blk = m.layer2[0]
    assert isinstance(blk, Bottleneck)
    assert blk.conv1.stride == (1, 1)
    assert blk.conv2.stride == (2, 2)
    assert blk.downsample[0].stride == (2, 2)
    assert m.conv1.kernel_size == (7, 7) and m.conv1.stride == (2, 2) and m.conv1.bias is None
    assert m.bn1.momentum == 0.1


def test_backbone_init() -> None:
    torch.manual_seed(0)
    m = resnet18()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            assert torch.all(mod.weight == 1) and torch.all(mod.bias == 0)
    # kaiming normal, fan_out, relu: std = sqrt(2 / (out * k * k))
    w = m.layer3[0].conv1.weight
    std = (2.0 / (256 * 9)) ** 0.5
    assert abs(w.std().item() - std) / std < 0.05


def test_resnet_bad_arguments() -> None:
    with pytest.raises(ValueError, match="layers"):
        ResNet(BasicBlock, [2, 2, 2])
    with pytest.raises(ValueError, match="block"):
        ResNet(nn.Conv2d, [2, 2, 2, 2])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- PoseResNet


def test_pose_r18_output_shapes(pose_r18: PoseResNet) -> None:
    with torch.no_grad():
        assert pose_r18(torch.randn(1, 3, 256, 192)).shape == (1, 17, 64, 48)
        assert pose_r18(torch.randn(2, 3, 128, 96)).shape == (2, 17, 32, 24)
    assert pose_r18.output_stride == 4


def test_pose_r50_small_forward(pose_r50: PoseResNet) -> None:
    with torch.no_grad():
        assert pose_r50(torch.randn(1, 3, 64, 32)).shape == (1, 17, 16, 8)


def test_reference_head_keys(pose_r18: PoseResNet, pose_r50: PoseResNet) -> None:
    for model, c in ((pose_r18, 512), (pose_r50, 2048)):
        sd = model.state_dict()
        assert sd["deconv_layers.0.weight"].shape == (c, 256, 4, 4)
        assert sd["deconv_layers.3.weight"].shape == (256, 256, 4, 4)
        assert sd["deconv_layers.6.weight"].shape == (256, 256, 4, 4)
        for i in (1, 4, 7):
            for suffix in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                assert f"deconv_layers.{i}.{suffix}" in sd
        assert "deconv_layers.0.bias" not in sd  # deconv_bias=False by default
        assert sd["final_layer.weight"].shape == (17, 256, 1, 1)
        assert sd["final_layer.bias"].shape == (17,)
        # backbone keys at top level, torchvision-style
        assert "conv1.weight" in sd and "layer1.0.conv1.weight" in sd
        assert "layer2.0.downsample.0.weight" in sd and "layer2.0.downsample.1.running_var" in sd
        head = {k for k in sd if k.startswith(("deconv_layers.", "final_layer."))}
        assert len(head) == 3 + 3 * 5 + 2


def test_pose_param_counts(pose_r18: PoseResNet, pose_r50: PoseResNet) -> None:
    head = lambda c: c * 256 * 16 + 2 * 256 * 256 * 16 + 3 * 2 * 256 + 17 * 256 + 17  # noqa: E731
    assert n_params(pose_r18) == 11_176_512 + head(512)
    assert n_params(pose_r50) == 23_508_032 + head(2048)
    # SimpleBaseline ResNet-50 256x192 is commonly quoted at ~34.0M parameters
    assert abs(n_params(pose_r50) / 1e6 - 34.0) < 0.1


def test_head_init(pose_r18: PoseResNet) -> None:
    w = pose_r18.final_layer.weight
    assert torch.all(pose_r18.final_layer.bias == 0)
    assert 0.0005 < w.std().item() < 0.002
    assert 0.0005 < pose_r18.deconv_layers[0].weight.std().item() < 0.002
    assert torch.all(pose_r18.deconv_layers[1].weight == 1)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_deconv_kernels_double_resolution(k: int) -> None:
    m = PoseResNet(
        18, 5, num_deconv_layers=2, deconv_filters=(32, 16), deconv_kernels=(k, k),
        deconv_bias=True, final_kernel=3,
    ).eval()
    with torch.no_grad():
        y = m(torch.randn(1, 3, 64, 96))
    assert y.shape == (1, 5, 8, 12)
    assert m.output_stride == 8
    sd = m.state_dict()
    assert sd["deconv_layers.0.bias"].shape == (32,)
    assert sd["final_layer.weight"].shape == (5, 16, 3, 3)


def test_build_pose_model_kwargs() -> None:
    m = build_pose_model("resnet34", 14, deconv_filters=(64, 64, 64))
    assert isinstance(m, PoseResNet) and m.depth == 34 and m.num_joints == 14
    assert m.state_dict()["final_layer.weight"].shape == (14, 64, 1, 1)
    assert sorted(POSE_MODELS) == [
        "hrnet_w32", "hrnet_w48", "resnet10", "resnet101", "resnet152", "resnet18", "resnet34", "resnet50"
    ]


# ----------------------------------------------------------------------------- errors


def test_unknown_arch() -> None:
    with pytest.raises(ValueError, match="resnet18") as ei:
        build_pose_model("resnet19", 17)
    assert "resnet19" in str(ei.value) and "resnet152" in str(ei.value)


def test_unknown_depth() -> None:
    with pytest.raises(ValueError, match="depth 42"):
        PoseResNet(42, 17)


@pytest.mark.parametrize("k", [1, 5, 7])
def test_bad_deconv_kernel(k: int) -> None:
    with pytest.raises(ValueError, match="deconv kernel"):
        PoseResNet(18, 17, deconv_kernels=(4, k, 4))


def test_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="deconv_filters"):
        PoseResNet(18, 17, deconv_filters=(256, 256))
    with pytest.raises(ValueError, match="deconv_kernels"):
        PoseResNet(18, 17, num_deconv_layers=2, deconv_filters=(256, 256))


def test_bad_final_kernel_and_joints() -> None:
    with pytest.raises(ValueError, match="final_kernel"):
        PoseResNet(18, 17, final_kernel=5)
    with pytest.raises(ValueError, match="num_joints"):
        PoseResNet(18, 0)
