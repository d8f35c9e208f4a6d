"""Errors in pixels of the original image, the numbers a user of a custom keypoint set reads:
RMSE, median error, PCK at a few pixel thresholds, and each of them per keypoint.

Computed where each prediction belongs to one labelled instance (evaluation with the
ground-truth boxes); only labelled keypoints (``v > 0``) count.

Shape symbols: N instances, K keypoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["PCK_THRESHOLDS_PX", "pixel_errors", "format_pixel_table", "PIXEL_KEYS"]

#: PCK thresholds in pixels of the original image
PCK_THRESHOLDS_PX: tuple[int, ...] = (5, 10, 20)
#: the summary keys :func:`pixel_errors` adds (per keypoint: ``rmse_px/<name>`` …)
PIXEL_KEYS: tuple[str, ...] = ("rmse_px", "median_px", *(f"pck{t}_px" for t in PCK_THRESHOLDS_PX))


def _summary(d: np.ndarray) -> dict[str, float]:
    return {
        "rmse_px": float(np.sqrt(np.mean(d**2))),
        "median_px": float(np.median(d)),
        **{f"pck{t}_px": float(np.mean(d <= t)) for t in PCK_THRESHOLDS_PX},
    }


def pixel_errors(pred: np.ndarray, gt: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Distances between predicted and labelled keypoints, in image pixels.

    Args:
        pred: ``(N, K, 2)`` predicted keypoints.
        gt: ``(N, K, 3)`` labelled keypoints ``(x, y, v)``; ``v > 0`` counts.
        names: the K keypoint names.

    Returns:
        :data:`PIXEL_KEYS` over every labelled keypoint, ``labelled_px`` (how many), and per
        keypoint ``<key>/<name>`` (keypoints never labelled are left out); ``{}`` when nothing
        is labelled.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    vis = gt[..., 2] > 0
    d = np.linalg.norm(pred - gt[..., :2], axis=-1)
    if not vis.any():
        return {}
    out = {**_summary(d[vis]), "labelled_px": float(vis.sum())}
    for k, name in enumerate(names):
        dk = d[:, k][vis[:, k]]
        if dk.size:
            out.update({f"{key}/{name}": v for key, v in _summary(dk).items()})
    return out


def format_pixel_table(metrics: Mapping[str, float], names: Sequence[str], title: str = "keypoint") -> str:
    """A markdown table of :func:`pixel_errors`: one row per keypoint, then ``all``."""
    head = ["RMSE px", "median px", *(f"PCK@{t}px" for t in PCK_THRESHOLDS_PX)]
    lines = ["| " + " | ".join([title, *head]) + " |", "|" + "---|" * (len(head) + 1)]
    for name in [*names, None]:
        suffix = f"/{name}" if name is not None else ""
        if f"rmse_px{suffix}" not in metrics:
            continue
        vals = [metrics[f"{k}{suffix}"] for k in PIXEL_KEYS]
        cells = [f"{v:.2f}" for v in vals[:2]] + [f"{v:.3f}" for v in vals[2:]]
        lines.append("| " + " | ".join([name if name is not None else "**all**", *cells]) + " |")
    return "\n".join(lines)
