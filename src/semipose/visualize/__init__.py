"""Drawing poses, heatmaps and training curves.

Everything here returns or writes plain pictures; nothing opens a window. Images are drawn
with OpenCV; the training-curve plot uses matplotlib through an off-screen
:class:`matplotlib.figure.Figure` (Agg), so importing this module never selects or changes a
pyplot backend.

Conventions:

* Images are ``(H, W, 3)`` ``uint8`` arrays. OpenCV's channel order (BGR) is assumed; pass
  ``rgb=True`` to the drawing functions when the image is RGB so that the colours come out as
  intended (left side green, right side orange/red, centre blue/violet).
* Keypoints are in image pixels, ``(P, K, 2)`` or ``(P, K, 3)``; a single person may be given
  as ``(K, 2|3)``.
* Boxes are ``(x, y, w, h)`` in image pixels.

Main entry points: :func:`draw_pose`, :func:`make_image_grid`, :func:`draw_heatmaps`,
:func:`save_prediction_grid` (what the trainer uses to save predictions on validation images
into a run folder), :func:`plot_training_curves` and :func:`to_uint8_image`.
"""

from __future__ import annotations

from .curves import plot_training_curves
from .draw import draw_heatmaps, draw_pose, draw_results, keypoint_sides, make_image_grid, to_uint8_image
from .files import save_prediction_grid

__all__ = [
    "keypoint_sides",
    "draw_pose",
    "draw_results",
    "make_image_grid",
    "draw_heatmaps",
    "save_prediction_grid",
    "plot_training_curves",
    "to_uint8_image",
]
