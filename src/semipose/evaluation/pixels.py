"""Errors in pixels of the original image, the numbers a user of a custom keypoint set reads:
RMSE, median error, PCK at a few pixel thresholds, and each of them per keypoint.

Computed where each prediction belongs to one labelled instance (evaluation with the
ground-truth boxes); only labelled keypoints (``v > 0``) count.

Shape symbols: N instances, K keypoints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError

__all__ = ["PCK_THRESHOLDS_PX", "error_summary", "pixel_errors", "instance_errors", "write_instance_errors", "read_instance_errors",
           "errors_filename", "format_pixel_table", "PIXEL_KEYS", "InstanceErrors"]

#: PCK thresholds in pixels of the original image
PCK_THRESHOLDS_PX: tuple[int, ...] = (5, 10, 20)
#: the summary keys :func:`pixel_errors` adds (per keypoint: ``rmse_px/<name>`` …)
PIXEL_KEYS: tuple[str, ...] = ("rmse_px", "median_px", *(f"pck{t}_px" for t in PCK_THRESHOLDS_PX))


def error_summary(d: np.ndarray, thresholds: Sequence[float] = PCK_THRESHOLDS_PX) -> dict[str, float]:
    """``rmse_px``, ``median_px`` and ``pck<t>_px`` (the share within ``t`` px) of the distances ``d``
    (any shape, none missing): the one formula every pixel report uses."""
    d = np.asarray(d, np.float64).ravel()
    return {
        "rmse_px": float(np.sqrt(np.mean(d**2))),
        "median_px": float(np.median(d)),
        **{f"pck{t:g}_px": float(np.mean(d <= t)) for t in thresholds},
    }



def instance_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(N, K)`` distance of each predicted keypoint ``(N, K, 2)`` to its label ``(N, K, 3)``,
    image pixels; NaN where the keypoint is not labelled (``v = 0``)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    d = np.linalg.norm(pred - gt[..., :2], axis=-1)
    return np.where(gt[..., 2] > 0, d, np.nan)


@dataclass
class InstanceErrors:
    """Each labelled instance's errors of one evaluation: what ``errors_<name>.json`` holds.

    Attributes:
        keypoints: the K names; image_ids, ann_ids: ``(N,)`` each instance's image and annotation;
        errors_px: ``(N, K)`` pixels, NaN where not labelled.
    """

    keypoints: list[str]
    image_ids: np.ndarray
    ann_ids: np.ndarray
    errors_px: np.ndarray

    def to_dict(self, decimals: int = 2) -> dict:
        e = np.round(self.errors_px, decimals)
        return {"keypoints": list(self.keypoints), "image_ids": [int(i) for i in self.image_ids], "ann_ids": [int(i) for i in self.ann_ids],
                "errors_px": [[None if np.isnan(v) else float(v) for v in row] for row in e]}

    @classmethod
    def from_dict(cls, d: Mapping, what: str = "errors") -> InstanceErrors:
        try:
            names = [str(n) for n in d["keypoints"]]
            err = np.array([[np.nan if v is None else float(v) for v in row] for row in d["errors_px"]], np.float64).reshape(-1, len(names))
            img, ann = np.asarray(d["image_ids"], np.int64), np.asarray(d["ann_ids"], np.int64)
        except (KeyError, TypeError, ValueError) as e:
            raise DataFormatError(f"{what}: not a per-instance errors record ({type(e).__name__}: {e})") from None
        if not len(img) == len(ann) == len(err):
            raise DataFormatError(f"{what}: {len(img)} image ids, {len(ann)} annotation ids and {len(err)} error rows")
        return cls(names, img, ann, err)


def errors_filename(name: str = "net") -> str:
    """File name of an evaluation's per-instance errors (:func:`write_instance_errors`)."""
    return f"errors_{name}.json"


def write_instance_errors(path: str | os.PathLike[str], errors: InstanceErrors) -> None:
    """Write :class:`InstanceErrors` as JSON (errors rounded to 0.01 px)."""
    with open(path, "w") as f:
        json.dump(errors.to_dict(), f)


def read_instance_errors(path: str | os.PathLike[str]) -> InstanceErrors:
    """Read a file of :func:`write_instance_errors`."""
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DataFormatError(f"{path}: cannot read the per-instance errors ({e})") from None
    return InstanceErrors.from_dict(d, str(path))


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
    d = instance_errors(pred, gt)
    vis = ~np.isnan(d)
    if not vis.any():
        return {}
    out = {**error_summary(d[vis]), "labelled_px": float(vis.sum())}
    for k, name in enumerate(names):
        dk = d[:, k][vis[:, k]]
        if dk.size:
            out.update({f"{key}/{name}": v for key, v in error_summary(dk).items()})
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
