"""Diagnostic: COCO AP of keypoint results as scored, and with each person re-scored by its own
OKS against the ground truth (an oracle ranking).

AP ranks every predicted person across the whole set by its instance score; a model can place
joints better yet score AP lower if its scores rank persons worse. The oracle-ranked AP measures
where the joints land, independently of the scores (it is an upper bound, not a metric to report).
With every score equal, AP uses no ranking at all (pycocotools keeps the file order).

    .venv/bin/python studies/synthetic_ssl/oracle_ap.py data/synthetic-ssl/annotations/person_keypoints_val.json \\
        runs/synthetic-ssl-l100/*/eval/keypoints_*results.json

COCO's 17 keypoints (the synthetic data's set).
"""
import json
import sys
from pathlib import Path

import numpy as np

from semipose.evaluation import evaluate_coco_keypoints, load_coco_gt
from semipose.evaluation.nms import _oks_from_sq_dist  # the OKS formula OKS-NMS uses
from semipose.skeletons import get_skeleton


def oracle_scores(gt, results: list, sigmas: np.ndarray) -> list:
    """``results`` with each score replaced by the person's best OKS (COCOeval's form: ground-truth
    area, labelled ground-truth keypoints only) against the ground truth of its image."""
    var = (2.0 * sigmas) ** 2
    per_image = {}  # image id -> ((G, K, 3) keypoints, (G,) areas) of its non-crowd persons
    for image_id, anns in gt.imgToAnns.items():
        anns = [a for a in anns if not a.get("iscrowd", 0)]
        if anns:
            per_image[image_id] = (np.asarray([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), -1, 3),
                                   np.asarray([a["area"] for a in anns], dtype=np.float64))
    out = []
    for det in results:
        best = 0.0
        if det["image_id"] in per_image:
            gk, area = per_image[det["image_id"]]
            dk = np.asarray(det["keypoints"], dtype=np.float64).reshape(-1, 3)
            d2 = ((gk[..., :2] - dk[None, :, :2]) ** 2).sum(-1)
            best = float(_oks_from_sq_dist(d2, area, var, gk[..., 2] > 0).max())
        out.append({**det, "score": best})
    return out


def main(gt_file: str, result_files: list) -> None:
    skeleton = get_skeleton("coco17")
    gt = load_coco_gt(gt_file, skeleton=skeleton)
    k = skeleton.num_keypoints
    for path in result_files:
        results = json.loads(Path(path).read_text())
        if not results:
            raise SystemExit(f"{path}: no keypoint results")
        wrong = next((r for r in results if len(r["keypoints"]) != 3 * k), None)
        if wrong is not None:
            raise SystemExit(f"{path}: {len(wrong['keypoints']) // 3} keypoints per person, ground truth has {k}")
        scored = evaluate_coco_keypoints(gt, results, sigmas=skeleton.sigmas)
        oracle = evaluate_coco_keypoints(gt, oracle_scores(gt, results, skeleton.sigmas), sigmas=skeleton.sigmas)
        equal = evaluate_coco_keypoints(gt, [{**r, "score": 1.0} for r in results], sigmas=skeleton.sigmas)
        print(f"{path}: AP {scored['AP']:.4f}  AR {scored['AR']:.4f}  AP with oracle ranking {oracle['AP']:.4f}"
              f"  AP with equal scores {equal['AP']:.4f}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
