"""The mirror-mouse study's fixed split (studies/mirror_mouse/mouse_study.sh): of the imported project's 90
labelled frames, 20 spread evenly over the sorted file names are the test set (test.json);
of the other 70, each seed's label budget is a seeded random choice (train_<budget>_s<seed>.json;
the full budget is all 70).

    python studies/mirror_mouse/mouse_split.py DATA_DIR --budgets 10 70 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def subset(doc: dict, ids: set[int]) -> dict:
    return {**doc, "images": [im for im in doc["images"] if im["id"] in ids],
            "annotations": [a for a in doc["annotations"] if a["image_id"] in ids]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="the folder `semipose data import` wrote (annotations.json, images/)")
    ap.add_argument("--test", type=int, default=20)
    ap.add_argument("--budgets", type=int, nargs="+", default=[10, 70])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    a = ap.parse_args()
    doc = json.loads((a.data / "annotations.json").read_text())
    images = sorted(doc["images"], key=lambda im: im["file_name"])
    n = len(images)
    test = {images[round(i * (n - 1) / (a.test - 1))]["id"] for i in range(a.test)}
    pool = [im["id"] for im in images if im["id"] not in test]
    (a.data / "test.json").write_text(json.dumps(subset(doc, test)))
    for seed in a.seeds:
        order = pool[:]
        random.Random(seed).shuffle(order)
        for b in a.budgets:
            (a.data / f"train_{b}_s{seed}.json").write_text(json.dumps(subset(doc, set(order[:b]))))
    print(f"{len(test)} test frames, a pool of {len(pool)}; budgets {a.budgets} for seeds {a.seeds} in {a.data}")


if __name__ == "__main__":
    main()
