"""The ``semipose`` command end to end on small files, including its error messages."""

from __future__ import annotations

import json

import pytest

from semipose.cli import main


def test_data_synth_train_eval_bench(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "synth", str(out), "--train", "12", "--unlabeled", "2", "--val", "6", "--image-size", "256x192",
                 "--workers", "0", "--no-progress"]) == 0
    assert (out / "annotations/person_keypoints_train.json").is_file()
    # regenerating into the same folder needs --overwrite
    assert main(["data", "synth", str(out), "--train", "2", "--val", "2", "--unlabeled", "0", "--workers", "0", "--no-progress"]) == 2
    assert "synth.json" in capsys.readouterr().err

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"""
name: cli
output_dir: {tmp_path / 'runs'}
data:
  root: {out}
  train: {{ann_file: annotations/person_keypoints_train.json, image_dir: images/train}}
  val: {{ann_file: annotations/person_keypoints_val.json, image_dir: images/val, det_file: annotations/detections_val.json}}
  input_size: [64, 64]
  workers: 0
model: {{arch: resnet18, deconv_filters: [32, 32, 32]}}
train: {{epochs: 1, batch_size: 4, max_iters_per_epoch: 2}}
eval: {{batch_size: 8, num_vis_images: 1}}
"""
    )
    assert main(["train", str(cfg), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "run folder:" in text
    ckpt = tmp_path / "runs/cli/checkpoints/best.pt"
    assert ckpt.is_file()

    eval_out = tmp_path / "ev"
    assert main(["eval", "--checkpoint", str(ckpt), "--out", str(eval_out), "--flip-test",
                 "--det-file", str(out / "annotations/detections_val.json"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "boxes = detector" in text and "flip test = on" in text and "| AP |" in text
    metrics = json.loads((eval_out / "metrics.json").read_text())
    assert list(metrics) == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
    assert (eval_out / "keypoints_net_results.json").is_file()

    # test-dev style: an image_info file + detector boxes, results written, nothing scored; DARK decoding
    fo = tmp_path / "fo"
    assert main(["eval", "--checkpoint", str(ckpt), "--out", str(fo), "--format-only", "--decoder", "dark",
                 "--det-file", str(out / "annotations/detections_unlabeled.json"), "data.val.ann_file=annotations/image_info_unlabeled.json",
                 "data.val.image_dir=images/unlabeled", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "decoder = DARK" in text and "format only" in text and not (fo / "metrics.json").exists()
    results = json.loads((fo / "keypoints_net_results.json").read_text())
    assert results and {"image_id", "category_id", "keypoints", "score"} <= set(results[0])

    # a bare state_dict in a reference-style wrapper evaluates too; a mismatched one is refused by name
    import torch

    state = torch.load(ckpt, weights_only=True)["nets"][0]
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, tmp_path / "wrapped.pth")
    assert main(["eval", str(cfg), "--checkpoint", str(tmp_path / "wrapped.pth"), "--out", str(tmp_path / "ev2"), "--no-progress"]) == 0
    capsys.readouterr()
    del state["final_layer.bias"]
    torch.save(state, tmp_path / "broken.pth")
    assert main(["eval", str(cfg), "--checkpoint", str(tmp_path / "broken.pth"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "broken.pth" in err and "final_layer.bias" in err

    bench_json = tmp_path / "bench.json"
    assert main(["bench", "network", "--arch", "resnet18", "--input", "64x64", "--batch", "2", "--steps", "1", "--warmup", "0",
                 "--json", str(bench_json)]) == 0
    rep = json.loads(bench_json.read_text())
    assert rep["network"][0]["arch"] == "resnet18" and rep["network"][0]["step_ms"] > 0
    assert main(["bench", "step", "--input", "64x64", "--batch", "2", "--steps", "1", "--warmup", "0",
                 "--methods", "supervised,multiaugs-2,sspcm,temporal,pose-prior", "--json", str(bench_json)]) == 0
    rows = json.loads(bench_json.read_text())["step"]
    assert [r["method"] for r in rows] == ["supervised", "multiaugs-2", "sspcm", "temporal", "pose-prior"]
    assert rows[1]["network_passes"] == 4 and rows[1]["step_ms"] > 0 and rows[1]["network_ms"] > 0
    assert rows[2]["network_passes"] == 3 * 2 + 2  # three supervised + three student passes, two teachers
    assert rows[3]["network_passes"] == 1 + 3 and rows[4]["network_passes"] == 1 + 1  # (t-1, t, t+1) in one pass; t alone
    assert main(["bench", "frames", "--input", "64x64", "--batch", "2", "--batches", "2", "--workers", "0", "--json", str(bench_json)]) == 0
    frames = {r["mode"]: r for r in json.loads(bench_json.read_text())["frames"]}
    assert frames["single"]["crops"] == frames["tuples"]["crops"] == 4 and frames["tuples"]["frames_per_s"] > 0
    assert main(["bench", "augment", "--input", "64x32", "--batch", "2", "--steps", "1", "--warmup", "0", "--json", str(bench_json)]) == 0
    aug = {r["recipe"]: r for r in json.loads(bench_json.read_text())["augment"]}
    assert {"CO", "CM", "MU", "JC", "JO", "JOCO", "JCCM", "RA", "TA"} <= set(aug) and all(r["ms"] > 0 for r in aug.values())
    assert main(["bench", "predict", "--input", "64x64", "--batch", "3", "--steps", "1", "--warmup", "0", "--json", str(bench_json)]) == 0
    pred = json.loads(bench_json.read_text())["predict"]
    assert [r["backend"] for r in pred][0] == "torch" and "onnxruntime" in [r["backend"] for r in pred]
    assert all(r["api_ms"] > 0 and r["forward_ms"] > 0 and r["persons_per_s"] > 0 for r in pred)
    assert main(["bench", "step", "--methods", "fixmatch"]) == 2
    capsys.readouterr()
    assert main(["bench", "step", "--input", "48x64"]) == 2
    assert "48x64" in capsys.readouterr().err
    assert main(["bench", "eval", "--persons", "30", "--steps", "1", "--json", str(bench_json)]) == 0
    ev = json.loads(bench_json.read_text())["eval"]
    assert ev["AP_shift"] > 0.9 and ev["AP_dark"] > 0.9 and ev["decode_dark_ms"] > 0
    assert main(["bench", "data", "--input", "64x64", "--batch", "4", "--batches", "2", "--workers", "0",
                 "--ann-file", str(out / "annotations/person_keypoints_train.json"), "--image-dir", str(out / "images/train")]) == 0
    assert "samples/s" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "nope.yaml"], "nope.yaml: config file not found"),
        (["eval", "--checkpoint", "missing.pt"], "missing.pt: checkpoint not found"),
    ],
)
def test_errors_are_one_clear_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_config_key_and_bad_image(tmp_path, capsys, sample_data):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: x\ntrain: {epochs: 1, lrr: 0.1}\n")
    assert main(["train", str(cfg)]) == 2
    assert "unknown config key 'train.lrr'" in capsys.readouterr().err
    # a training set whose image is corrupt: the error names the file
    (tmp_path / "img").mkdir()
    ann = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    for im in ann["images"]:
        (tmp_path / "img" / im["file_name"]).write_bytes(b"not a jpeg")
    (tmp_path / "a.json").write_text(json.dumps(ann))
    cfg.write_text(
        f"name: x\noutput_dir: {tmp_path / 'runs'}\ndata: {{root: {tmp_path}, train: {{ann_file: a.json, image_dir: img}}, "
        "val: {ann_file: a.json, image_dir: img}, input_size: [64, 64], workers: 0}\n"
        "model: {arch: resnet18, deconv_filters: [16, 16, 16]}\ntrain: {epochs: 1, batch_size: 2}\n"
    )
    assert main(["train", str(cfg), "--no-progress"]) == 2
    assert "cannot decode image" in capsys.readouterr().err


def test_models_lists_aligned_columns(capsys):
    from semipose.hub import KNOWN_MODELS

    assert main(["models"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.split(" ", 1)[0] in {"name", *KNOWN_MODELS}]
    assert len(rows) == len(KNOWN_MODELS) + 1
    starts = {line.index("https://") if "https://" in line else line.index("source") for line in rows}
    assert len(starts) == 1  # every row's source begins in one column


def test_eval_writes_beside_the_model_or_into_its_run(tmp_path):
    from semipose.cli.eval import eval_dir_for

    run = tmp_path / "runs/x"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("name: x\n")
    assert eval_dir_for(str(run / "checkpoints/best.pt"), "T") == run / "eval-T"
    assert eval_dir_for(str(tmp_path / "models/res18.pt"), "T") == tmp_path / "models/eval-res18-T"
    assert eval_dir_for(str(tmp_path / "checkpoints/best.pt"), "T") == tmp_path / "checkpoints/eval-best-T"  # no run around it


def test_bench_runs_only_native_modes_unless_asked(monkeypatch, capsys):
    """On a CPU without native bf16 the default bench modes skip bf16 (a slow fallback there) and say so."""
    import torch

    import semipose.device as device
    from semipose.bench import native_modes

    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "fast_bf16", lambda d: False)
    modes, note = native_modes("network", cpu)
    assert modes == ["fp32"] and note.startswith("skipped bf16, bf16+cl: no native bf16") and "--modes" in note
    modes, note = native_modes("network", cpu, ["fp32", "bf16"])
    assert modes == ["fp32", "bf16"] and "bf16 runs though" in note
    assert native_modes("step", cpu) == (["fp32"], "")
    assert main(["bench", "network", "--arch", "resnet18", "--input", "64x64", "--batch", "2", "--steps", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "skipped bf16, bf16+cl" in out and " bf16 " not in out.split("vs fp32", 1)[1]
    monkeypatch.setattr(device, "fast_bf16", lambda d: True)
    assert native_modes("network", cpu) == (["fp32", "bf16", "bf16+cl"], "")
