"""The two-fly clip split of the multi-instance study (docs/results.md, "Several animals in a frame"):
test = the last 300 frames (1200-1499), labelled = 50 frames of the rest, the same frames
`semipose compare --test last:300 --budgets 50` gives its repeat 0 (semipose.data.splits).

    python studies/flies_pipeline/split.py PROJECT_DIR [BUDGET]

writes PROJECT_DIR/train50.json and PROJECT_DIR/test.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

from semipose.data.splits import make_splits, read_pool, write_subset


def main(project: str, budget: int = 50) -> None:
    p = Path(project)
    pool, train_ids, val_ids = read_pool(str(p / "train.json"), str(p / "val.json"))
    names = {int(im["id"]): str(im["file_name"]) for im in pool["images"]}
    (split,), what = make_splits(train_ids, val_ids, mode="last", repeats=1, last=300, order=names)
    write_subset(pool, split.budget(budget), p / f"train{budget}.json")
    write_subset(pool, split.test, p / "test.json")
    print(f"{p / f'train{budget}.json'}: {budget} labelled frames; {p / 'test.json'}: {what}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50)
