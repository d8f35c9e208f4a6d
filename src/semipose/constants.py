"""Plain constants shared by several floors (no torch, no OpenCV)."""

from __future__ import annotations

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD"]

#: ImageNet channel statistics in RGB order on the 0..1 pixel scale (the order the torchvision
#: backbones were trained in). Inputs are normalised ``(pixel / 255 - mean) / std``.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
