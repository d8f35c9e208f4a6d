"""`semipose compare` on the real mirror-mouse project (90 labelled frames, its video as the
unlabelled set): folds test every frame once, each finished cell goes into the results file and
is not run again, the report has intervals, paired differences and a verdict, --dry-run trains
nothing, and bad input is one line."""

from __future__ import annotations

import json

import pytest

from semipose.cli import main

TINY = ["data.input_size=[64,64]", "model.arch=resnet18", "model.pretrained=null", "model.deconv_filters=[16,16,16]", "data.workers=0",
        "train.batch_size=4", "train.unlabeled_batch_size=4", "data.unlabeled.frame_stride=100"]


@pytest.fixture(scope="module")
def mouse(sample_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("mouse") / "mm"
    video = sample_data / "mirror-mouse/videos/test_vid.mp4"
    assert main(["data", "import", str(sample_data / "mirror-mouse/CollectedData.csv"), "--format", "dlc", "--out", str(out),
                 "--videos", str(video)]) == 0
    return out / "config.yaml"


def test_compare_runs_resumes_and_reports(mouse, tmp_path, capsys):
    args = ["compare", str(mouse), *TINY, "--methods", "supervised,pose-prior", "--budgets", "10,all", "--repeats", "2", "--test", "folds",
            "--unlabeled", "pool",
            "--steps", "2", "--out", str(tmp_path / "cmp"), "--no-progress"]
    capsys.readouterr()
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 line(s) x 2 budget(s) x 2 repeat(s) = 8 cells, 2 steps each; 0 finished" in out and "2 folds of the 90 labelled frames" in out
    assert "8 cell(s) to run, about" in out and not (tmp_path / "cmp/cells.jsonl").exists()
    assert main(args) == 0
    out = capsys.readouterr().out
    cells = [json.loads(t) for t in (tmp_path / "cmp/cells.jsonl").read_text().splitlines()]
    assert len(cells) == 8 and {c["line"] for c in cells} == {"supervised", "pose-prior"}
    tested = [set(c["image_ids"]) for c in cells if c["line"] == "supervised" and c["budget"] == 10]
    assert len(tested) == 2 and not tested[0] & tested[1] and len(tested[0] | tested[1]) == 90  # every frame tested once
    assert all(c["labelled_frames"] == (10 if c["budget"] == 10 else 45) for c in cells)
    assert "verdict:" in out and "Δ RMSE px" in out
    summary = json.loads((tmp_path / "cmp/compare.json").read_text())
    row = summary["budgets"]["10"]["pose-prior"]
    assert row["repeats"] == 2 and row["paired_repeats"] == 2 and len(row["paired"]["rmse"]) == 3
    lo, v, hi = row["summary"]["rmse"][1], row["summary"]["rmse"][0], row["summary"]["rmse"][2]
    assert lo <= v <= hi and (tmp_path / "cmp/compare.png").stat().st_size > 1000
    assert not (tmp_path / "cmp/runs/supervised-b10-r0/checkpoints").exists()  # scored, then removed
    # resumed: nothing is run again; a cell of another grid (other steps) is not taken for this one's
    assert main(args) == 0
    assert "8 finished" in capsys.readouterr().out and len((tmp_path / "cmp/cells.jsonl").read_text().splitlines()) == 8
    assert main([*args[:-5], "--steps", "3", "--out", str(tmp_path / "cmp"), "--dry-run"]) == 0
    assert "0 finished" in capsys.readouterr().out


def test_bad_input_is_one_line(mouse, tmp_path, capsys):
    base = ["compare", str(mouse), *TINY, "--out", str(tmp_path / "c"), "--dry-run"]
    for extra, msg in ((["--methods", "supervised,magic"], "unknown line 'magic'"), (["--budgets", "10,x"], "label budget"),
                       (["--budgets", "500"], "a budget of 500 labelled frames"), (["--test", "folds", "--repeats", "1"], "--repeats ≥ 2"),
                       (["--line", "bad"], "NAME:KEY=VALUE")):
        assert main([*base, *extra]) == 2, extra
        assert msg in capsys.readouterr().err


def test_until_plateau_finds_the_steps_once(mouse, tmp_path, capsys):
    """The plateau search trains supervised until its test RMSE stops improving, records the steps
    in the results file, and a rerun reads them back instead of searching again."""
    from semipose.engine.compare import _plateau_step

    assert _plateau_step([(100, 50.0), (200, 40.0), (300, 39.9), (400, 41.0)], 2, 0.02) == 200
    assert _plateau_step([(100, 50.0), (200, 40.0), (300, 30.0)], 2, 0.02) is None
    args = ["compare", str(mouse), *TINY, "--methods", "supervised", "--budgets", "5", "--repeats", "2", "--test", "folds",
            "--until-plateau", "--plateau-every", "2", "--max-steps", "8", "--out", str(tmp_path / "p"), "--no-progress", "--dry-run"]
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "has not run yet" in out
    assert main(args[:-1] + ["--report-only"]) == 0  # no search without training
    assert main(args[:-1]) == 0
    out = capsys.readouterr().out
    steps = int(out.split("supervised stops improving at ")[1].split()[0])
    assert 2 <= steps <= 8 and f"every cell trains {steps}" in out
    recs = [json.loads(t) for t in (tmp_path / "p/cells.jsonl").read_text().splitlines()]
    plateau = [r for r in recs if "plateau" in r]
    assert len(plateau) == 1 and plateau[0]["steps"] == steps and len(plateau[0]["curve"]) >= 1
    assert {r["steps"] for r in recs if "line" in r} == {steps}
    assert main(args) == 0  # read back: no second search
    assert "supervised stops improving at" in capsys.readouterr().out
    assert len([t for t in (tmp_path / "p/cells.jsonl").read_text().splitlines() if "plateau" in t]) == 1


def test_the_eta_counts_network_passes(mouse):
    from semipose.config import load_config
    from semipose.engine.compare import LINES, network_passes

    passes = {n: network_passes(load_config(mouse, list(ln.overrides))) for n, ln in LINES.items()}
    assert passes == {"supervised": 1, "multiaugs-ema": 4, "temporal": 4, "pose-prior": 2, "video": 4, "multiaugs-ema-video": 7,
                      "posedual": 8}
