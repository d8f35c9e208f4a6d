"""Benchmarks: data-pipeline throughput and training-step time per network and input size.

Speed targets are checked here, never by timed tests. Each function returns plain dicts so
``semipose bench … --json out.json`` can store them next to the machine description.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..codec import HeatmapCodec
from ..device import autocast, resolve_precision, to_memory_format
from ..geometry import DEFAULT_INPUT_SIZE, DEFAULT_PADDING
from ..losses import joints_mse_loss
from ..models import build_pose_model
from ..threads import tick
from .loaders import bench_data, bench_frames

__all__ = ["machine_info", "bench_step", "bench_data", "bench_frames"]


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


#: the modes a bench runs when none are asked for (``+cl``: channels_last)
DEFAULT_MODES = {"network": ("fp32", "bf16", "bf16+cl"), "step": ("fp32",), "predict": ("fp32", "bf16")}


def native_modes(kind: str, device: torch.device, asked: Sequence[str] | None = None) -> tuple[list[str], str]:
    """The modes a bench of ``kind`` runs on ``device``, and a line on what it skipped and why.

    Without ``asked``, the defaults of :data:`DEFAULT_MODES` that the device runs natively: bf16
    only where :func:`~semipose.device.fast_bf16` (elsewhere it is a slow fallback: one ResNet-18
    step took minutes), fp16 only on CUDA. ``asked`` modes all run (a non-native one with a note).
    """
    from ..device import fast_bf16

    def native(mode: str) -> str:
        prec = mode.partition("+")[0]
        if prec == "bf16" and not fast_bf16(device):
            return "no native bf16 on this device (AMX / AVX512-BF16 on a CPU): a slow fallback"
        if prec == "fp16" and device.type != "cuda":
            return "fp16 needs CUDA"
        return ""

    modes = list(asked) if asked else list(DEFAULT_MODES[kind])
    why = {m: r for m in modes if (r := native(m))}
    if asked:
        return modes, "; ".join(f"{m} runs though: {r}" for m, r in why.items())
    kept = [m for m in modes if m not in why]
    note = f"skipped {', '.join(why)}: {next(iter(why.values()))} (ask for them with --modes)" if why else ""
    return kept, note


def _sync(device: torch.device) -> None:
    """Wait for the device; on the CPU let the thread governor re-measure the free cores when due."""
    tick()
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
    precision: str = "fp32",
    channels_last: bool = False,
    num_joints: int = 17,
) -> dict[str, Any]:
    """Time one training step (forward + MSE loss + backward + Adam) on random data.

    Args:
        arch: network name (``resnet18`` …).
        input_size: ``(W, H)``.
        precision: ``fp32``, ``bf16``, ``fp16`` (CUDA) or ``auto``; the loss is fp32.
        channels_last: the network and its input in NHWC memory.

    Returns:
        dict with ``step_ms`` (median), ``forward_ms`` (median, no-grad forward),
        ``samples_per_s`` and the resolved ``precision`` / ``channels_last``.
    """
    device = torch.device(device)
    w, h = int(input_size[0]), int(input_size[1])
    prec = resolve_precision(precision, device)
    model = build_pose_model(arch, num_joints).to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    x = to_memory_format(torch.randn(batch_size, 3, h, w, generator=gen).to(device), channels_last)
    target = torch.rand(batch_size, num_joints, h // 4, w // 4, generator=gen).to(device)
    weight = torch.ones(batch_size, num_joints, device=device)
    scaler = torch.amp.GradScaler("cuda", enabled=prec == "fp16")
    times: list[float] = []
    for i in range(warmup + steps):
        _sync(device)
        t0 = time.perf_counter()
        with autocast(prec, device):
            loss = joints_mse_loss(model(x).float(), target, weight)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    fwd: list[float] = []
    model.eval()
    with torch.no_grad():
        for i in range(warmup + steps):
            _sync(device)
            t0 = time.perf_counter()
            with autocast(prec, device):
                model(x)
            _sync(device)
            if i >= warmup:
                fwd.append(time.perf_counter() - t0)
    step = sorted(times)[len(times) // 2]
    return {
        "arch": arch,
        "input": f"{w}x{h}",
        "batch_size": batch_size,
        "precision": prec,
        "channels_last": bool(channels_last),
        "step_ms": round(step * 1e3, 1),
        "forward_ms": round(sorted(fwd)[len(fwd) // 2] * 1e3, 1),
        "samples_per_s": round(batch_size / step, 1),
        "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "threads": torch.get_num_threads(),
    }


# ---------------------------------------------------------------------------------------------
# semi-supervised: augmentations and whole training steps

#: the hard-view recipes timed by :func:`bench_augment`
AUGMENT_BENCH = ("CO", "CM", "MU", "JC", "JO", "JOCO", "JCCM", "RA", "TA", "YOCORA")

#: method name → (method, paths) timed by :func:`bench_ssl_step`
STEP_BENCH: dict[str, tuple[str, tuple[str, ...]]] = {
    "supervised": ("supervised", ()),
    "posecons": ("posecons", ("none",)),
    "posedual": ("posedual", ("none",)),
    "multiaugs-2": ("posecons", ("JOCO", "JCCM")),
    "multiaugs-4": ("posecons", ("JOCO", "JCCM", "JC", "JO")),
    "multiaugs-dual": ("posedual", ("JOCO", "JCCM")),
    "sspcm": ("sspcm", ("JO",)),
    # supervised + the video-native terms (ssl.temporal, ssl.pose_prior): the unlabelled crops
    # with their two neighbouring frames, one pass over the three
    "temporal": ("supervised", ()),
    "pose-prior": ("supervised", ()),
    "video": ("supervised", ()),
}
#: the video-native terms of the ``STEP_BENCH`` entries that have them
STEP_VIDEO_TERMS: dict[str, tuple[str, ...]] = {"temporal": ("temporal",), "pose-prior": ("pose_prior",), "video": ("temporal", "pose_prior")}


def _median_ms(fn: Any, device: torch.device, steps: int, warmup: int) -> float:
    times = []
    for i in range(warmup + steps):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return round(sorted(times)[len(times) // 2] * 1e3, 3)


def bench_augment(
    input_size: Sequence[int] = DEFAULT_INPUT_SIZE,
    *,
    batch_size: int = 32,
    recipes: Sequence[str] = AUGMENT_BENCH,
    steps: int = 10,
    warmup: int = 2,
    device: torch.device | str = "cpu",
    num_joints: int = 17,
) -> list[dict[str, Any]]:
    """Time each hard-view augmentation, one copy of the batch (the floor of any view that
    leaves its input unchanged), and the hard affine warp of images + heatmaps, on a
    ``(batch_size, 3, H, W)`` batch with random joints.

    Returns:
        One dict per recipe: ``recipe``, ``ms`` (median) and ``us_per_image``.
    """
    from ..params import HardAffineParams
    from ..ssl.recipes import AugmentContext, Recipe
    from ..ssl.views import sample_hard_affine, warp

    device = torch.device(device)
    w, h = int(input_size[0]), int(input_size[1])
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(batch_size, 3, h, w, device=device, generator=g)
    hm = torch.rand(batch_size, num_joints, h // 4, w // 4, device=device, generator=g)
    joints = torch.rand(batch_size, num_joints, 2, device=device, generator=g) * torch.tensor([w, h], device=device)
    valid = torch.ones(batch_size, num_joints, dtype=torch.bool, device=device)
    ctx = AugmentContext(generator=g, joints=joints, joint_valid=valid)
    rows = []
    with torch.no_grad():
        for spec in recipes:
            recipe = Recipe(spec)
            ms = _median_ms(lambda: recipe(x, ctx), device, steps, warmup)
            rows.append({"recipe": spec, "input": f"{w}x{h}", "batch_size": batch_size, "ms": ms, "us_per_image": round(ms * 1e3 / batch_size, 1)})

        # the floor of every out-of-place view: one copy of the batch (the reference clones too)
        ms = _median_ms(lambda: x.clone(), device, steps, warmup)
        rows.append({"recipe": "copy (batch clone)", "input": f"{w}x{h}", "batch_size": batch_size, "ms": ms,
                     "us_per_image": round(ms * 1e3 / batch_size, 1)})

        def affine() -> None:
            m = sample_hard_affine(batch_size, (w, h), HardAffineParams(), generator=g, device=device)
            warp(x, m)
            warp(hm, m, 4.0)

        ms = _median_ms(affine, device, steps, warmup)
        rows.append({"recipe": "affine (image + heatmaps)", "input": f"{w}x{h}", "batch_size": batch_size, "ms": ms,
                     "us_per_image": round(ms * 1e3 / batch_size, 1)})
    return rows


def bench_ssl_step(
    arch: str = "resnet18",
    input_size: Sequence[int] = (96, 128),
    *,
    batch_size: int = 16,
    methods: Sequence[str] = tuple(STEP_BENCH),
    steps: int = 5,
    warmup: int = 2,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    channels_last: bool = False,
    num_joints: int = 17,
) -> list[dict[str, Any]]:
    """Time one full training step per method next to the bare network passes it contains.

    ``step_ms`` is :class:`~semipose.ssl.methods.SemiSupervisedModel`'s forward (supervised,
    teacher and student passes, hard views, augmentations, losses) + backward + Adam;
    ``network_ms`` runs the same network passes on the same tensors (supervised and student
    passes with autograd, teacher passes without) with a trivial loss + backward + Adam.
    ``overhead_ms = step_ms − network_ms`` is the cost of view building, augmentations and
    losses; ``overhead_pct`` is its share of the step. ``batch_size`` labelled + as many
    unlabelled crops. ``precision`` / ``channels_last``: the networks' (both measurements).
    """
    from ..params import HardAffineParams, num_nets_of
    from ..ssl.methods import SemiSupervisedModel
    from ..ssl.video_losses import PosePriorLoss, TemporalLoss

    device = torch.device(device)
    prec = resolve_precision(precision, device)
    w, h = int(input_size[0]), int(input_size[1])
    gen = torch.Generator().manual_seed(0)
    sup = to_memory_format(torch.randn(batch_size, 3, h, w, generator=gen).to(device), channels_last)
    target = torch.rand(batch_size, num_joints, h // 4, w // 4, generator=gen).to(device) * 0.1
    wsup = torch.ones(batch_size, num_joints, device=device)
    unsup = to_memory_format(torch.randn(batch_size, 3, h, w, generator=gen).to(device), channels_last)
    wun = torch.ones(batch_size, num_joints, device=device)
    context = torch.randn(batch_size, 2, 3, h, w, generator=gen).to(device)
    poses = torch.rand(4 * num_joints, num_joints, 2, generator=gen) * 100
    rows = []
    for name in methods:
        method, paths = STEP_BENCH[name]
        terms = STEP_VIDEO_TERMS.get(name, ())
        torch.manual_seed(0)
        n_nets = num_nets_of(method)
        nets = [build_pose_model(arch, num_joints).to(device).train() for _ in range(n_nets)]
        if channels_last:
            nets = [n.to(memory_format=torch.channels_last) for n in nets]  # type: ignore[call-overload]
        video = [TemporalLoss(weight=1e-4, conf_thr=0.0) if t == "temporal" else
                 PosePriorLoss(weight=1e-3).fit(poses, torch.ones(len(poses), num_joints, dtype=torch.bool)) for t in terms]
        model = SemiSupervisedModel(
            nets, method=method, paths=paths or ("none",), hard_affine=HardAffineParams(), video_losses=video,
        ).to(device)
        opt = torch.optim.Adam(model.student_parameters(), lr=1e-4)
        vgen = torch.Generator(device=device).manual_seed(0)
        unlabelled = method != "supervised" or bool(terms)
        frames = (3 if model.needs_context else 1) if terms else 0  # the frames of each unlabelled crop the terms predict

        def step() -> None:
            with autocast(prec, device):
                out = model(sup, target, wsup, unsup if unlabelled else None, wun, context if model.needs_context else None,
                            generator=vgen)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()

        def network_only() -> None:
            loss = sup.new_zeros(())
            with autocast(prec, device):
                for net in nets:
                    loss = loss + net(sup).float().mean()
                if method != "supervised":
                    with torch.no_grad():
                        for i in model.teaching:
                            nets[i](unsup)
                    for net in nets:
                        for _ in paths:
                            loss = loss + net(unsup).float().mean()
                if frames:
                    batch = torch.cat([context[:, 0], unsup, context[:, 1]]) if frames == 3 else unsup
                    for net in nets:
                        loss = loss + net(batch).float().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        # interleave the two measurements so machine noise hits both alike
        step_t: list[float] = []
        net_t: list[float] = []
        for _ in range(steps):
            step_t.append(_median_ms(step, device, 1, warmup if not step_t else 0))
            net_t.append(_median_ms(network_only, device, 1, warmup if not net_t else 0))
        s_ms, n_ms = sorted(step_t)[len(step_t) // 2], sorted(net_t)[len(net_t) // 2]
        passes = n_nets * (1 + (len(paths) if method != "supervised" else 0) + frames) + (len(model.teaching) if method != "supervised" else 0)
        rows.append({
            "method": name, "paths": list(paths), "arch": arch, "input": f"{w}x{h}", "batch_size": batch_size,
            "precision": prec, "channels_last": bool(channels_last),
            "network_passes": passes, "step_ms": s_ms, "network_ms": n_ms, "overhead_ms": round(s_ms - n_ms, 1),
            "overhead_pct": round(100.0 * (s_ms - n_ms) / s_ms, 2),
        })
    return rows


# ---------------------------------------------------------------------------------------------
# evaluation: decoding and the stages after the network


def bench_eval(
    num_persons: int = 1000,
    *,
    heatmap_size: Sequence[int] = (48, 64),
    num_joints: int = 17,
    persons_per_image: int = 3,
    steps: int = 3,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> dict[str, Any]:
    """Time the evaluation of ``num_persons`` predictions after the network, per stage.

    A synthetic ground truth (``persons_per_image`` people per 640×480 image, COCO-17 sigmas)
    and heatmaps with a Gaussian near each true joint are generated; then timed: decoding with
    the quarter-pixel shift and with DARK (on ``device``), heatmap → image coordinates,
    rescoring + OKS-NMS + results list, and pycocotools COCOeval.

    Returns:
        dict with, per decoder ``M`` in (shift, dark): ``decode_M_ms``, ``to_image_M_ms``,
        ``rescore_nms_M_ms``, ``cocoeval_M_ms``, ``total_M_ms`` and ``AP_M``.
    """
    import numpy as np

    from ..data.records import PoseRecord
    from ..evaluation.coco import build_coco_results, evaluate_coco_keypoints, load_coco_gt
    from ..geometry import box_to_center_scale
    from ..skeletons import COCO17

    device = torch.device(device)
    rng = np.random.default_rng(seed)
    w_hm, h_hm = int(heatmap_size[0]), int(heatmap_size[1])
    codec = HeatmapCodec((w_hm * 4, h_hm * 4), (w_hm, h_hm), 2.0)
    n_img = -(-num_persons // persons_per_image)
    anns: list[dict[str, Any]] = []
    records: list[PoseRecord] = []
    for i in range(num_persons):
        img_id = i // persons_per_image + 1
        x, y = rng.uniform(20, 400), rng.uniform(20, 200)
        bw, bh = rng.uniform(80, 200), rng.uniform(160, 260)
        kp = np.zeros((num_joints, 3), np.float32)
        kp[:, 0] = x + rng.uniform(0.1, 0.9, num_joints) * bw
        kp[:, 1] = y + rng.uniform(0.1, 0.9, num_joints) * bh
        kp[:, 2] = 2
        anns.append({"id": i + 1, "image_id": img_id, "category_id": 1, "iscrowd": 0, "bbox": [x, y, bw, bh],
                     "area": bw * bh, "keypoints": kp.reshape(-1).tolist(), "num_keypoints": num_joints})
        records.append(PoseRecord(f"{img_id}.jpg", img_id, np.array([x, y, bw, bh], np.float32), kp, 1.0, i + 1, (640, 480)))
    images = [{"id": j + 1, "file_name": f"{j + 1}.jpg", "width": 640, "height": 480} for j in range(n_img)]
    gt = load_coco_gt({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints)}]})
    centers, scales = box_to_center_scale(np.stack([r.bbox for r in records]), aspect_ratio=0.75, padding=DEFAULT_PADDING)
    # heatmaps: a Gaussian at each joint's (slightly perturbed) heatmap position
    from ..geometry import affine_matrix, apply_affine

    true_hm = np.stack([apply_affine(r.keypoints[:, :2], affine_matrix(c, s, 0.0, (w_hm, h_hm))) for r, c, s in zip(records, centers, scales)])
    true_hm = true_hm + rng.normal(0, 0.3, true_hm.shape)
    ys = torch.arange(h_hm, dtype=torch.float32)[:, None]
    xs = torch.arange(w_hm, dtype=torch.float32)[None, :]
    t = torch.from_numpy(true_hm.astype(np.float32))
    hm = torch.exp(-((xs - t[..., 0, None, None]) ** 2 + (ys - t[..., 1, None, None]) ** 2) / (2 * 2.0**2)).to(device)

    def timed(fn: Any) -> tuple[float, Any]:
        best, out = float("inf"), None
        for _ in range(steps):
            _sync(device)
            t0 = time.perf_counter()
            out = fn()
            _sync(device)
            best = min(best, time.perf_counter() - t0)
        return round(best * 1e3, 2), out

    res: dict[str, Any] = {"persons": num_persons, "heatmap": f"{w_hm}x{h_hm}", "joints": num_joints, "device": str(device)}
    for method in ("shift", "dark"):
        ms, (c, m) = timed(lambda: dataclasses.replace(codec, decoder=method).decode(hm))
        res[f"decode_{method}_ms"] = ms
        ms_img, xy = timed(lambda: codec.to_image(c.cpu().numpy(), centers, scales))
        mv = m.cpu().numpy()
        ms_nms, results = timed(lambda: build_coco_results(records, xy, mv, centers=centers, scales=scales, sigmas=COCO17.sigmas))
        ms_eval, metrics = timed(lambda: evaluate_coco_keypoints(gt, results, sigmas=COCO17.sigmas))
        res[f"to_image_{method}_ms"], res[f"rescore_nms_{method}_ms"], res[f"cocoeval_{method}_ms"] = ms_img, ms_nms, ms_eval
        res[f"total_{method}_ms"] = round(res[f"decode_{method}_ms"] + ms_img + ms_nms + ms_eval, 2)
        res[f"AP_{method}"] = round(metrics["AP"], 4)
    return res


def bench_predict(
    arch: str,
    input_size: Sequence[int],
    *,
    batch_size: int = 32,
    steps: int = 5,
    warmup: int = 2,
    device: torch.device | str = "cpu",
    precisions: Sequence[str] = ("fp32", "bf16"),
    onnx: bool = True,
    num_joints: int = 17,
) -> list[dict[str, Any]]:
    """Persons/s of :class:`~semipose.predict.PoseEstimator` next to the bare network forward.

    ``batch_size`` persons on one 640x480 image per call (flip test off): the API time is
    crop + normalise + forward + decode + back to image pixels; the forward time is the
    network alone on a ready ``(N, 3, H, W)`` batch. One row per precision (``bf16`` only
    where the device runs it fast) and, when onnxruntime is installed, one for an ONNX export
    of the same weights.

    Returns:
        Rows with ``backend``, ``precision``, ``api_ms`` (the whole call), ``forward_ms`` (the
        network), ``pre_ms`` (crop + normalise), ``post_ms`` (decode + back to image pixels),
        ``overhead_pct`` = (pre + post) / forward, each timed on its own (medians), and
        ``persons_per_s`` of the whole call.
    """
    import importlib.util

    import numpy as np

    from ..models.modelfile import ModelCard, model_file_payload, read_model
    from ..predict.estimator import PoseEstimator, _TorchBackend
    from ..skeletons import BUILTIN_SKELETONS

    device = torch.device(device)
    w, h = int(input_size[0]), int(input_size[1])
    sk = next(s for s in BUILTIN_SKELETONS.values() if s.num_keypoints == num_joints)
    card = ModelCard(arch=arch, skeleton=sk.to_dict(), input_size=(w, h))
    net = card.build_net().eval()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    boxes = np.stack([rng.uniform(0, 300, batch_size), rng.uniform(0, 200, batch_size),
                      rng.uniform(80, 300, batch_size), rng.uniform(120, 280, batch_size)], 1).astype(np.float32)
    rows: list[dict[str, Any]] = []

    def row(backend: str, precision: str, est: PoseEstimator, forward: Any) -> dict[str, Any]:
        from ..geometry import box_to_center_scale

        centers, scales = box_to_center_scale(boxes, w / h, est.card.padding)
        x = est._normalize([est._crop(image, c, s) for c, s in zip(centers, scales)])
        hm = forward(x)
        fwd = _median_ms(lambda: forward(x), device, steps, warmup)
        pre = _median_ms(lambda: est._normalize([est._crop(image, c, s) for c, s in zip(centers, scales)]), device, steps, warmup)

        def post() -> None:
            xy, _ = est.codec.decode(hm.float())
            est.codec.to_image(xy.cpu().numpy(), centers, scales)

        post_ms = _median_ms(post, device, steps, warmup)
        api = _median_ms(lambda: est(image, boxes=boxes), device, steps, warmup)
        return {"backend": backend, "precision": precision, "arch": arch, "input": f"{w}x{h}", "batch": batch_size,
                "api_ms": round(api, 2), "forward_ms": round(fwd, 2), "pre_ms": round(pre, 2), "post_ms": round(post_ms, 2),
                "overhead_pct": round(100 * (pre + post_ms) / fwd, 2), "persons_per_s": round(batch_size / api * 1e3, 1)}

    for prec in precisions:
        backend = _TorchBackend(net, device, prec)
        est = PoseEstimator(backend, card, device, flip_test=False, batch_size=batch_size, precision=prec)
        rows.append(row("torch", prec, est, backend))
    if onnx and all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime")):
        from ..predict.onnx import OnnxBackend, export_onnx

        with tempfile.TemporaryDirectory() as tmp:
            torch.save(model_file_payload(card, [net]), Path(tmp) / "m.pt")
            path, _ = export_onnx(read_model(Path(tmp) / "m.pt"), Path(tmp) / "m.onnx")
            ort = OnnxBackend(path, device)
            est = PoseEstimator(ort, ort.card, device, flip_test=False, batch_size=batch_size, backend="onnxruntime")
            rows.append(row("onnxruntime", "fp32", est, ort))
    return rows
