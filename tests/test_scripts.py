"""The scripts users run (scripts/) and the study scripts (studies/) that docs/results.md quotes."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pycocotools")
ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "studies" / "synthetic_ssl" / "oracle_ap.py"


def _person(image_id: int, ann_id: int, x0: float) -> dict:
    kps = []
    for k in range(17):
        kps += [x0 + 5.0 * (k % 4), 20.0 + 8.0 * k, 2]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
            "keypoints": kps, "area": 40.0 * 150.0, "bbox": [x0, 20.0, 40.0, 150.0]}


def test_oracle_ranking_repairs_bad_scores(tmp_path: Path) -> None:
    """Two images: a perfect prediction with a low score and a poor one with a high score.
    Re-scored by OKS, the ranking is right, so the oracle AP is at least the AP as scored, and
    strictly higher here."""
    gts = [_person(1, 1, 30.0), _person(2, 2, 30.0)]
    gt = {"images": [{"id": i, "width": 200, "height": 200, "file_name": f"{i}.jpg"} for i in (1, 2)],
          "annotations": gts,
          "categories": [{"id": 1, "name": "person", "keypoints": [str(k) for k in range(17)], "skeleton": []}]}
    good = {"image_id": 1, "category_id": 1, "keypoints": gts[0]["keypoints"], "score": 0.1}
    bad_kps = list(gts[1]["keypoints"])
    bad_kps[0::3] = [x + 9.0 for x in bad_kps[0::3]]
    bad = {"image_id": 2, "category_id": 1, "keypoints": bad_kps, "score": 0.9}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps([good, bad]))
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "gt.json"), str(tmp_path / "res.json")],
                         capture_output=True, text=True, check=True).stdout
    ap = float(out.split("AP ")[1].split()[0])
    oracle = float(out.split("oracle ranking ")[1].split()[0])
    assert oracle > ap + 0.05, out


def test_oracle_rejects_keypoint_count_mismatch(tmp_path: Path) -> None:
    gt = {"images": [{"id": 1, "width": 200, "height": 200, "file_name": "1.jpg"}], "annotations": [_person(1, 1, 30.0)],
          "categories": [{"id": 1, "name": "person"}]}
    res = [{"image_id": 1, "category_id": 1, "keypoints": [10.0, 10.0, 1.0] * 16, "score": 1.0}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res))
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "gt.json"), str(tmp_path / "res.json")],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "res.json" in proc.stderr and "16 keypoints" in proc.stderr


TEST_SCRIPT = Path(__file__).resolve().parents[1] / "studies" / "synthetic_ssl" / "ssl_test.py"


def stored_test_metrics(tmp_path: Path, group: Path, metrics: dict, config: bool = True) -> Path:
    """An (empty) test set in ``tmp_path`` and, per run of ``metrics``, ``<group>/<run>`` holding
    its stored test metrics (and a config.yaml unless ``config`` is False); returns the test set."""
    test_set = tmp_path / "synthetic-ssl-test"
    (test_set / "annotations").mkdir(parents=True)
    (test_set / "annotations" / "person_keypoints_val.json").write_text("{}")
    for run, m in metrics.items():
        (group / run / "eval_synthetic-ssl-test").mkdir(parents=True)
        if config:
            (group / run / "config.yaml").write_text("name: x\n")
        (group / run / "eval_synthetic-ssl-test" / "metrics.json").write_text(json.dumps(m))
    return test_set


def test_ssl_test_table_from_stored_metrics(tmp_path: Path) -> None:
    """The table takes each run's stored test metrics: one network's AP, or two networks' mean
    with the ensemble in brackets; a run that is not there shows as a dash."""
    group = tmp_path / "runs"
    metrics = {"supervised": {"AP": 0.1, "AR": 0.2},
               "posedual_jc": {"resnet18 net1": {"AP": 0.1}, "resnet18 net2": {"AP": 0.2},
                               "resnet18 ensemble": {"AP": 0.25}}}
    test_set = stored_test_metrics(tmp_path, group, metrics)
    out = subprocess.run([sys.executable, str(TEST_SCRIPT), str(group), "--test-data", str(test_set)],
                         capture_output=True, text=True, check=True).stdout
    row = next(line for line in out.splitlines() if line.startswith(f"| {group} |"))
    assert row.split(" | ")[1:] == ["0.1000", "—", "0.1500 (0.2500)", "—", "— |"], row


def test_ssl_test_every_method_table(tmp_path: Path) -> None:
    """``--runs all``: ten columns, EMA runs and SSPCM's three networks (their mean, the
    ensemble in brackets)."""
    group = tmp_path / "runs"
    metrics = {"posecons_jc_ema": {"AP": 0.3},
               "sspcm_jo": {"resnet18 net1": {"AP": 0.1}, "resnet18 net2": {"AP": 0.2}, "resnet18 net3": {"AP": 0.3},
                            "resnet18 ensemble": {"AP": 0.25}}}
    test_set = stored_test_metrics(tmp_path, group, metrics)
    out = subprocess.run([sys.executable, str(TEST_SCRIPT), str(group), "--test-data", str(test_set), "--runs", "all"],
                         capture_output=True, text=True, check=True).stdout
    assert "| SSPCM |" in out.splitlines()[0] and "PoseCons EMA" in out.splitlines()[0]
    row = next(line for line in out.splitlines() if line.startswith(f"| {group} |"))
    cells = row.split(" | ")[1:]
    assert len(cells) == 10 and cells[2] == "0.3000" and cells[-1] == "0.2000 (0.2500) |"


def test_ssl_test_score_prints_one_line_per_run(tmp_path: Path) -> None:
    """``--score``: the arguments are run folders; one ``<run>\t<cell>`` line each, in order;
    no run at all only checks (or makes) the test set and prints nothing."""
    runs = {"a": {"AP": 0.125}, "b": {"resnet18 net1": {"AP": 0.1}, "resnet18 net2": {"AP": 0.3},
                                      "resnet18 ensemble": {"AP": 0.25}}}
    test_set = stored_test_metrics(tmp_path, tmp_path, runs, config=False)
    base = [sys.executable, str(TEST_SCRIPT), "--test-data", str(test_set), "--score"]
    out = subprocess.run(base + [str(tmp_path / "b"), str(tmp_path / "a")], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [f"{tmp_path / 'b'}\t0.2000 (0.2500)", f"{tmp_path / 'a'}\t0.1250"]
    assert subprocess.run(base, capture_output=True, text=True, check=True).stdout == ""
    proc = subprocess.run([sys.executable, str(TEST_SCRIPT), "--test-data", str(test_set)], capture_output=True, text=True)
    assert proc.returncode == 2 and "give at least one run group" in proc.stderr


def test_ssl_test_needs_generator_metadata(tmp_path: Path) -> None:
    """No test set yet and training data that is not a synthetic set: stop, naming the file."""
    (tmp_path / "train").mkdir()
    proc = subprocess.run([sys.executable, str(TEST_SCRIPT), str(tmp_path / "runs"), "--train-data", str(tmp_path / "train"),
                           "--test-data", str(tmp_path / "test")], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "synth.json" in proc.stderr and "not found" in proc.stderr


def test_gpu_check_says_why_without_cuda():
    """The prepared GPU check imports, and on a machine without CUDA says so in one line."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine runs the real check")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "scripts/gpu_check.py")], capture_output=True, text=True)
    assert out.returncode == 2 and "no CUDA device here" in out.stderr and "Traceback" not in out.stderr


COLLAPSE_PLOT = Path(__file__).resolve().parents[1] / "studies" / "collapse" / "collapse_plot.py"


def test_collapse_plot_figure_and_table(tmp_path: Path) -> None:
    """The collapse study's figure and table from stored metrics.csv files; PoseDual's two
    teachers are averaged; a run that is not there shows as dashes."""
    import csv

    def write(name: str, rows: list[dict]) -> None:
        (tmp_path / name).mkdir()
        with open(tmp_path / name / "metrics.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)

    write("warmup", [{"epoch": 1, "AP": 0.05}, {"epoch": 2, "AP": 0.08}])
    write("same", [{"epoch": 1, "AP": 0.07, "teacher_conf": 0.5, "teacher_low": 0.1},
                   {"epoch": 2, "AP": 0.02, "teacher_conf": 0.1, "teacher_low": 0.7}])
    write("posedual", [{"epoch": 1, "AP": 0.09, "teacher_conf1": 0.6, "teacher_conf2": 0.4, "teacher_low1": 0.1, "teacher_low2": 0.3},
                       {"epoch": 2, "AP": 0.11, "teacher_conf1": 0.7, "teacher_conf2": 0.5, "teacher_low1": 0.0, "teacher_low2": 0.2}])
    out = subprocess.run([sys.executable, str(COLLAPSE_PLOT), str(tmp_path), "--figure", str(tmp_path / "fig" / "c.png")],
                         capture_output=True, text=True, check=True).stdout
    assert (tmp_path / "collapse_study.png").stat().st_size > 10_000 and (tmp_path / "fig" / "c.png").is_file()
    lines = {line.split(" | ")[0][2:]: line for line in out.splitlines() if line.startswith("| (")}
    assert "warm-up AP: 0.0800" in out
    assert "0.500 → 0.100 | 0.100 → 0.700 | 0.0700 → 0.0200" in lines["(a) same difficulty, hard → hard"]
    assert "0.500 → 0.600 | 0.200 → 0.100 | 0.0900 → 0.1100" in lines["(d) PoseDual, easy → hard"]
    assert lines["(b) reversed, hard → easy"].endswith("| — | — | — |")


def test_quick_start_puts_semipose_on_path() -> None:
    """The quick start says what to type for the `semipose` command, and that line works."""
    import semipose

    quick = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("```", 2)[1]
    assert "source .venv/bin/activate" in quick
    assert "source .venv/bin/activate" in (ROOT / "scripts/setup.sh").read_text() + (ROOT / "scripts/demo.sh").read_text()
    if not (ROOT / ".venv/bin/activate").is_file():
        pytest.skip("no .venv here (set up by scripts/setup.sh)")
    out = subprocess.run(["bash", "-c", "source .venv/bin/activate && semipose --version"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == semipose.__version__, out.stderr


def test_mouse_split_is_fixed_and_spread(tmp_path: Path, sample_data) -> None:
    """The mirror-mouse study's split: 20 test frames spread over the project, per-seed budgets
    drawn from the other 70, the same every time."""
    from semipose.cli import main

    assert main(["data", "import", str(sample_data / "mirror-mouse/CollectedData.csv"), "--format", "dlc", "--out", str(tmp_path / "mm")]) == 0
    run = lambda: subprocess.run([sys.executable, str(ROOT / "studies/mirror_mouse/mouse_split.py"), str(tmp_path / "mm"), "--budgets", "10", "70",  # noqa: E731
                                  "--seeds", "0", "1"], capture_output=True, text=True, check=True)
    assert "20 test frames, a pool of 70" in run().stdout
    test = json.loads((tmp_path / "mm/test.json").read_text())
    names = sorted(im["file_name"] for im in test["images"])
    every = sorted(im["file_name"] for im in json.loads((tmp_path / "mm/annotations.json").read_text())["images"])
    assert len(names) == 20 and names[0] == every[0] and names[-1] == every[-1]  # spread from the first frame to the last
    b10 = {im["id"] for im in json.loads((tmp_path / "mm/train_10_s0.json").read_text())["images"]}
    b70 = {im["id"] for im in json.loads((tmp_path / "mm/train_70_s0.json").read_text())["images"]}
    assert len(b10) == 10 and len(b70) == 70 and b10 < b70 and not b70 & {im["id"] for im in test["images"]}
    assert b10 != {im["id"] for im in json.loads((tmp_path / "mm/train_10_s1.json").read_text())["images"]}
    run()
    assert {im["id"] for im in json.loads((tmp_path / "mm/train_10_s0.json").read_text())["images"]} == b10  # fixed

    # the suggest round: the pool is the other 60 frames, images only; suggest's choice + the
    # 10 labels is a 20-label set, and so is each random draw
    py = [sys.executable, str(ROOT / "studies/mirror_mouse/mouse_suggest.py")]
    subprocess.run([*py, "pool", str(tmp_path / "mm"), "--seed", "0"], capture_output=True, text=True, check=True)
    pool = sorted(p.name for p in (tmp_path / "mm/pool_s0").iterdir())
    names10 = {Path(im["file_name"]).name for im in json.loads((tmp_path / "mm/train_10_s0.json").read_text())["images"]}
    assert len(pool) == 60 and not set(pool) & (names10 | {Path(n).name for n in names})
    scores = tmp_path / "scores.csv"
    scores.write_text("source,frame,chosen\n" + "".join(f"{tmp_path}/mm/pool_s0/{n},0,{int(i % 6 == 0)}\n" for i, n in enumerate(pool)))
    subprocess.run([*py, "sets", str(tmp_path / "mm"), "--seed", "0", "--suggested", str(scores), "--draws", "2"],
                   capture_output=True, text=True, check=True)
    sug = {Path(im["file_name"]).name for im in json.loads((tmp_path / "mm/train_20sug_s0.json").read_text())["images"]}
    assert sug == names10 | {n for i, n in enumerate(pool) if i % 6 == 0}
    r0, r1 = ({Path(im["file_name"]).name for im in json.loads((tmp_path / f"mm/train_20rand{d}_s0.json").read_text())["images"]}
              for d in (0, 1))
    assert len(r0) == len(r1) == 20 and names10 < r0 and r0 != r1


def test_suggest_study_runs_resumes_and_reports(tmp_path: Path, sample_data) -> None:
    """studies/compare/suggest_study.py on mirror-mouse at toy size: base models, each mode's +10
    frames, random draws, the paired table; a rerun trains nothing."""
    from semipose.cli import main

    assert main(["data", "import", str(sample_data / "mirror-mouse/CollectedData.csv"), "--format", "dlc", "--out", str(tmp_path / "mm")]) == 0
    cmd = [sys.executable, str(ROOT / "studies/compare/suggest_study.py"), str(tmp_path / "mm/config.yaml"), "model.arch=resnet18",
           "model.pretrained=null", "data.input_size=[64,64]", "model.deconv_filters=[16,16,16]", "data.workers=0", "train.batch_size=4",
           "--out", str(tmp_path / "sg"), "--results", str(tmp_path / "sg.jsonl"), "--test", "folds", "--repeats", "2", "--steps", "1",
           "--draws", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "| uncertainty | 2 |" in out and "| diverse | 2 |" in out and "| random (seed 0) | 2 |" in out
    recs = [json.loads(t) for t in (tmp_path / "sg.jsonl").read_text().splitlines()]
    picks = [r for r in recs if "suggest" in r]
    assert len(picks) == 2 * 4 and all(len(r["picked"]) == 10 for r in picks)
    assert len({tuple(r["picked"]) for r in picks if r["repeat"] == 0 and r["suggest"] == "random"}) == 2  # two different draws
    again = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "done:" not in again.stdout and len((tmp_path / "sg.jsonl").read_text().splitlines()) == len(recs)
