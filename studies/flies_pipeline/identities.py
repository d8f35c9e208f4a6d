"""Identity switches of `semipose predict`'s tracks against the tracks of the labels (SLEAP's),
over every labelled frame of a video, and the same predictions without the tracker (each frame's
instances numbered by score) for comparison; MOTA = 1 - (missed + extra + switches) / labelled.

    python studies/flies_pipeline/identities.py PRED_DIR ANNOTATIONS.json [--max-distance PX]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from semipose.evaluation.tracking import identity_switches, score_instances
from semipose.video import parse_frame_ref


def _frame(name: str) -> int:
    ref = parse_frame_ref(name, must_exist=False)
    if ref is None:
        raise SystemExit(f"{name}: not a video frame (clip.mp4#i)")
    return ref[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("pred_dir")
    ap.add_argument("annotations")
    ap.add_argument("--max-distance", type=float, default=50.0, help="a match further than this mean keypoint distance (px) is none")
    args = ap.parse_args()
    pred_dir = Path(args.pred_dir)
    info = json.loads((pred_dir / "image_info.json").read_text())
    frame_of = {int(im["id"]): _frame(str(im["file_name"])) for im in info["images"]}
    preds: dict[int, list[dict]] = defaultdict(list)
    for r in json.loads((pred_dir / "predictions.json").read_text()):
        preds[frame_of[int(r["image_id"])]].append(r)
    gt_doc = json.loads(Path(args.annotations).read_text())
    gframe = {int(im["id"]): _frame(str(im["file_name"])) for im in gt_doc["images"]}
    gts: dict[int, list[dict]] = defaultdict(list)
    for a in gt_doc["annotations"]:
        gts[gframe[int(a["image_id"])]].append(a)
    frames = sorted(gts)
    gt_poses, gt_tracks, p_poses, p_ids, p_rank = [], [], [], [], []
    for f in frames:
        g = np.array([a["keypoints"] for a in gts[f]], np.float64).reshape(len(gts[f]), -1, 3)
        gt_poses.append(np.where(g[..., 2:] > 0, g[..., :2], np.nan))
        gt_tracks.append([a.get("track", i) for i, a in enumerate(gts[f])])
        rs = sorted(preds.get(f, []), key=lambda r: -float(r["score"]))
        p = np.array([r["keypoints"] for r in rs], np.float64).reshape(len(rs), -1, 3)[..., :2]
        p_poses.append(p)
        p_ids.append([int(r["track_id"]) for r in rs])
        p_rank.append(list(range(len(rs))))
    inst = score_instances(p_poses, gt_poses, max_distance=args.max_distance)
    n_gt = sum(len(g) for g in gt_poses)
    rows = {}
    for name, ids in (("tracker", p_ids), ("no tracker (instances numbered by score)", p_rank)):
        t = identity_switches(p_poses, ids, gt_poses, gt_tracks, max_distance=args.max_distance)
        mota = 1 - (inst.missed + inst.extra + t.switches) / max(n_gt, 1)
        rows[name] = {"switches": t.switches, "matched": t.matched, "missed": t.missed, "extra": inst.extra, "MOTA": round(mota, 4),
                      "tracks": len({i for ids_ in ids for i in ids_})}
    print(f"{len(frames)} labelled frames, {n_gt} labelled instances; matched within {args.max_distance:g} px mean keypoint distance")
    for name, r in rows.items():
        print(f"{name}: {r}")
    (pred_dir / "identities.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
