"""Semi-supervised runs end to end on generated data: PoseCons, PoseDual with multi-path
views, detector-box unlabelled images, exact resume, warm starts, the run folder's logs."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from test_trainer import synth_config

from semipose.engine.trainer import train

SSL = ["train.epochs=1", "train.max_iters_per_epoch=2", "train.batch_size=4", "eval.num_vis_images=1"]


def _rows(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_posedual_multi_path_run(synth_dir, tmp_path, capsys):
    cfg = synth_config(
        synth_dir, tmp_path, *SSL, "ssl.method=posedual", "ssl.paths=[JC, JOCO]", "data.max_train_instances=6",
        "train.unlabeled_batch_size=3",
    )
    res = train(cfg, progress=False)
    row = _rows(res.run_dir)[0]
    for key in ("loss_sup1", "loss_sup2", "loss_cons1", "loss_cons2", "loss_cons1_p1", "loss_cons2_p2",
                "teacher_conf1", "teacher_low2", "AP", "AP_net1", "AP_net2", "AP_ensemble"):
        assert key in row and row[key] != "", key
    assert 0.0 <= float(row["teacher_low1"]) <= 1.0 and float(row["teacher_conf1"]) >= 0
    # AP = the mean of the two nets (MultiAugs' selection)
    assert float(row["AP"]) == pytest.approx((float(row["AP_net1"]) + float(row["AP_net2"])) / 2, abs=1e-4)
    for name in ("net1", "net2", "ensemble"):
        assert (res.run_dir / "eval" / f"keypoints_{name}_results.json").is_file()
    subset = json.loads((res.run_dir / "label_subset.json").read_text())
    assert subset["num_instances"] == 6 and len(subset["ann_ids"]) == 6
    ck = torch.load(res.run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert len(ck["nets"]) == 2 and ck["card"]["method"] == "posedual" and ck["card"]["use"] == "ensemble"
    assert not all(torch.equal(ck["nets"][0][k], ck["nets"][1][k]) for k in ck["nets"][0])
    log = (res.run_dir / "train.log").read_text()
    assert "teacher1 peak" in log and "posedual" in log

    # `semipose eval` takes the two-network checkpoint, and the same weights saved in the
    # reference pose_dual layout, and prints net 1, net 2 and the ensemble
    from semipose.cli import main

    ref = {}
    for prefix, sd in (("resnet.", ck["nets"][0]), ("resnet2.", ck["nets"][1])):
        for k, v in sd.items():
            ref[prefix + k.replace("final_layer.", "final_layer_1.")] = v
    torch.save({"state_dict": ref}, tmp_path / "pose_dual_ref.pth")
    outs = []
    for path in (res.run_dir / "checkpoints" / "last.pt", tmp_path / "pose_dual_ref.pth"):
        assert main(["eval", str(res.run_dir / "config.yaml"), "--checkpoint", str(path), "--out", str(tmp_path / path.stem), "--no-progress"]) == 0
        outs.append(capsys.readouterr().out)
        metrics = json.loads((tmp_path / path.stem / "metrics.json").read_text())
        assert set(metrics) == {"resnet18 net1", "resnet18 net2", "resnet18 ensemble"}
    for out in outs:
        assert "| resnet18 net1 |" in out and "| resnet18 net2 |" in out and "| resnet18 ensemble |" in out
    table = lambda o: [line for line in o.splitlines() if line.startswith("|")]  # noqa: E731
    assert table(outs[0]) == table(outs[1])  # same weights, same numbers


def test_posecons_detector_unlabelled_and_exact_resume(synth_dir, tmp_path):
    extra = [
        *SSL, "ssl.method=posecons", "ssl.paths=[JO+CO]", "data.unlabeled.ann_file=annotations/image_info_unlabeled.json",
        "data.unlabeled.det_file=annotations/detections_unlabeled.json", "data.unlabeled.image_dir=images/unlabeled",
        "data.label_subset=random", "data.max_train_instances=8",
        "num_threads=1",  # a fixed count: float sums depend on it, and the adaptive one may change mid-run
    ]
    full = train(synth_config(synth_dir, tmp_path / "a", *extra, "train.epochs=2"), progress=False)
    half = train(synth_config(synth_dir, tmp_path / "b", *extra, "train.epochs=1"), progress=False)
    resumed = train(synth_config(synth_dir, tmp_path / "b", *extra, "train.epochs=2"), resume=half.run_dir, progress=False)
    a = torch.load(full.run_dir / "checkpoints" / "last.pt", weights_only=True)["nets"][0]
    b = torch.load(resumed.run_dir / "checkpoints" / "last.pt", weights_only=True)["nets"][0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = (full.run_dir / "train.log").read_text()
    assert "detector boxes" in log and "8 labelled persons" in log
    # the random split is reused exactly through label_ids_file
    reuse = synth_config(
        synth_dir, tmp_path / "c", *SSL, f"data.label_ids_file={full.run_dir / 'label_subset.json'}", "ssl.method=posecons",
    )
    again = train(reuse, progress=False)
    assert json.loads((again.run_dir / "label_subset.json").read_text())["ann_ids"] == json.loads(
        (full.run_dir / "label_subset.json").read_text())["ann_ids"]


def test_ema_teacher_run_resumes_exactly_and_is_selectable(synth_dir, tmp_path):
    """PoseCons with an EMA teacher: the EMA weights are saved in last.pt and resumed exactly;
    validation scores the network and its EMA; with ``ssl.select: ema`` best.pt holds the EMA
    weights and the selection AP is the EMA's."""
    extra = [*SSL, "ssl.method=posecons", "ssl.paths=[JOCO]", "ssl.teacher=ema", "ssl.ema_decay=0.9", "ssl.select=ema",
             "train.val_every=1", "data.max_train_instances=8", "num_threads=1"]  # fixed threads: exact resume
    full = train(synth_config(synth_dir, tmp_path / "a", *extra, "train.epochs=2"), progress=False)
    half = train(synth_config(synth_dir, tmp_path / "b", *extra, "train.epochs=1"), progress=False)
    ema_epoch1 = torch.load(half.run_dir / "checkpoints" / "last.pt", weights_only=True)["train_state"]["ema_states"][0]
    resumed = train(synth_config(synth_dir, tmp_path / "b", *extra, "train.epochs=2"), resume=half.run_dir, progress=False)
    a = torch.load(full.run_dir / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(resumed.run_dir / "checkpoints" / "last.pt", weights_only=True)
    for key in ("nets", "ema_states"):
        sa = a[key][0] if key == "nets" else a["train_state"][key][0]
        sb = b[key][0] if key == "nets" else b["train_state"][key][0]
        assert all(torch.equal(sa[k], sb[k]) for k in sa), key
    ema, net = a["train_state"]["ema_states"][0], a["nets"][0]
    assert not all(torch.equal(ema[k], net[k]) for k in net)  # the average lags the network
    rows = _rows(full.run_dir)
    assert rows[-1]["AP"] == rows[-1]["AP_ema"] and rows[-1]["AP_net"] != ""
    best = torch.load(full.run_dir / "checkpoints" / "best.pt", weights_only=True)
    chosen = ema if full.best_epoch == 2 else ema_epoch1  # best.pt holds the best epoch's EMA weights
    assert all(torch.equal(best["nets"][0][k], chosen[k]) for k in chosen)


def test_sspcm_run_three_networks_and_the_reference_layout(synth_dir, tmp_path, capsys):
    """SSPCM end to end: three networks, two teachers, the temporal correction in epoch 2;
    the three-network checkpoint evaluates as net 1-3 + ensemble, and the same weights in the
    reference layout (resnet. / resnet2. / final_resnet., final_layer_1) give the same table."""
    cfg = synth_config(synth_dir, tmp_path, *SSL, "train.epochs=2", "ssl.method=sspcm", "ssl.paths=[JO]",
                       "data.max_train_instances=6", "train.unlabeled_batch_size=3")
    res = train(cfg, progress=False)
    rows = _rows(res.run_dir)
    for key in ("loss_sup3", "loss_cons1", "loss_cons3", "teacher_conf1", "teacher_conf2", "AP_net3", "AP_ensemble"):
        assert rows[-1].get(key, "") != "", key
    assert "teacher_conf3" not in rows[-1]  # the auxiliary network teaches nobody
    ck = torch.load(res.run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert len(ck["nets"]) == 3 and ck["card"]["method"] == "sspcm"
    from semipose.cli import main

    ref = {}
    for prefix, sd in zip(("resnet.", "resnet2.", "final_resnet."), ck["nets"]):
        for k, v in sd.items():
            ref[prefix + k.replace("final_layer.", "final_layer_1.")] = v
    torch.save({"state_dict": ref}, tmp_path / "pose_triple_ref.pth")
    tables = []
    for path in (res.run_dir / "checkpoints" / "last.pt", tmp_path / "pose_triple_ref.pth"):
        assert main(["eval", str(res.run_dir / "config.yaml"), "--checkpoint", str(path), "--out", str(tmp_path / path.stem),
                     "--no-progress"]) == 0
        out = capsys.readouterr().out
        tables.append([line for line in out.splitlines() if line.startswith("|")])
        assert set(json.loads((tmp_path / path.stem / "metrics.json").read_text())) == {
            "resnet18 net1", "resnet18 net2", "resnet18 net3", "resnet18 ensemble"}
    assert tables[0] == tables[1]


def test_warm_start_and_equal_steps_supervised(synth_dir, tmp_path):
    first = train(synth_config(synth_dir, tmp_path, *SSL), progress=False)
    ck = first.run_dir / "checkpoints" / "last.pt"
    # a supervised run on 4 labelled persons with 5 iterations of 4: the epoch spans 5 passes
    sup = train(
        synth_config(synth_dir, tmp_path, *SSL, "data.max_train_instances=4", "train.max_iters_per_epoch=5", f"model.init_weights={ck}"),
        progress=False,
    )
    log = (sup.run_dir / "train.log").read_text()
    assert "network weights from" in log
    # every network of a PoseDual run starts from the one-network checkpoint
    from semipose.data.sources import build_skeleton
    from semipose.engine.build import build_ssl_model

    cfg = synth_config(synth_dir, tmp_path, "ssl.method=posedual", f"model.init_weights={ck}")
    model = build_ssl_model(cfg, build_skeleton(cfg).num_keypoints)
    w = torch.load(ck, weights_only=True)["nets"][0]
    for net in model.nets:
        assert all(torch.equal(net.state_dict()[k], w[k]) for k in w)


def test_bad_ssl_config_is_a_clear_error(synth_dir, tmp_path):
    from semipose.errors import ConfigError

    with pytest.raises(ConfigError, match=r"ssl.paths\[0\].*'XY'"):
        synth_config(synth_dir, tmp_path, "ssl.method=posecons", "ssl.paths=[XY]")
    with pytest.raises(ConfigError, match="ssl.method"):
        synth_config(synth_dir, tmp_path, "ssl.method=fixmatch")
