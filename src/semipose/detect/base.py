"""The detector contract: ``detector(image) -> (boxes, scores)``, stated once.

``image`` is an ``(H, W, 3)`` uint8 BGR frame; ``boxes`` a ``(P, 4)`` float32 array of
``(x, y, w, h)`` in its pixels, ``scores`` ``(P,)`` float32, best first. The person detector
(:class:`~semipose.detect.person.OnnxPersonDetector`), a user's own callable, and any future
instance finder implement it; the engine (unlabelled videos), ``semipose predict`` and
:class:`~semipose.predict.PoseEstimator` take it.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import CheckpointError, InputError

__all__ = ["Detector", "as_detections", "require_onnx"]


@runtime_checkable
class Detector(Protocol):
    """Anything that finds instances: ``detector(image_bgr) -> (boxes (P, 4) xywh, scores (P,))``."""

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def as_detections(out: Any, who: str = "detector") -> tuple[np.ndarray, np.ndarray]:
    """A detector's answer checked and made ``((P, 4) float32 xywh, (P,) float32)``.

    Raises:
        InputError: naming ``who`` when the answer is not a pair of P boxes and P scores.
    """
    try:
        boxes, scores = out
        b = np.asarray(boxes, np.float32).reshape(-1, 4)
        s = np.asarray(scores, np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{who}: must return (boxes (P, 4) as x, y, w, h; scores (P,)), got {type(out).__name__}") from None
    if len(b) != len(s):
        raise InputError(f"{who}: returned {len(b)} boxes but {len(s)} scores")
    return b, s


def require_onnx(*modules: str) -> None:
    """Raise a one-line error naming the missing optional ONNX dependency."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise CheckpointError(f"ONNX support needs {', '.join(missing)}: pip install 'semipose[onnx]'")
