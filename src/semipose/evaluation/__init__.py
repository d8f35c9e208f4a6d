"""Evaluation: OKS / OKS-NMS and COCO keypoint evaluation through pycocotools."""

from .coco import (
    METRIC_DISPLAY_NAMES,
    METRIC_KEYS,
    build_coco_results,
    evaluate_coco_keypoints,
    evaluate_predictions,
    format_metrics_table,
    load_coco_gt,
    metrics_filename,
    rescore,
    results_filename,
    write_metrics_json,
    write_results_json,
)
from .nms import oks_iou, oks_matrix, oks_nms

__all__ = [
    "METRIC_KEYS",
    "METRIC_DISPLAY_NAMES",
    "build_coco_results",
    "evaluate_coco_keypoints",
    "evaluate_predictions",
    "format_metrics_table",
    "load_coco_gt",
    "metrics_filename",
    "rescore",
    "results_filename",
    "write_metrics_json",
    "write_results_json",
    "oks_iou",
    "oks_matrix",
    "oks_nms",
]
