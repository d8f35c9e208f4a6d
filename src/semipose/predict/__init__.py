"""Using a trained model: the :class:`PoseEstimator` API, ``semipose predict`` and ONNX export."""

from .estimator import Detector, PoseEstimator, PoseResult

__all__ = ["PoseEstimator", "PoseResult", "Detector"]
