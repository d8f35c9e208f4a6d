"""Multi-process training: the sharded sampler, and a real 2-process torchrun job on CPU (gloo)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys

import torch

from semipose.data.loaders import ShardedSampler


def test_sharded_sampler_partitions_each_epoch():
    shards = [list(ShardedSampler(10, r, 3, seed=7)) for r in range(3)]
    assert all(len(s) == 4 for s in shards)  # padded to equal length
    assert set(sum(shards, [])) == set(range(10))
    assert list(ShardedSampler(10, 0, 1, seed=7)) == torch.randperm(10, generator=torch.Generator().manual_seed(7)).tolist()
    assert list(ShardedSampler(10, 0, 1, seed=8)) != list(ShardedSampler(10, 0, 1, seed=7))
    val = [list(ShardedSampler(10, r, 3, seed=None, pad=False)) for r in range(3)]
    assert sorted(sum(val, [])) == list(range(10))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _job_config(tmp_path, synth_dir, name: str, *, epochs: int, paths: str, label_subset: str = "first", teacher: str = "online"):
    """A small PoseDual job on the synthetic set, on the CPU, written to ``<name>.yaml``."""
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(
        f"""
name: {name}
output_dir: {tmp_path / 'runs'}
device: cpu
data:
  root: {synth_dir}
  train: {{ann_file: annotations/person_keypoints_train.json, image_dir: images/train}}
  val: {{ann_file: annotations/person_keypoints_val.json, image_dir: images/val}}
  input_size: [64, 64]
  workers: 0
  max_train_instances: 6
  label_subset: {label_subset}
model: {{arch: resnet18, deconv_filters: [16, 16, 16]}}
train: {{epochs: {epochs}, batch_size: 4, max_iters_per_epoch: 2, log_every: 1}}
eval: {{batch_size: 8, num_vis_images: 1}}
ssl: {{method: posedual, paths: {paths}, teacher: {teacher}}}
"""
    )
    return cfg


def test_torchrun_two_processes(synth_dir, tmp_path):
    """A PoseDual job with two hard-view paths: one DDP forward per step holds every network
    pass; each rank draws its own unlabelled shard and views; rank 0 evaluates net 1, net 2
    and the ensemble."""
    cfg = _job_config(tmp_path, synth_dir, "ddp", epochs=2, paths="[JC, CO]")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           "-m", "semipose.cli", "train", str(cfg), "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert [r.name for r in runs] == ["ddp"]  # only rank 0 writes
    rows = list(csv.DictReader(open(runs[0] / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "AP" in rows[-1]
    assert rows[-1]["AP_ensemble"] != "" and float(rows[-1]["loss_cons2_p2"]) > 0 and float(rows[-1]["teacher_conf1"]) > 0
    assert "× 2 processes" in (runs[0] / "train.log").read_text()


DUMP = '''
import hashlib, json, os, sys
import torch
from semipose.config import load_config
from semipose.data.sources import build_label_records, build_skeleton
from semipose.engine.callbacks import Callback, default_callbacks
from semipose.engine.trainer import train

class Dump(Callback):
    """Per rank: a hash of every network's parameters after the last epoch (BatchNorm's running
    statistics are each rank's own after its last forward; DDP broadcasts rank 0's at every
    forward and rank 0 saves them), and the label subset."""
    def on_epoch_end(self, info):
        if info.epoch == info.epochs:
            h = [hashlib.sha256(b"".join(t.detach().cpu().numpy().tobytes() for t in n.parameters())).hexdigest()
                 for n in [*info.nets, *info.ema_nets]]
            cfg = load_config(sys.argv[1])
            labelled, _, _ = build_label_records(cfg, build_skeleton(cfg))
            out = {"weights": h, "labels": sorted(r.ann_id for r in labelled), "rank": int(os.environ["RANK"]),
                   "metrics": info.metrics, "per_net": info.per_net}
            open(sys.argv[2] + f"/rank{os.environ['RANK']}.json", "w").write(json.dumps(out))

train(load_config(sys.argv[1]), progress=False, callbacks=[Dump()])
'''


def test_two_nodes_on_one_machine(synth_dir, tmp_path):
    """Two torchrun invocations as two "nodes" (--nnodes 2, node ranks 0 and 1, a rendezvous on
    127.0.0.1): PoseDual with EMA teachers trains a few steps and validates once; at the end
    both ranks hold the same weights of both networks and of both EMA teachers, and the same
    label subset."""
    cfg = _job_config(tmp_path, synth_dir, "nodes", epochs=1, paths="[JOCO]", label_subset="random", teacher="ema")
    driver = tmp_path / "driver.py"
    driver.write_text(DUMP)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={rank}", "--nproc_per_node=1",
             "--master_addr=127.0.0.1", f"--master_port={port}", str(driver), str(cfg), str(tmp_path)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for rank in (0, 1)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outs)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert len(ranks[0]["weights"]) == 4 and ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["labels"] == ranks[1]["labels"] and len(ranks[0]["labels"]) == 6
    # rank 0 validated once (net 1, net 2, the ensemble) and wrote the checkpoint; rank 1 wrote nothing
    assert "AP" in ranks[0]["metrics"] and set(ranks[0]["per_net"]) == {"net1", "net2", "ensemble", "ema1", "ema2"}
    assert ranks[1]["metrics"] == {}
    assert (tmp_path / "runs" / "nodes" / "checkpoints" / "last.pt").is_file()
