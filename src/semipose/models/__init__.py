"""Pose models (SimpleBaseline ``PoseResNet``), ResNet backbones and checkpoint loading."""

from .posenet import POSE_MODELS, PoseResNet, build_pose_model
from .resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from .weights import (
    IDENTITY,
    KEY_MAPS,
    TORCHVISION_RESNET,
    CheckpointError,
    CheckpointMismatchError,
    KeyMap,
    LoadReport,
    get_key_map,
    load_imagenet_backbone,
    load_weights,
    read_checkpoint,
)

__all__ = [
    "POSE_MODELS",
    "PoseResNet",
    "build_pose_model",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet",
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
]
