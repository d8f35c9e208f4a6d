"""Benchmarks: data-pipeline throughput and training-step time per network and input size.

Speed targets are checked here, never by timed tests. Each function returns plain dicts so
``semipose bench … --json out.json`` can store them next to the machine description.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import DataLoader

from .codec import HeatmapCodec
from .losses import joints_mse_loss
from .models import build_pose_model

__all__ = ["machine_info", "bench_step", "bench_data"]


def machine_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_step(
    arch: str,
    input_size: Sequence[int],
    *,
    batch_size: int = 32,
    steps: int = 5,
    warmup: int = 2,
    device: torch.device | str = "cpu",
    amp: bool = False,
    num_joints: int = 17,
) -> dict[str, Any]:
    """Time one training step (forward + MSE loss + backward + Adam) on random data.

    Args:
        arch: network name (``resnet18`` …).
        input_size: ``(W, H)``.

    Returns:
        dict with ``step_ms`` (median), ``forward_ms`` (median, no-grad forward) and
        ``samples_per_s``.
    """
    device = torch.device(device)
    w, h = int(input_size[0]), int(input_size[1])
    model = build_pose_model(arch, num_joints).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, 3, h, w, generator=gen).to(device)
    target = torch.rand(batch_size, num_joints, h // 4, w // 4, generator=gen).to(device)
    weight = torch.ones(batch_size, num_joints, device=device)
    use_amp = amp and device.type == "cuda"
    times: list[float] = []
    for i in range(warmup + steps):
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device_type=device.type, enabled=use_amp):
            loss = joints_mse_loss(model(x).float(), target, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    fwd: list[float] = []
    model.eval()
    with torch.no_grad():
        for i in range(warmup + steps):
            _sync(device)
            t0 = time.perf_counter()
            with torch.autocast(device_type=device.type, enabled=use_amp):
                model(x)
            _sync(device)
            if i >= warmup:
                fwd.append(time.perf_counter() - t0)
    step = sorted(times)[len(times) // 2]
    return {
        "arch": arch,
        "input": f"{w}x{h}",
        "batch_size": batch_size,
        "step_ms": round(step * 1e3, 1),
        "forward_ms": round(sorted(fwd)[len(fwd) // 2] * 1e3, 1),
        "samples_per_s": round(batch_size / step, 1),
        "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
    }


def bench_data(
    input_size: Sequence[int],
    *,
    ann_file: str | None = None,
    image_dir: str | None = None,
    batch_size: int = 32,
    workers: int = 2,
    batches: int = 10,
    synth_image_size: Sequence[int] = (640, 480),
) -> dict[str, Any]:
    """Throughput of the training data pipeline (read + decode + augment + crop + targets).

    Without ``ann_file`` a small synthetic COCO-format set (``synth_image_size`` images, the
    size of typical COCO photos) is generated in a temporary folder first.

    Returns:
        dict with ``samples_per_s`` and ``ms_per_sample`` (per worker).
    """
    from .data.coco import load_coco_keypoints
    from .data.topdown import TopDownDataset, TopDownTransform, worker_init

    w, h = int(input_size[0]), int(input_size[1])
    tmp = None
    if ann_file is None:
        from .data.synthetic import generate_synthetic

        tmp = tempfile.TemporaryDirectory(prefix="semipose-bench-")
        n_img = max(16, batch_size * batches // 3)
        generate_synthetic(tmp.name, num_train=n_img, num_unlabeled=0, num_val=0, image_size=tuple(synth_image_size), seed=0, progress=False)
        ann_file = str(Path(tmp.name) / "annotations" / "person_keypoints_train.json")
        image_dir = str(Path(tmp.name) / "images" / "train")
    try:
        data = load_coco_keypoints(ann_file, image_dir or "", aspect_ratio=w / h)
        skeleton = data.skeleton
        codec = HeatmapCodec((w, h), (w // 4, h // 4), 2.0)
        ds = TopDownDataset(data.records, TopDownTransform(codec, skeleton, train=True), seed=0)
        loader = DataLoader(
            ds, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=False,
            worker_init_fn=worker_init if workers > 0 else None, generator=torch.Generator().manual_seed(0),
        )
        n, t0, it = 0, None, 0
        while it < batches + 1:
            for batch in loader:
                if t0 is None:  # skip the first batch (worker start-up)
                    t0 = time.perf_counter()
                else:
                    n += batch["image"].shape[0]
                it += 1
                if it >= batches + 1:
                    break
        dt = time.perf_counter() - (t0 or time.perf_counter())
    finally:
        if tmp is not None:
            tmp.cleanup()
    sps = n / dt if dt > 0 else float("nan")
    return {
        "input": f"{w}x{h}",
        "workers": workers,
        "batch_size": batch_size,
        "samples": n,
        "samples_per_s": round(sps, 1),
        "ms_per_sample_per_worker": round(1e3 * max(workers, 1) / sps, 2) if sps == sps else None,
        "source": ann_file if tmp is None else f"synthetic {synth_image_size[0]}x{synth_image_size[1]} images",
    }
