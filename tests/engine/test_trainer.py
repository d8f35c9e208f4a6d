"""The training loop on generated synthetic data: loss goes down, the run folder is complete,
resume is exact, NaN losses stop the run with a clear error."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from semipose.config import load_config
from semipose.data.sources import build_skeleton, build_train_dataset
from semipose.engine.build import build_codec, build_model
from semipose.engine.trainer import train
from semipose.errors import ConfigError
from semipose.losses import joints_mse_loss


def synth_config(synth_dir, tmp_path, *extra):
    return load_config(
        None,
        [
            "name=t",
            f"output_dir={tmp_path / 'runs'}",
            f"data.root={synth_dir}",
            "data.train.ann_file=annotations/person_keypoints_train.json",
            "data.train.image_dir=images/train",
            "data.val.ann_file=annotations/person_keypoints_val.json",
            "data.val.image_dir=images/val",
            "data.val.det_file=annotations/detections_val.json",
            "data.input_size=[64,64]",
            "data.workers=0",
            "model.arch=resnet18",
            "model.deconv_filters=[32,32,32]",
            "train.batch_size=8",
            "train.lr_steps=[100]",
            "train.log_every=1",
            "eval.batch_size=16",
            "eval.num_vis_images=2",
            *extra,
        ],
    )


def test_a_few_steps_lower_the_loss(synth_dir, tmp_path):
    cfg = synth_config(synth_dir, tmp_path, "train.lr=3e-3")
    torch.manual_seed(0)
    skeleton = build_skeleton(cfg)
    ds = build_train_dataset(cfg, skeleton, build_codec(cfg))
    model = build_model(cfg, skeleton.num_keypoints)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = torch.utils.data.default_collate([ds[i] for i in range(8)])
    losses = []
    for _ in range(15):
        loss = joints_mse_loss(model(batch["image"]), batch["target"], batch["target_weight"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_run_folder_and_exact_resume(synth_dir, tmp_path):
    # a fixed thread count: float sums depend on it, and the adaptive default may change it mid-run
    cfg = synth_config(synth_dir, tmp_path, "train.epochs=2", "train.max_iters_per_epoch=2", "num_threads=1")
    full = train(cfg, progress=False)
    run = full.run_dir
    for name in ("config.yaml", "skeleton.json", "train.log", "metrics.csv", "checkpoints/last.pt", "checkpoints/best.pt",
                 "eval/metrics.json", "val_predictions.png", "curves.png"):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and {"train_loss", "AP", "AR75"} <= rows[0].keys()

    # a one-epoch run resumed for the second epoch ends with identical weights
    cfg1 = synth_config(synth_dir, tmp_path, "train.epochs=1", "train.max_iters_per_epoch=2", "name=half", "num_threads=1")
    half = train(cfg1, progress=False)
    cfg2 = synth_config(synth_dir, tmp_path, "train.epochs=2", "train.max_iters_per_epoch=2", "name=half", "num_threads=1")
    resumed = train(cfg2, resume=half.run_dir, progress=False)
    assert resumed.run_dir == half.run_dir
    log = (half.run_dir / "train.log").read_text()  # the resume lines reach the run's log
    assert "resume: applying the changed train.epochs (1 → 2)" in log and "resumed from" in log and "at epoch -1" not in log
    a = torch.load(run / "checkpoints/last.pt", weights_only=True)["nets"][0]
    b = torch.load(half.run_dir / "checkpoints/last.pt", weights_only=True)["nets"][0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(list(csv.DictReader(open(half.run_dir / "metrics.csv")))) == 2

    # best.pt is the model file (weights + card, about the size of the weights); only last.pt
    # carries the training state; both load with weights_only=True
    best, last = (torch.load(run / f"checkpoints/{n}.pt", weights_only=True) for n in ("best", "last"))
    assert best["format"] == "semipose-model" and "train_state" not in best and "optimizer" in last["train_state"]
    card = best["card"]
    assert card["arch"] == "resnet18" and card["input_size"] == [64, 64] and card["stride"] == 4
    assert card["skeleton"]["name"] == "coco17" and card["config"]["model"]["arch"] == "resnet18"
    weights = sum(v.numel() * v.element_size() for v in best["nets"][0].values())
    assert (run / "checkpoints/best.pt").stat().st_size < 1.1 * weights < (run / "checkpoints/last.pt").stat().st_size / 2
    from semipose.errors import CheckpointError

    with pytest.raises(CheckpointError, match="best.pt: cannot resume from it.*resume from the run's checkpoints/last.pt"):
        train(cfg2, resume=run / "checkpoints/best.pt", progress=False)


def test_nan_loss_stops_with_clear_error(synth_dir, tmp_path):
    cfg = synth_config(synth_dir, tmp_path, "train.epochs=1", "train.max_iters_per_epoch=2", "train.lr=1e30", "name=nan")
    with pytest.raises(FloatingPointError, match="loss is (nan|inf) .*no checkpoint was written yet"):
        train(cfg, progress=False)
    assert not (tmp_path / "nan").exists()  # a failed start leaves no folder behind


def test_run_folder_safety_and_resume_semantics(synth_dir, tmp_path):
    from semipose.errors import CheckpointError

    base = ["train.max_iters_per_epoch=1", "train.val_every=9", "name=r"]
    run = train(synth_config(synth_dir, tmp_path, "train.epochs=2", *base), progress=False).run_dir
    ckpt = run / "checkpoints"
    two = (ckpt / "last.pt").read_bytes()
    # --run-dir at a finished run: refused unless --resume or --overwrite
    with pytest.raises(ConfigError, match=r"holds a run already: continue it with --resume .* or start over in it with --overwrite"):
        train(synth_config(synth_dir, tmp_path, "train.epochs=1", *base), run_dir=run, progress=False)
    assert (ckpt / "last.pt").read_bytes() == two
    # a changed architecture or method on resume: one line listing the keys
    with pytest.raises(ConfigError, match=r"differs from the run's in model.arch \('resnet18' → 'resnet34'\)"):
        train(synth_config(synth_dir, tmp_path, "train.epochs=3", "model.arch=resnet34", *base), resume=run, progress=False)
    # an older checkpoint than the folder's last.pt is refused instead of clobbering it
    (ckpt / "epoch2.pt").write_bytes(two)
    train(synth_config(synth_dir, tmp_path, "train.epochs=3", *base), resume=run, progress=False)
    with pytest.raises(CheckpointError, match=r"epoch2.pt is epoch 2 but .*last.pt is epoch 3"):
        train(synth_config(synth_dir, tmp_path, "train.epochs=4", *base), resume=ckpt / "epoch2.pt", progress=False)
    # kill -9 during epoch 3's checkpoint write: last.pt is still epoch 2, metrics.csv has epoch 3's row
    # and a partial .tmp is left; resuming removes the .tmp, replays epoch 3 and replaces its row; a new
    # lr on resume is applied and logged
    (ckpt / "last.pt").write_bytes(two)
    (ckpt / "last.pt.tmp").write_bytes(b"partial")
    assert [int(r["epoch"]) for r in csv.DictReader(open(run / "metrics.csv"))] == [1, 2, 3]
    train(synth_config(synth_dir, tmp_path, "train.epochs=4", "train.lr=0.0005", *base), resume=run, progress=False)
    assert not (ckpt / "last.pt.tmp").exists()
    log = (run / "train.log").read_text()
    assert "removed" in log and "last.pt.tmp" in log and "applying the changed train.epochs (2 → 4), train.lr (0.001 → 0.0005)" in log
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4] and float(rows[-1]["lr"]) == pytest.approx(0.0005)
    # --overwrite starts over in the folder
    train(synth_config(synth_dir, tmp_path, "train.epochs=1", *base), run_dir=run, overwrite=True, progress=False)
    assert [int(r["epoch"]) for r in csv.DictReader(open(run / "metrics.csv"))] == [1]


def test_loss_matches_reference_definition():
    pred, target = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    w = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    # per-joint 0.5·MSE of weighted maps, averaged over all J channels (zero weights included)
    ref = sum(0.5 * torch.mean((pred[:, j] * w[:, j, None, None] - target[:, j] * w[:, j, None, None]) ** 2) for j in range(3)) / 3
    assert math.isclose(joints_mse_loss(pred, target, w).item(), ref.item(), rel_tol=1e-6)


def test_lr_at_is_warmup_times_multistep():
    from semipose.config import TrainConfig
    from semipose.engine.trainer import lr_at

    t = TrainConfig(lr=1e-3, lr_steps=[2, 4], lr_factor=0.1, warmup_iters=10)
    assert lr_at(t, 0, 0) == pytest.approx(1e-4) and lr_at(t, 9, 0) == pytest.approx(1e-3)
    assert lr_at(t, 10, 1) == 1e-3 and lr_at(t, 50, 2) == 1e-3 * 0.1 and lr_at(t, 90, 5) == 1e-3 * 0.1 * 0.1
    # the multi-step part is the chained product torch's MultiStepLR computes
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
    for epoch in range(6):
        assert opt.param_groups[0]["lr"] == lr_at(TrainConfig(lr=1e-3, lr_steps=[2, 4], lr_factor=0.1), 100, epoch)
        opt.step()
        sched.step()


def test_callbacks_see_every_hook(synth_dir, tmp_path):
    from semipose.engine.callbacks import Callback

    class Record(Callback):
        def __init__(self) -> None:
            self.events: list[str] = []

        def on_step(self, info) -> None:
            self.events.append(f"step {info.epoch}.{info.iteration} loss={'y' if info.loss is not None else 'n'}")

        def on_val_end(self, epoch, results, improved) -> None:
            self.events.append(f"val {epoch} {sorted(results)} {improved}")

        def on_epoch_end(self, info) -> None:
            self.events.append(f"epoch {info.epoch} {info.row()['loss_sup'] > 0}")

        def on_save(self, info) -> None:
            self.events.append(f"saved {info.epoch}")

        def on_train_end(self, best_metrics, best_epoch) -> None:
            self.events.append(f"end {sorted(best_metrics)} {best_epoch}")

    rec = Record()
    cfg = synth_config(synth_dir, tmp_path, "train.epochs=2", "train.max_iters_per_epoch=2", "train.val_every=2", "train.log_every=2")
    result = train(cfg, progress=False, callbacks=[rec])
    assert rec.events == [
        "step 0.0 loss=n", "step 0.1 loss=y", "epoch 1 True", "saved 1",
        "step 1.0 loss=n", "step 1.1 loss=y", "val 2 ['net'] True", "epoch 2 True", "saved 2", "end ['net'] 2",
    ]
    # only the given callbacks report: no metrics.csv, but the checkpoints are the loop's own
    assert not (result.run_dir / "metrics.csv").exists() and (result.run_dir / "checkpoints" / "best.pt").is_file()


def test_bf16_channels_last_training_step(synth_dir, tmp_path):
    """train.precision=bf16 (autocast on the CPU) with channels_last networks: the run trains,
    the loss terms and the collapse statistics stay fp32, and validation runs the same way."""
    cfg = synth_config(synth_dir, tmp_path, "train.epochs=1", "train.max_iters_per_epoch=2", "train.precision=bf16",
                       "train.channels_last=auto", "eval.precision=bf16", "name=bf16")
    result = train(cfg, progress=False)
    log = (result.run_dir / "train.log").read_text()
    assert "bf16, channels_last (precision bf16 as configured; " in log and " thread(s) (" in log  # why this precision, how many threads
    rows = list(csv.DictReader(open(result.run_dir / "metrics.csv")))
    assert math.isfinite(float(rows[0]["train_loss"])) and float(rows[0]["AP"]) >= 0


def test_the_log_says_why_auto_runs_fp32(synth_dir, tmp_path, monkeypatch):
    import semipose.device as device

    monkeypatch.setattr(device, "fast_bf16", lambda d: False)  # a CPU without AMX / AVX512-BF16
    cfg = synth_config(synth_dir, tmp_path, "train.epochs=1", "train.max_iters_per_epoch=1", "train.precision=auto", "num_threads=1",
                       "name=auto")
    log = (train(cfg, progress=False).run_dir / "train.log").read_text()
    assert "fp32 (precision auto: fp32, this CPU has no native bf16 (AMX / AVX512-BF16)" in log
    assert "1 thread(s) (fixed: num_threads)" in log


def test_old_configs_migrate(tmp_path):
    from semipose.config import config_from_dict

    assert config_from_dict({"train": {"amp": True}}).train.precision == "auto"
    assert config_from_dict({"train": {"amp": False}}).train.precision == "fp32"
    with pytest.raises(ConfigError, match="train.precision: expected one of fp32, bf16, fp16, auto"):
        config_from_dict({"train": {"precision": "fp8"}})


def test_max_steps_and_lr_milestones_in_steps(synth_dir, tmp_path):
    """train.max_steps trains exactly that many optimiser steps (the last epoch cut short),
    whatever train.epochs says; train.lr_step_iters puts the LR milestones in steps."""
    from semipose.config import TrainConfig
    from semipose.engine.trainer import lr_at

    t = TrainConfig(lr=1.0, lr_factor=0.1, lr_steps=[1], lr_step_iters=[3], warmup_iters=0)
    assert [lr_at(t, s, epoch=5) for s in (0, 2, 3, 9)] == pytest.approx([1.0, 1.0, 0.1, 0.1])  # epochs no longer count
    assert lr_at(TrainConfig(lr=1.0, lr_steps=[1]), 9, epoch=1) == pytest.approx(0.1)  # without it: epochs, as before
    cfg = synth_config(synth_dir, tmp_path, "train.epochs=50", "train.max_iters_per_epoch=2", "train.max_steps=5", "num_threads=1")
    res = train(cfg, progress=False)
    last = torch.load(res.run_dir / "checkpoints/last.pt", weights_only=True)
    assert last["train_state"]["global_step"] == 5 and last["train_state"]["epoch"] == 3
    assert [int(r["epoch"]) for r in csv.DictReader(open(res.run_dir / "metrics.csv"))] == [1, 2, 3]
    assert "train.max_steps 5: 3 epoch(s) of 2 steps, the last of 1 (train.epochs is not used)" in (res.run_dir / "train.log").read_text()
    with pytest.raises(Exception, match="train.max_steps: must be ≥ 0"):
        synth_config(synth_dir, tmp_path, "train.max_steps=-1")


def test_ctrl_c_says_what_is_saved_and_how_to_go_on(synth_dir, tmp_path, caplog):
    from semipose.engine.callbacks import Callback

    class StopInEpoch2(Callback):
        def on_step(self, info) -> None:
            if info.epoch == 1:
                raise KeyboardInterrupt

    cfg = synth_config(synth_dir, tmp_path, "train.epochs=3", "train.max_iters_per_epoch=1", "train.val_every=5")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, progress=False, callbacks=[StopInEpoch2()])
    run = tmp_path / "runs" / "t"
    assert f"interrupted: epoch 1 is saved in {run / 'checkpoints/last.pt'}; go on with: semipose train {run / 'config.yaml'} --resume {run}" \
        in caplog.text
    result = train(load_config(run / "config.yaml"), resume=run, progress=False)  # the printed command goes on
    assert result.best_epoch == 3
