"""The prepared GPU check (``bash scripts/gpu_check.sh``): on a CUDA machine, in a few minutes,

1. the benchmarks on the GPU: network (fp32 / bf16 / bf16 + channels_last / fp16), augmentations,
   training step per method, data pipeline, prediction API;
2. every augmentation and one PoseDual multi-path (JOCO + JCCM) training step under
   ``torch.cuda.set_sync_debug_mode("error")``: any host synchronisation is a failure;
3. 20 training steps in bf16 and in fp16 on synthetic crops: the loss must fall;
4. an evaluation with the flip test on a small synthetic validation set;

then one summary table (and ``--json FILE``). Nothing in the package or the tests depends on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semipose import bench
from semipose.codec import HeatmapCodec
from semipose.data.coco import load_coco_keypoints
from semipose.data.loaders import make_loader
from semipose.data.topdown import TopDownDataset, TopDownTransform
from semipose.device import autocast
from semipose.evaluation.coco import evaluate_predictions
from semipose.evaluation.inference import run_inference
from semipose.losses import joints_mse_loss
from semipose.models import build_pose_model
from semipose.params import AugmentParams, HardAffineParams
from semipose.skeletons import COCO17
from semipose.ssl.methods import SemiSupervisedModel
from semipose.ssl.recipes import AUGMENTATIONS, AugmentContext, Recipe
from semipose.synth import generate_synthetic


def _row(rows: list[dict[str, Any]], check: str, fn: Callable[[], str]) -> None:
    t0 = time.perf_counter()
    try:
        detail, ok = fn(), True
    except Exception as e:  # noqa: BLE001 - every failure becomes a row of the table
        detail, ok = f"{type(e).__name__}: {e}"[:200], False
    rows.append({"check": check, "ok": ok, "detail": detail, "s": round(time.perf_counter() - t0, 1)})
    print(f"{'ok  ' if ok else 'FAIL'} {check}: {detail}", flush=True)


def _benchmarks(device: torch.device, report: dict[str, Any]) -> str:
    net = [bench.bench_step(a, (192, 256), batch_size=32, steps=5, warmup=2, device=device, precision=p, channels_last=cl)
           for a in ("resnet18", "resnet50", "hrnet_w32") for p, cl in (("fp32", False), ("bf16", False), ("bf16", True), ("fp16", True))]
    aug = bench.bench_augment((192, 256), batch_size=32, steps=10, warmup=3, device=device)
    step = bench.bench_ssl_step("resnet18", (96, 128), batch_size=16, methods=list(bench.STEP_BENCH), steps=5, warmup=2, device=device)
    pred = bench.bench_predict("resnet18", (192, 256), batch_size=32, steps=5, warmup=2, device=device)
    report.update(network=net, augment=aug, step=step, predict=pred)
    best = {r["arch"]: r for r in net if r["precision"] == "bf16" and r["channels_last"]}
    return "; ".join(f"{a} bf16+cl {r['step_ms']} ms/step" for a, r in best.items())


def _no_sync_augmentations(device: torch.device) -> str:
    n, h, w = 16, 256, 192
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(n, 3, h, w, device=device)
    joints = torch.rand(n, 17, 2, device=device) * torch.tensor([w - 1.0, h - 1.0], device=device)
    ctx = AugmentContext(generator=g, joints=joints, joint_valid=torch.ones(n, 17, dtype=torch.bool, device=device))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for code in AUGMENTATIONS:
            Recipe(code, AugmentParams())(x, ctx)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return f"{len(AUGMENTATIONS)} augmentations, no host sync"


def _no_sync_step(device: torch.device) -> str:
    nets = [build_pose_model("resnet18", 17).to(device).train() for _ in range(2)]
    model = SemiSupervisedModel(nets, method="posedual", paths=["JOCO", "JCCM"], hard_affine=HardAffineParams()).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator(device=device).manual_seed(0)
    b, k, h, w = 8, 17, 128, 96
    args = (torch.randn(b, 3, h, w, device=device), torch.rand(b, k, h // 4, w // 4, device=device), torch.ones(b, k, device=device),
            torch.randn(b, 3, h, w, device=device), torch.ones(b, k, device=device))
    model(*args, generator=g).loss.backward()  # warm-up (cuDNN autotuning may sync)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = model(*args, generator=g)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return f"PoseDual JOCO + JCCM step, terms {sorted(out.terms)}"


def _loss_falls(device: torch.device, data: Path, precision: str) -> str:
    recs = load_coco_keypoints(data / "annotations/person_keypoints_train.json", data / "images/train").records
    codec = HeatmapCodec((96, 128), (24, 32))
    ds = TopDownDataset(recs, TopDownTransform(codec, COCO17, train=False))
    batch = torch.utils.data.default_collate([ds[i] for i in range(min(32, len(ds)))])
    torch.manual_seed(0)
    model = build_pose_model("resnet18", 17).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    x = batch["image"].to(device).contiguous(memory_format=torch.channels_last)
    t, wt = batch["target"].to(device), batch["target_weight"].to(device)
    losses = []
    for _ in range(20):
        with autocast(precision, device):
            loss = joints_mse_loss(model(x).float(), t, wt)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(float(loss))
    if not losses[-1] < losses[0]:
        raise AssertionError(f"loss did not fall: {losses[0]:.3e} → {losses[-1]:.3e}")
    return f"loss {losses[0]:.3e} → {losses[-1]:.3e}"


def _eval_flip(device: torch.device, data: Path) -> str:
    ann = data / "annotations/person_keypoints_val.json"
    recs = load_coco_keypoints(ann, data / "images/val").records
    codec = HeatmapCodec((96, 128), (24, 32))
    tf = TopDownTransform(codec, COCO17, train=False)
    ds = TopDownDataset(recs, tf)
    model = build_pose_model("resnet18", 17).to(device)
    preds = run_inference(model, make_loader(ds, 32, 2), codec, device=device, flip_index=COCO17.flip_index, precision="bf16",
                          num_keypoints=17, progress=False)
    boxes = [tf.crop_box(r) for r in recs]
    m = evaluate_predictions(recs, preds.coords, preds.maxvals, ann, centers=np.stack([c for c, _ in boxes]),
                             scales=np.stack([s for _, s in boxes]), skeleton=COCO17)
    return f"{len(recs)} persons, flip test, bf16: AP {m['AP']:.4f} (untrained network), {preds.seconds:.1f} s"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path, help="write the table and the benchmark rows here")
    p.add_argument("--skip-bench", action="store_true", help="only the correctness checks")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here: nothing to check (run it on a GPU machine)", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    report: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    print(f"gpu_check on {report['device']} (torch {report['torch']})", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="semipose-gpu-check-") as tmp:
        data = Path(tmp)
        generate_synthetic(data, num_train=48, num_unlabeled=0, num_val=24, image_size=(320, 240), seed=0, progress=False)
        if not args.skip_bench:
            _row(rows, "benchmarks", lambda: _benchmarks(device, report))
        _row(rows, "augmentations without host sync", lambda: _no_sync_augmentations(device))
        _row(rows, "PoseDual multi-path step without host sync", lambda: _no_sync_step(device))
        _row(rows, "20 steps bf16", lambda: _loss_falls(device, data, "bf16"))
        _row(rows, "20 steps fp16", lambda: _loss_falls(device, data, "fp16"))
        _row(rows, "evaluation with flip test", lambda: _eval_flip(device, data))
    print("\n| check | result | s | detail |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['check']} | {'ok' if r['ok'] else 'FAIL'} | {r['s']} | {r['detail']} |")
    report["checks"] = rows
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
