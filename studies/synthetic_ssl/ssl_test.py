"""Score the synthetic semi-supervised runs on a large held-out test set (docs/results.md).

The validation split the runs report on has 300 images (582 persons); between two checkpoints
of nearly the same quality its AP moves by about one point with the seed. This script scores
each run's last checkpoint on a separate, four times larger test set: 1200 images drawn with
generator seed 1 (the training and validation images use seed 0) at the training data's image
size and difficulty. It makes that set in ``data/synthetic-ssl-test`` if it is missing, runs
``semipose eval`` once per run (results kept in ``<run>/eval_<test set folder name>``), and prints a Markdown
table of AP per run group (PoseDual: the mean of its two networks, the ensemble in brackets).

    .venv/bin/python studies/synthetic_ssl/ssl_test.py runs/synthetic-ssl-l100 runs/synthetic-ssl-l100-s1

The run names are those of configs/synthetic/ (the folders studies/synthetic_ssl/ssl_synthetic.sh writes);
a missing run is shown as "—". ``--score`` takes run folders instead of groups and prints one
``<run><TAB><cell>`` line each (studies/synthetic_ssl/method_table.sh scores every run as soon as it ends);
with no run it only makes the test set.

    .venv/bin/python studies/synthetic_ssl/ssl_test.py --score runs/method-table/s1/posecons_jc
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = [("supervised", "supervised"), ("PoseCons", "posecons_jc"), ("PoseDual, reference weights", "posedual_jc"),
        ("PoseDual, equal weights", "posedual_jc_equal"), ("MultiAugs", "multiaugs_joco_jccm")]
#: every method with and without the EMA teacher, and SSPCM (studies/synthetic_ssl/method_table.sh)
RUNS_ALL = [("supervised", "supervised"), ("PoseCons", "posecons_jc"), ("PoseCons EMA", "posecons_jc_ema"),
            ("PoseDual", "posedual_jc"), ("PoseDual EMA", "posedual_jc_ema"), ("MultiAugs", "multiaugs_joco_jccm"),
            ("MultiAugs EMA", "multiaugs_joco_jccm_ema"), ("MultiAugs-dual", "multiaugs_dual_joco_jccm"),
            ("MultiAugs-dual EMA", "multiaugs_dual_joco_jccm_ema"), ("SSPCM", "sspcm_jo")]
TEST_IMAGES = 1200
TEST_SEED = 1


def make_test_set(train_root: Path, test_root: Path) -> None:
    """Generate ``test_root`` with the settings of the synthetic set in ``train_root``, another seed."""
    meta = train_root / "synth.json"
    if not meta.is_file():
        raise SystemExit(f"{meta}: not found; the training data must be a `semipose data synth` set")
    settings = json.loads(meta.read_text())["settings"]
    if int(settings["seed"]) == TEST_SEED:
        raise SystemExit(f"{meta}: the training data already uses seed {TEST_SEED}; the test set would overlap it")
    w, h = settings["image_size"]
    subprocess.run([str(ROOT / ".venv/bin/semipose"), "data", "synth", str(test_root), "--train", "0", "--unlabeled", "0",
                    "--val", str(TEST_IMAGES), "--image-size", f"{w}x{h}", "--difficulty", str(settings["difficulty"]),
                    "--seed", str(TEST_SEED), "--no-progress"], check=True)


def evaluate(run: Path, test_root: Path) -> Path:
    """``<run>/eval_<test_root name>/metrics.json``, made by ``semipose eval`` of the run's last
    checkpoint unless it exists."""
    out = run / f"eval_{test_root.name}"
    metrics = out / "metrics.json"
    if not metrics.is_file():
        ckpt = run / "checkpoints" / "last.pt"
        if not ckpt.is_file():
            raise SystemExit(f"{ckpt}: not found (did the run finish?)")
        proc = subprocess.run([str(ROOT / ".venv/bin/semipose"), "eval", str(run / "config.yaml"), "--checkpoint", str(ckpt),
                        "--out", str(out), "--no-progress", "num_threads=1", f"data.root={test_root}",
                        "data.val.ann_file=annotations/person_keypoints_val.json", "data.val.image_dir=images/val"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"evaluating {ckpt} failed:\n{proc.stderr[-3000:]}")
    return metrics


def cell(metrics: dict) -> str:
    """AP of one run for the table: one network's AP, or for two networks their mean and the
    ensemble's AP in brackets. ``metrics`` is ``semipose eval``'s metrics.json."""
    if "AP" in metrics:
        return f"{metrics['AP']:.4f}"
    nets = [v["AP"] for k, v in metrics.items() if not k.endswith("ensemble")]
    if not nets:
        raise ValueError(f"no AP in {sorted(metrics)}")
    text = f"{sum(nets) / len(nets):.4f}"
    ens = [v["AP"] for k, v in metrics.items() if k.endswith("ensemble")]
    return text + (f" ({ens[0]:.4f})" if ens else "")


def score(run: Path, test_root: Path) -> str:
    """The table cell of one run folder on the test set (scored first if not yet)."""
    return cell(json.loads(evaluate(run, test_root).read_text()))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("groups", nargs="*", type=Path,
                   help="run groups (folders holding supervised/, posecons_jc/, ...); with --score: run folders")
    p.add_argument("--train-data", type=Path, default=ROOT / "data/synthetic-ssl", help="the runs' synthetic set")
    p.add_argument("--test-data", type=Path, default=ROOT / "data/synthetic-ssl-test", help="where the test set is (made if missing)")
    p.add_argument("--runs", choices=["ssl", "all"], default="ssl",
                   help="the columns: the ssl_synthetic.sh runs (default) or every method with and without EMA (method_table.sh)")
    p.add_argument("--score", action="store_true", help="score the given run folders, one tab-separated line each")
    args = p.parse_args(argv)
    if not args.groups and not args.score:
        p.error("give at least one run group")
    runs = RUNS_ALL if args.runs == "all" else RUNS
    if not (args.test_data / "annotations/person_keypoints_val.json").is_file():
        make_test_set(args.train_data, args.test_data)
    test_root = args.test_data.resolve()
    if args.score:
        for run in args.groups:
            print(f"{run}\t{score(run, test_root)}", flush=True)
        return
    print("| runs | " + " | ".join(name for name, _ in runs) + " |")
    print("|---" * (len(runs) + 1) + "|")
    for group in args.groups:
        cells = []
        for _, folder in runs:
            run = group / folder
            if not (run / "config.yaml").is_file():
                cells.append("—")
                continue
            cells.append(score(run, test_root))
        print(f"| {group} | " + " | ".join(cells) + " |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
