"""SimpleBaseline pose network (``PoseResNet``) and the architecture registry (ResNet, HRNet).

``PoseResNet`` subclasses :class:`~semipose.models.resnet.ResNet`, so the backbone parameters
sit at the top level of the module (``conv1.weight``, ``layer1.0.conv1.weight``, ...) exactly
as in torchvision ImageNet checkpoints and the reference ``pose_resnet`` checkpoints. The head
adds ``deconv_layers`` (``[ConvTranspose2d, BatchNorm2d, ReLU] * n``, so keys
``deconv_layers.{0,3,6}.weight`` and ``deconv_layers.{1,4,7}.*``) and ``final_layer``.

Architectures are looked up by name in :data:`POSE_MODELS`; a new family is added with one
entry whose value is a callable ``(num_joints, **head_kwargs) -> nn.Module``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from ..errors import ConfigError
from ..params import ARCHITECTURES, DECONV_LAYERS, HRNET_WIDTH_NAMES, RESNET_DEPTHS, output_stride
from .head import heatmap_head
from .hrnet import HRNET_WIDTHS, PoseHighResolutionNet
from .resnet import BN_MOMENTUM, RESNET_SPECS, ResNet

__all__ = ["PoseResNet", "POSE_MODELS", "build_pose_model", "deconv_padding"]


def deconv_padding(kernel: int) -> tuple[int, int]:
    """``(padding, output_padding)`` making a stride-2 ConvTranspose2d exactly double H and W.

    Raises:
        ValueError: for kernels other than 2, 3 and 4.
    """
    if kernel == 4:
        return 1, 0
    if kernel == 3:
        return 1, 1
    if kernel == 2:
        return 0, 0
    raise ConfigError(f"unsupported deconv kernel {kernel!r}; choose 2, 3 or 4")


class PoseResNet(ResNet):
    """SimpleBaseline: ResNet trunk + stride-2 deconvolutions + the heatmap head
    (:func:`~semipose.models.head.heatmap_head`).

    Args:
        depth: ResNet depth, one of 10, 18, 34, 50, 101, 152.
        num_joints: K, number of heatmap channels.
        num_deconv_layers: number of ``ConvTranspose2d + BN + ReLU`` upsampling layers.
        deconv_filters: output channels of each deconv layer (length ``num_deconv_layers``).
        deconv_kernels: kernel of each deconv layer, each 2, 3 or 4 (length
            ``num_deconv_layers``).
        deconv_bias: give the deconvolutions a bias (the reference uses ``False``).
        final_kernel: 1 (padding 0) or 3 (padding 1) for ``final_layer``.

    Input ``(N, 3, H, W)``; output heatmaps ``(N, K, H / s, W / s)`` with
    ``s = output_stride = 32 / 2 ** num_deconv_layers`` (4 for the default three layers).
    ``H`` and ``W`` should be multiples of 32 (e.g. 256x192); otherwise the stride-32 trunk
    rounds up and the heatmap is larger than ``H / s`` x ``W / s``.
    """

    #: model keys absent from an ImageNet file: the deconvolution head and the heatmap conv
    head_patterns: tuple[str, ...] = (r"^deconv_layers\.", r"^final_layer\.")

    def __init__(
        self,
        depth: int,
        num_joints: int,
        num_deconv_layers: int = 3,
        deconv_filters: Sequence[int] = (256, 256, 256),
        deconv_kernels: Sequence[int] = (4, 4, 4),
        deconv_bias: bool = False,
        final_kernel: int = 1,
    ) -> None:
        if depth not in RESNET_SPECS:
            raise ConfigError(
                f"unsupported ResNet depth {depth!r}; choose one of {sorted(RESNET_SPECS)}"
            )
        if not isinstance(num_joints, int) or isinstance(num_joints, bool) or num_joints < 1:
            raise ConfigError(f"num_joints must be a positive int, got {num_joints!r}")
        if not isinstance(num_deconv_layers, int) or num_deconv_layers not in DECONV_LAYERS:
            raise ConfigError(
                f"num_deconv_layers must be one of {DECONV_LAYERS} (output stride "
                f"{output_stride(DECONV_LAYERS[0])} to {output_stride(DECONV_LAYERS[-1])}), got {num_deconv_layers!r}"
            )
        filters = tuple(int(f) for f in deconv_filters)
        kernels = tuple(int(k) for k in deconv_kernels)
        if len(filters) != num_deconv_layers:
            raise ConfigError(
                f"deconv_filters has {len(filters)} entries {filters} but "
                f"num_deconv_layers={num_deconv_layers}"
            )
        if len(kernels) != num_deconv_layers:
            raise ConfigError(
                f"deconv_kernels has {len(kernels)} entries {kernels} but "
                f"num_deconv_layers={num_deconv_layers}"
            )
        if any(f < 1 for f in filters):
            raise ConfigError(f"deconv_filters must be positive, got {filters}")
        paddings = [deconv_padding(k) for k in kernels]  # validates kernels

        block, layers = RESNET_SPECS[depth]
        super().__init__(block, layers)
        self.depth = depth
        self.num_joints = num_joints
        self.output_stride: int = output_stride(num_deconv_layers)

        head: list[nn.Module] = []
        in_ch = self.out_channels
        for f, k, (p, op) in zip(filters, kernels, paddings):
            head += [
                nn.ConvTranspose2d(
                    in_ch, f, kernel_size=k, stride=2, padding=p, output_padding=op,
                    bias=deconv_bias,
                ),
                nn.BatchNorm2d(f, momentum=BN_MOMENTUM),
                nn.ReLU(inplace=True),
            ]
            in_ch = f
        self.deconv_layers = nn.Sequential(*head)
        self.final_layer = heatmap_head(in_ch, num_joints, final_kernel)
        self._init_head()

    def _init_head(self) -> None:
        """Reference head init: deconv and final conv N(0, 0.001), biases 0, BN (1, 0)."""
        for m in self.deconv_layers.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0.0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1.0)
                nn.init.constant_(m.bias, 0.0)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        if self.final_layer.bias is not None:
            nn.init.constant_(self.final_layer.bias, 0.0)

    def forward(self, x: Tensor) -> Tensor:
        """Images ``(N, 3, H, W)`` -> heatmaps ``(N, K, H / 4, W / 4)`` (three deconvs)."""
        x = self.forward_features(x)
        x = self.deconv_layers(x)
        return self.final_layer(x)


def _pose_resnet(depth: int) -> Callable[..., nn.Module]:
    def build(num_joints: int, **head_kwargs: object) -> nn.Module:
        return PoseResNet(depth, num_joints, **head_kwargs)  # type: ignore[arg-type]

    build.__name__ = f"pose_resnet{depth}"
    build.__doc__ = f"SimpleBaseline PoseResNet-{depth}: ``(num_joints, **head_kwargs)``."
    return build


def _pose_hrnet(width: int) -> Callable[..., nn.Module]:
    def build(
        num_joints: int,
        num_deconv_layers: int = 3,
        deconv_filters: Sequence[int] | None = None,
        deconv_kernels: Sequence[int] | None = None,
        deconv_bias: bool | None = None,
        final_kernel: int = 1,
    ) -> nn.Module:
        # HRNet has no deconvolution head: its heatmaps always come from the stride-4 branch.
        # The deconv arguments are accepted (build_model always passes them) but only an
        # output stride of 4 (three layers) is consistent; their sizes are ignored.
        if num_deconv_layers != 3:
            raise ConfigError(
                f"hrnet_w{width} always outputs heatmaps at stride 4; num_deconv_layers="
                f"{num_deconv_layers!r} (output stride {output_stride(int(num_deconv_layers))}) "
                "cannot be honoured - use three deconv layers (the default) with HRNet"
            )
        del deconv_filters, deconv_kernels, deconv_bias  # no deconv head in HRNet
        return PoseHighResolutionNet(num_joints, HRNET_WIDTHS[width], final_kernel=final_kernel)

    build.__name__ = f"pose_hrnet_w{width}"
    build.__doc__ = (
        f"HRNet-W{width} ``(num_joints, final_kernel=1)``; deconv arguments are ignored "
        "(they must describe output stride 4)."
    )
    return build


#: arch name -> constructor ``(num_joints, **head_kwargs) -> nn.Module``.
#: A new family registers here with one line.
POSE_MODELS: dict[str, Callable[..., nn.Module]] = {
    **{f"resnet{d}": _pose_resnet(d) for d in RESNET_DEPTHS},
    **{f"hrnet_w{w}": _pose_hrnet(w) for w in HRNET_WIDTH_NAMES},
}


assert tuple(POSE_MODELS) == ARCHITECTURES, "semipose.params.ARCHITECTURES names every builder"


def build_pose_model(arch: str, num_joints: int, **head_kwargs: object) -> nn.Module:
    """Build a top-down heatmap model by name.

    Args:
        arch: a key of :data:`POSE_MODELS` (``"resnet18"`` ... ``"resnet152"``,
            ``"hrnet_w32"``, ``"hrnet_w48"``).
        num_joints: K, the number of output heatmaps.
        **head_kwargs: forwarded to the constructor (for ResNets: ``num_deconv_layers``,
            ``deconv_filters``, ``deconv_kernels``, ``deconv_bias``, ``final_kernel``; for
            HRNet only ``final_kernel`` matters - the deconv arguments are accepted and
            ignored, but ``num_deconv_layers`` must be 3 since HRNet's output stride is 4).

    Returns:
        A module mapping ``(N, 3, H, W)`` images to ``(N, K, H / 4, W / 4)`` heatmaps.

    Raises:
        ValueError: unknown ``arch`` (the message lists the known names) or bad head arguments.
    """
    try:
        ctor = POSE_MODELS[arch]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown pose model arch {arch!r}; known: {', '.join(sorted(POSE_MODELS))}"
        ) from None
    return ctor(num_joints, **head_kwargs)
