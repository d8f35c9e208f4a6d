"""semipose — semi-supervised 2D human pose estimation.

Top-down heatmap pose estimation (SimpleBaseline ResNets, HRNet), COCO-format data, COCO
keypoint evaluation through pycocotools, and a built-in synthetic dataset so everything runs
offline. Using a trained model::

    from semipose import PoseEstimator
    est = PoseEstimator.from_file("runs/x/checkpoints/best.pt")
    result = est("photo.jpg", boxes=[[x, y, w, h]])   # result.keypoints (P, K, 2)
"""

from typing import Any

from ._version import __version__

__all__ = ["__version__", "PoseEstimator", "PoseResult", "Detector"]

_LAZY = {"PoseEstimator", "PoseResult", "Detector"}


def __getattr__(name: str) -> Any:
    # the inference API imports torch and OpenCV: only when asked for
    if name in _LAZY:
        from .predict import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'semipose' has no attribute {name!r}")
