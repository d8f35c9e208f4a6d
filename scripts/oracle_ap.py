"""Diagnostic: COCO AP of keypoint results as scored, and with each person re-scored by its own
OKS against the ground truth (an oracle ranking).

AP ranks every predicted person across the whole set by its instance score; a model can place
joints better yet score AP lower if its scores rank persons worse. The oracle-ranked AP measures
where the joints land, independently of the scores (it is an upper bound, not a metric to report).

    .venv/bin/python scripts/oracle_ap.py data/synthetic/annotations/person_keypoints_val.json \\
        runs/synthetic-ssl-l100/*/eval/keypoints_*results.json
"""
import contextlib
import copy
import io
import json
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def evaluate(gt: COCO, results: list) -> tuple:
    """(AP, AR) of ``results`` (COCO keypoint result dicts) against ``gt``."""
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0], ev.stats[5]


def main(gt_file: str, result_files: list) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_file)
    probe = COCOeval(gt, iouType="keypoints")
    var = (np.asarray(probe.params.kpt_oks_sigmas) * 2) ** 2
    for path in result_files:
        results = json.load(open(path))
        if not results:
            raise SystemExit(f"{path}: no keypoint results")
        for det in results:
            anns = gt.loadAnns(gt.getAnnIds(imgIds=det["image_id"], iscrowd=False))
            if anns and len(det["keypoints"]) != len(anns[0]["keypoints"]):
                raise SystemExit(f"{path}: {len(det['keypoints']) // 3} keypoints per person, "
                                 f"ground truth has {len(anns[0]['keypoints']) // 3}")
        ap, ar = evaluate(gt, copy.deepcopy(results))
        for det in results:
            dk = np.asarray(det["keypoints"], dtype=float).reshape(-1, 3)
            best = 0.0
            for ann in gt.loadAnns(gt.getAnnIds(imgIds=det["image_id"], iscrowd=False)):
                gk = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
                vis = gk[:, 2] > 0
                if vis.any():
                    d2 = ((dk[:, :2] - gk[:, :2]) ** 2).sum(1)
                    best = max(best, float(np.exp(-d2 / var / (ann["area"] + np.spacing(1)) / 2)[vis].mean()))
            det["score"] = best
        oracle, _ = evaluate(gt, results)
        print(f"{path}: AP {ap:.4f}  AR {ar:.4f}  AP with oracle ranking {oracle:.4f}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
