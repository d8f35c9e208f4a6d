"""Pose models (SimpleBaseline ``PoseResNet``, HRNet), ResNet backbones and checkpoint loading."""

from ..errors import CheckpointError, CheckpointMismatchError, UnsafeCheckpointError
from .ensemble import EnsembleNet
from .hrnet import HRNET_IMAGENET, HRNET_WIDTHS, HighResolutionModule, PoseHighResolutionNet, hrnet_imagenet_key_map, hrnet_w32, hrnet_w48
from .io import load_checkpoint_file
from .keymaps import IDENTITY, KeyMap, prefixed_key_map
from .loading import LoadReport, load_imagenet_backbone, load_weights, read_checkpoint
from .modelfile import ModelCard, ModelFile, read_model, read_model_file
from .posenet import POSE_MODELS, PoseResNet, build_pose_model
from .reference import (
    KEY_MAPS,
    LAYOUTS,
    POSE_CONS,
    POSE_DUAL_NET1,
    POSE_DUAL_NET2,
    POSE_HRNET,
    POSE_LAYOUT_KEY_MAPS,
    POSE_RESNET,
    detect_checkpoint_layout,
    get_key_map,
    load_dual_imagenet_backbones,
    load_pose_checkpoint,
)
from .resnet import (
    TORCHVISION_RESNET,
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet,
    resnet10,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)

__all__ = [
    "EnsembleNet",
    "UnsafeCheckpointError",
    "load_checkpoint_file",
    "ModelCard",
    "ModelFile",
    "read_model",
    "read_model_file",
    "POSE_MODELS",
    "PoseResNet",
    "build_pose_model",
    "HRNET_WIDTHS",
    "HighResolutionModule",
    "PoseHighResolutionNet",
    "hrnet_w32",
    "hrnet_w48",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet",
    "resnet10",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "IDENTITY",
    "KEY_MAPS",
    "TORCHVISION_RESNET",
    "CheckpointError",
    "CheckpointMismatchError",
    "KeyMap",
    "LoadReport",
    "get_key_map",
    "load_imagenet_backbone",
    "load_weights",
    "read_checkpoint",
    "HRNET_IMAGENET",
    "LAYOUTS",
    "POSE_CONS",
    "POSE_DUAL_NET1",
    "POSE_DUAL_NET2",
    "POSE_HRNET",
    "POSE_LAYOUT_KEY_MAPS",
    "POSE_RESNET",
    "detect_checkpoint_layout",
    "hrnet_imagenet_key_map",
    "load_dual_imagenet_backbones",
    "load_pose_checkpoint",
    "prefixed_key_map",
]
