"""The mirror-mouse study's suggest round (studies/mirror_mouse/mouse_suggest.sh): the labelled frames not
in a seed's 10-label set and not in the test set play the unlabelled pool, their labels hidden
from `semipose suggest`; this script writes the pool folder and, once suggest has chosen, the
20-label sets: the 10 labels plus the 10 suggested frames, and plus 10 frames drawn at random.

    python studies/mirror_mouse/mouse_suggest.py pool DATA_DIR --seed 0                 # DATA_DIR/pool_s0/ (links)
    python studies/mirror_mouse/mouse_suggest.py sets DATA_DIR --seed 0 --suggested OUT/scores.csv --draws 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
from pathlib import Path


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def pool_images(data: Path, seed: int) -> list[dict]:
    """The labelled frames in neither the test set nor the seed's 10-label set, sorted by name."""
    doc, test, train = _load(data / "annotations.json"), _load(data / "test.json"), _load(data / f"train_10_s{seed}.json")
    used = {im["id"] for im in test["images"]} | {im["id"] for im in train["images"]}
    return sorted((im for im in doc["images"] if im["id"] not in used), key=lambda im: im["file_name"])


def with_images(data: Path, seed: int, extra: set[int]) -> dict:
    doc, train = _load(data / "annotations.json"), _load(data / f"train_10_s{seed}.json")
    ids = {im["id"] for im in train["images"]} | extra
    return {**doc, "images": [im for im in doc["images"] if im["id"] in ids],
            "annotations": [a for a in doc["annotations"] if a["image_id"] in ids]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("pool", "sets"))
    ap.add_argument("data", type=Path)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--suggested", type=Path, help="suggest's scores.csv (sets)")
    ap.add_argument("--draws", type=int, default=2, help="random draws of 10 (sets)")
    ap.add_argument("--n", type=int, default=10)
    a = ap.parse_args()
    pool = pool_images(a.data, a.seed)
    folder = a.data / f"pool_s{a.seed}"
    if a.what == "pool":
        folder.mkdir(exist_ok=True)
        for im in pool:  # flat names: the frame names are unique
            link = folder / Path(im["file_name"]).name
            if not link.exists():
                os.symlink((a.data / "images" / im["file_name"]).resolve(), link)
        print(f"{len(pool)} pool frames linked in {folder}")
        return
    by_name = {Path(im["file_name"]).name: im["id"] for im in pool}
    with open(a.suggested, newline="") as f:
        chosen = [Path(r["source"]).name for r in csv.DictReader(f) if r["chosen"] in ("1", "True", "true")]
    if len(chosen) != a.n or any(c not in by_name for c in chosen):
        raise SystemExit(f"{a.suggested}: expected {a.n} chosen pool frames, got {chosen}")
    (a.data / f"train_20sug_s{a.seed}.json").write_text(json.dumps(with_images(a.data, a.seed, {by_name[c] for c in chosen})))
    for d in range(a.draws):
        ids = [im["id"] for im in pool]
        random.Random(1000 * a.seed + d).shuffle(ids)
        (a.data / f"train_20rand{d}_s{a.seed}.json").write_text(json.dumps(with_images(a.data, a.seed, set(ids[: a.n]))))
    print(f"suggested: {', '.join(sorted(chosen))}; {a.draws} random draws written")


if __name__ == "__main__":
    main()
