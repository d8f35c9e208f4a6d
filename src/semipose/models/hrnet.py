"""HRNet (``PoseHighResolutionNet``) in plain torch, with the reference ``pose_hrnet`` key layout.

The module tree reproduces the reference pose HRNet (and the trunk of the ImageNet
classification HRNet) name for name, so a reference ``pose_hrnet`` checkpoint loads strictly
and an ImageNet ``hrnet_w32-36af842e.pth`` / ``hrnet_w48-8ef0771d.pth`` file loads after
dropping its classification head (see :mod:`semipose.models.loading`):

* stem: ``conv1`` (3x3 s2, 3->64), ``bn1``, ``conv2`` (3x3 s2, 64->64), ``bn2``, then
  ``layer1`` = 4 :class:`~semipose.models.resnet.Bottleneck` blocks (64 -> 256 channels,
  ``layer1.0.downsample.{0,1}``); stride 4.
* ``transition1`` / ``transition2`` / ``transition3``: ``ModuleList`` with one entry per branch
  of the next stage: ``None`` for an unchanged branch, ``Sequential(conv3x3, BN, ReLU)`` (keys
  ``transitionN.i.{0,1}.*``) for an existing branch whose width changes, and for a new branch a
  ``Sequential`` of stride-2 ``Sequential(conv3x3, BN, ReLU)`` (keys ``transitionN.i.k.{0,1}.*``)
  fed by the previous lowest-resolution branch.
* ``stage2`` (1 module, 2 branches), ``stage3`` (4 modules, 3 branches), ``stage4`` (3 modules,
  4 branches): ``Sequential`` of :class:`HighResolutionModule`, each with ``branches.b.k.*``
  (BasicBlocks) and ``fuse_layers.i.j.*``. The last module of ``stage4`` only outputs the
  highest-resolution branch (``fuse_layers.0`` only).
* ``final_layer``: ``Conv2d(C0 -> K)`` with bias on the stride-4 branch.

Branch ``b`` has width ``channels[b]`` and stride ``4 * 2**b``; inputs should be multiples of
32 (e.g. 256x192, 256x256, 384x288) so the branches line up when fused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from ..errors import ConfigError
from .head import heatmap_head
from .keymaps import KeyMap
from .resnet import BN_MOMENTUM, BasicBlock, Bottleneck

__all__ = [
    "HRNET_IMAGENET",
    "hrnet_imagenet_key_map",
    "HighResolutionModule",
    "PoseHighResolutionNet",
    "HRNET_WIDTHS",
    "hrnet_w32",
    "hrnet_w48",
]

#: Branch widths of the named variants (``hrnet_w{W}``: ``[W, 2W, 4W, 8W]``).
HRNET_WIDTHS: dict[int, tuple[int, int, int, int]] = {
    32: (32, 64, 128, 256),
    48: (48, 96, 192, 384),
}


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    """``Sequential(Conv2d(no bias), BatchNorm2d[, ReLU])`` (keys ``0.weight``, ``1.*``)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel BasicBlock branches followed by all-to-all multi-resolution fusion (SUM).

    Args:
        channels: width of each branch (branch ``b`` runs at stride ``2**b`` relative to
            branch 0). Inputs must already have these widths.
        num_blocks: BasicBlocks per branch.
        multi_scale_output: output every branch (``True``) or only branch 0.

    Fusion output ``i`` is ``ReLU(sum_j f_ij(x_j))`` with ``f_ii`` the identity
    (``fuse_layers.i.i`` is ``None``), ``f_ij`` for ``j > i`` a 1x1 conv + BN + nearest
    upsampling by ``2**(j-i)`` (``fuse_layers.i.j.{0,1}``), and for ``j < i`` a chain of
    ``i-j`` stride-2 3x3 conv + BN (ReLU after all but the last; ``fuse_layers.i.j.k.{0,1}``).

    Forward: a list of ``len(channels)`` tensors ``(N, channels[b], H / 2**b, W / 2**b)`` ->
    a list of the same shapes (or only the first when ``multi_scale_output`` is ``False``).
    """

    def __init__(
        self, channels: Sequence[int], num_blocks: Sequence[int], multi_scale_output: bool = True
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        num_blocks = tuple(int(n) for n in num_blocks)
        if not channels or len(channels) != len(num_blocks):
            raise ConfigError(
                f"need one block count per branch: channels={channels}, num_blocks={num_blocks}"
            )
        if any(c < 1 for c in channels) or any(n < 1 for n in num_blocks):
            raise ConfigError(f"channels and num_blocks must be positive: {channels}, {num_blocks}")
        self.num_branches = len(channels)
        self.channels = channels
        self.multi_scale_output = multi_scale_output
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c, c) for _ in range(n)))
            for c, n in zip(channels, num_blocks)
        )
        self.fuse_layers = self._make_fuse_layers() if self.num_branches > 1 else None
        self.relu = nn.ReLU(inplace=True)

    def _make_fuse_layers(self) -> nn.ModuleList:
        ch = self.channels
        n_out = self.num_branches if self.multi_scale_output else 1
        fuse = nn.ModuleList()
        for i in range(n_out):
            row = nn.ModuleList()
            for j in range(self.num_branches):
                if j > i:
                    row.append(
                        nn.Sequential(
                            nn.Conv2d(ch[j], ch[i], 1, 1, 0, bias=False),
                            nn.BatchNorm2d(ch[i], momentum=BN_MOMENTUM),
                            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                        )
                    )
                elif j == i:
                    row.append(None)  # type: ignore[arg-type]  # None: the branch itself (the reference's key numbering)
                else:
                    steps = [
                        _conv_bn(ch[j], ch[j], 3, 2, relu=True) for _ in range(i - j - 1)
                    ]
                    steps.append(_conv_bn(ch[j], ch[i], 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            fuse.append(row)
        return fuse

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        """Branch features ``[(N, C_b, H_b, W_b)]`` -> fused features (see class docstring)."""
        if len(xs) != self.num_branches:
            raise ConfigError(f"expected {self.num_branches} branch inputs, got {len(xs)}")
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        out: list[Tensor] = []
        for i, row in enumerate(self.fuse_layers):
            assert isinstance(row, nn.ModuleList)
            # summed in branch order 0..n-1, as the reference does (same rounding)
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, self.num_branches):
                y = y + (xs[j] if j == i else row[j](xs[j]))
            out.append(self.relu(y))
        return out


def _transition(pre: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
    """Reference ``_make_transition_layer``: adapt ``pre`` branch widths to ``cur``."""
    layers = nn.ModuleList()
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(_conv_bn(pre[i], c, 3, 1, relu=True) if pre[i] != c else None)  # type: ignore[arg-type]
        else:
            n = i + 1 - len(pre)
            steps = [
                _conv_bn(pre[-1], c if k == n - 1 else pre[-1], 3, 2, relu=True) for k in range(n)
            ]
            layers.append(nn.Sequential(*steps))
    return layers


def hrnet_imagenet_key_map(last_stage4_module: int = 2) -> KeyMap:
    """Key map for an ImageNet classification HRNet checkpoint (``hrnet_w32-36af842e.pth``).

    Drops the classification head (``incre_modules``, ``downsamp_modules``,
    ``final_layer.{0,1}.*``, ``classifier``) and the fuse layers that only the classifier's
    multi-scale last module has (``stage4.<last_stage4_module>.fuse_layers.{1,2,3}``; the pose
    network's last module keeps only ``fuse_layers.0``). The reference keeps the same keys
    (``PRETRAINED_LAYERS`` plus ``strict=False``).

    Args:
        last_stage4_module: index of the last ``stage4`` module (2 for the standard 3 modules).
    """
    return KeyMap(
        drop=[
            r"^incre_modules\.",
            r"^downsamp_modules\.",
            r"^final_layer\.",
            r"^classifier\.",
            rf"^stage4\.{int(last_stage4_module)}\.fuse_layers\.[1-9]\d*\.",
        ],
        name="hrnet_imagenet",
    )


#: ImageNet HRNet-W32/W48 checkpoints, standard 3-module stage 4.
HRNET_IMAGENET = hrnet_imagenet_key_map(2)
#: ImageNet HRNet-W32/W48 checkpoints, standard 3-module stage 4.
HRNET_IMAGENET = hrnet_imagenet_key_map(2)


class PoseHighResolutionNet(nn.Module):
    """HRNet pose network: heatmaps at stride 4 from the highest-resolution branch.

    Args:
        num_joints: K, number of heatmap channels.
        channels: widths of the four branches (``(32, 64, 128, 256)`` for W32,
            ``(48, 96, 192, 384)`` for W48). Stage ``s`` (2..4) uses the first ``s`` of them.
        num_modules: HighResolutionModules in stages 2, 3 and 4 (reference ``(1, 4, 3)``).
        num_blocks: BasicBlocks per branch in every stage-2..4 module (reference 4).
        stem_blocks: Bottleneck blocks in ``layer1`` (reference 4).
        final_kernel: 1 (padding 0) or 3 (padding 1) for ``final_layer``.

    Input ``(N, 3, H, W)`` with ``H``, ``W`` multiples of 32; output heatmaps
    ``(N, K, H / 4, W / 4)`` (256x192 -> 64x48, 384x288 -> 96x72, 256x256 -> 64x64).

    Initialisation follows the reference ``init_weights``: every conv weight ~ N(0, 0.001),
    conv biases 0, BatchNorm weight 1 / bias 0.

    Attributes:
        output_stride: always 4.
        out_channels: ``channels[0]``, the width of the features fed to ``final_layer``.
    """

    output_stride: int = 4

    def __init__(
        self,
        num_joints: int,
        channels: Sequence[int] = HRNET_WIDTHS[32],
        num_modules: Sequence[int] = (1, 4, 3),
        num_blocks: int = 4,
        stem_blocks: int = 4,
        final_kernel: int = 1,
    ) -> None:
        super().__init__()
        if not isinstance(num_joints, int) or isinstance(num_joints, bool) or num_joints < 1:
            raise ConfigError(f"num_joints must be a positive int, got {num_joints!r}")
        channels = tuple(int(c) for c in channels)
        num_modules = tuple(int(m) for m in num_modules)
        if len(channels) != 4 or any(c < 1 for c in channels):
            raise ConfigError(f"channels must be four positive branch widths, got {channels}")
        if len(num_modules) != 3 or any(m < 1 for m in num_modules):
            raise ConfigError(
                f"num_modules must be three positive counts (stages 2-4), got {num_modules}"
            )
        if int(num_blocks) < 1 or int(stem_blocks) < 1:
            raise ConfigError(
                f"num_blocks and stem_blocks must be positive, got {num_blocks}, {stem_blocks}"
            )
        self.num_joints = num_joints
        self.channels = channels
        self.num_modules = num_modules
        self.num_blocks = int(num_blocks)
        self.out_channels: int = channels[0]

        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        stem_out = 64 * Bottleneck.expansion
        downsample = nn.Sequential(
            nn.Conv2d(64, stem_out, kernel_size=1, stride=1, bias=False),
            nn.BatchNorm2d(stem_out, momentum=BN_MOMENTUM),
        )
        self.layer1 = nn.Sequential(
            Bottleneck(64, 64, 1, downsample),
            *(Bottleneck(stem_out, 64) for _ in range(int(stem_blocks) - 1)),
        )

        pre: tuple[int, ...] = (stem_out,)
        for stage, n_mod in zip((2, 3, 4), num_modules):
            cur = channels[:stage]
            setattr(self, f"transition{stage - 1}", _transition(pre, cur))
            mods = [
                HighResolutionModule(
                    cur, (self.num_blocks,) * stage,
                    multi_scale_output=not (stage == 4 and m == n_mod - 1),
                )
                for m in range(n_mod)
            ]
            setattr(self, f"stage{stage}", nn.Sequential(*mods))
            pre = cur

        self.final_layer = heatmap_head(channels[0], num_joints, final_kernel)
        self._init_weights()

    # attributes registered with setattr above, declared for type checkers
    transition1: nn.ModuleList
    transition2: nn.ModuleList
    transition3: nn.ModuleList
    stage2: nn.Sequential
    stage3: nn.Sequential
    stage4: nn.Sequential

    def _init_weights(self) -> None:
        """Reference init: conv weights N(0, 0.001), conv biases 0, BN weight 1 / bias 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0.0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1.0)
                nn.init.constant_(m.bias, 0.0)

    @staticmethod
    def _apply_transition(transition: nn.ModuleList, ys: list[Tensor]) -> list[Tensor]:
        out: list[Tensor] = []
        for i, t in enumerate(transition):
            if t is None:
                out.append(ys[i])
            else:
                # an existing branch changes width from its own input; a new one grows from
                # the previous lowest-resolution branch (ys[-1])
                out.append(t(ys[i] if i < len(ys) else ys[-1]))
        return out

    #: model keys absent from an ImageNet file: the pose head
    head_patterns: tuple[str, ...] = (r"^final_layer\.",)

    def imagenet_key_map(self) -> KeyMap:
        """How an ImageNet HRNet classifier's keys map onto this network
        (:func:`hrnet_imagenet_key_map` of its last ``stage4`` module)."""
        return hrnet_imagenet_key_map(len(self.stage4) - 1)

    def forward_features(self, x: Tensor) -> Tensor:
        """Images ``(N, 3, H, W)`` -> highest-resolution features ``(N, C0, H / 4, W / 4)``."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        ys = self.stage2(self._apply_transition(self.transition1, ys))
        ys = self.stage3(self._apply_transition(self.transition2, ys))
        ys = self.stage4(self._apply_transition(self.transition3, ys))
        return ys[0]

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(N, 3, H, W)`` -> heatmaps ``(N, K, H / 4, W / 4)``."""
        return self.final_layer(self.forward_features(x))


def _hrnet(width: int) -> Callable[..., PoseHighResolutionNet]:
    def build(num_joints: int, final_kernel: int = 1) -> PoseHighResolutionNet:
        return PoseHighResolutionNet(num_joints, HRNET_WIDTHS[width], final_kernel=final_kernel)

    build.__name__ = f"hrnet_w{width}"
    build.__doc__ = (
        f"HRNet-W{width} pose network (branch widths {HRNET_WIDTHS[width]}, modules (1, 4, 3), "
        "4 blocks per branch): ``(N, 3, H, W)`` -> ``(N, K, H / 4, W / 4)``."
    )
    return build


#: HRNet-W32: branch widths (32, 64, 128, 256); ~28.5M parameters with 17 joints.
hrnet_w32 = _hrnet(32)
#: HRNet-W48: branch widths (48, 96, 192, 384); ~63.6M parameters with 17 joints.
hrnet_w48 = _hrnet(48)
