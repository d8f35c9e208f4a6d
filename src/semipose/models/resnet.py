"""ResNet backbones in plain torch, with torchvision's ImageNet state_dict key layout.

The module tree mirrors torchvision's ``ResNet`` exactly (``conv1``, ``bn1``, ``relu``,
``maxpool``, ``layer1`` .. ``layer4``; blocks with ``conv1``/``bn1``/``conv2``/``bn2``
[``conv3``/``bn3``] and ``downsample.0`` (1x1 conv) / ``downsample.1`` (BN)), but without the
classifier (``avgpool``/``fc``). A torchvision ImageNet checkpoint therefore loads after
dropping its ``fc.*`` keys (see :mod:`semipose.models.loading`).

Bottleneck is the "v1.5" variant used by torchvision: the stride sits on the 3x3 convolution.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ..errors import ConfigError
from .keymaps import KeyMap

__all__ = [
    "TORCHVISION_RESNET",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "RESNET_SPECS",
    "resnet10",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet",
]

#: BatchNorm momentum used throughout (PyTorch default, as in torchvision and SimpleBaseline).
BN_MOMENTUM = 0.1


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (expansion 1)."""

    expansion: int = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, planes, H / stride, W / stride)``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided, torchvision v1.5) -> 1x1 with a residual connection (expansion 4)."""

    expansion: int = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``(N, 4 * planes, H / stride, W / stride)``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


Block = type[BasicBlock] | type[Bottleneck]

#: depth -> (block class, blocks per stage), as in torchvision.
RESNET_SPECS: dict[int, tuple[Block, tuple[int, int, int, int]]] = {
    10: (BasicBlock, (1, 1, 1, 1)),
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


#: torchvision ImageNet ResNet checkpoints: same keys, minus the classifier.
TORCHVISION_RESNET = KeyMap(drop=[r"^fc\."], name="torchvision_resnet")


class ResNet(nn.Module):
    """ResNet trunk without the classifier (stride 32 output).

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: number of blocks in each of the four stages, e.g. ``(2, 2, 2, 2)``.
        in_channels: channels of the input image (3 for RGB).

    Attributes:
        out_channels: channels of the ``layer4`` output (512 for BasicBlock, 2048 for
            Bottleneck).
    """

    def __init__(self, block: Block, layers: Sequence[int], in_channels: int = 3) -> None:
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise ConfigError(f"block must be BasicBlock or Bottleneck, got {block!r}")
        layers = tuple(int(n) for n in layers)
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ConfigError(f"layers must be four positive block counts, got {layers}")
        if in_channels < 1:
            raise ConfigError(f"in_channels must be positive, got {in_channels}")
        self.block = block
        self.layers = layers
        self.inplanes = 64

        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.out_channels: int = 512 * block.expansion

        self._init_backbone()

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample: nn.Module | None = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion, momentum=BN_MOMENTUM),
            )
        modules: list[nn.Module] = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            modules.append(block(self.inplanes, planes))
        return nn.Sequential(*modules)

    def _init_backbone(self) -> None:
        """torchvision-like init: Kaiming normal (fan_out, relu) convs, BN weight 1 / bias 0."""
        # Called from __init__ before any subclass adds its head, so this touches the trunk only.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1.0)
                nn.init.constant_(m.bias, 0.0)

    #: model keys absent from an ImageNet file (none for the bare trunk)
    head_patterns: tuple[str, ...] = ()

    def imagenet_key_map(self) -> KeyMap:
        """How an ImageNet (torchvision) checkpoint's keys map onto this trunk."""
        return TORCHVISION_RESNET

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C_in, H, W)`` -> ``layer4`` features ``(N, out_channels, H / 32, W / 32)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward(self, x: Tensor) -> Tensor:
        """Same as :meth:`forward_features`: ``(N, C_in, H, W)`` -> ``(N, C, H/32, W/32)``."""
        return self.forward_features(x)


def resnet(depth: int, in_channels: int = 3) -> ResNet:
    """ResNet trunk of the given depth (10, 18, 34, 50, 101 or 152)."""
    if depth not in RESNET_SPECS:
        raise ConfigError(
            f"unsupported ResNet depth {depth!r}; choose one of {sorted(RESNET_SPECS)}"
        )
    block, layers = RESNET_SPECS[depth]
    return ResNet(block, layers, in_channels=in_channels)


def resnet10(in_channels: int = 3) -> ResNet:
    """ResNet-10 trunk (BasicBlock, [1, 1, 1, 1]; no published ImageNet weights: from scratch); ``out_channels`` 512."""
    return resnet(10, in_channels)


def resnet18(in_channels: int = 3) -> ResNet:
    """ResNet-18 trunk (BasicBlock, [2, 2, 2, 2]); ``out_channels`` 512."""
    return resnet(18, in_channels)


def resnet34(in_channels: int = 3) -> ResNet:
    """ResNet-34 trunk (BasicBlock, [3, 4, 6, 3]); ``out_channels`` 512."""
    return resnet(34, in_channels)


def resnet50(in_channels: int = 3) -> ResNet:
    """ResNet-50 trunk (Bottleneck, [3, 4, 6, 3]); ``out_channels`` 2048."""
    return resnet(50, in_channels)


def resnet101(in_channels: int = 3) -> ResNet:
    """ResNet-101 trunk (Bottleneck, [3, 4, 23, 3]); ``out_channels`` 2048."""
    return resnet(101, in_channels)


def resnet152(in_channels: int = 3) -> ResNet:
    """ResNet-152 trunk (Bottleneck, [3, 8, 36, 3]); ``out_channels`` 2048."""
    return resnet(152, in_channels)

