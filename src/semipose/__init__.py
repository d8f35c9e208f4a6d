"""semipose — semi-supervised 2D human pose estimation.

Top-down heatmap pose estimation (SimpleBaseline ResNets), COCO-format data, COCO keypoint
evaluation through pycocotools, and a built-in synthetic dataset so everything runs offline.
"""

__version__ = "0.1.0"
