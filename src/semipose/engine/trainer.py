"""The supervised training loop — one screen of plain PyTorch.

A run folder (``<output_dir>/<name>``, suffixed ``-2``, ``-3`` … when taken) holds::

    config.yaml          the resolved config (re-runnable with ``semipose train``)
    skeleton.json        the keypoint set
    train.log            everything logged
    metrics.csv          one row per epoch: losses, lr, timings and the 10 COCO metrics
    tb/                  TensorBoard scalars
    checkpoints/last.pt  every epoch (exact resume point)
    checkpoints/best.pt  best validation AP so far
    eval/                COCO results JSON and metrics of the latest validation
    val_predictions.png  predictions of the best model drawn on validation images
    curves.png           the metrics CSV plotted

Reproducibility: the model is initialised under ``seed``; epoch ``e`` shuffles with a
generator seeded by ``(seed, e)`` and each sample's augmentation is seeded by
``(seed, e, index)``; so resuming from ``last.pt`` replays exactly what an uninterrupted run
would have done (bit-exact on CPU; up to cuDNN non-determinism on GPU).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from ..config import Config, config_to_dict, dump_config
from ..evaluation.coco import evaluate_predictions, format_metrics_table, write_metrics_json
from ..evaluation.inference import run_inference
from ..losses import joints_mse_loss
from .build import (
    EvalData,
    build_codec,
    build_eval_data,
    build_model,
    build_optimizer,
    build_scheduler,
    build_skeleton,
    build_train_dataset,
    resolve_device,
)
from .checkpoint import capture_rng, load_training_state, restore_rng, save_checkpoint
from .distributed import DistInfo, ShardedSampler, all_reduce_sum, barrier, init_distributed

__all__ = ["TrainResult", "train", "make_run_dir", "seed_everything", "setup_logging"]

log = logging.getLogger("semipose")


@dataclass
class TrainResult:
    """What a finished run produced."""

    run_dir: Path
    best_ap: float
    best_epoch: int
    #: validation metrics of the best epoch
    best_metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_run_dir(output_dir: str | Path, name: str) -> Path:
    """A fresh ``output_dir/name`` (``name-2``, ``name-3`` … if taken)."""
    root = Path(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    cand, i = root / name, 1
    while cand.exists():
        i += 1
        cand = root / f"{name}-{i}"
    cand.mkdir(parents=True)
    return cand


def setup_logging(run_dir: Path | None = None, level: int = logging.INFO) -> None:
    """Console logging for the ``semipose`` logger, plus ``run_dir/<file>.log`` if given."""
    logger = logging.getLogger("semipose")
    logger.setLevel(level)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    if not any(getattr(h, "_semipose_console", False) for h in logger.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(fmt)
        h._semipose_console = True  # type: ignore[attr-defined]
        logger.addHandler(h)
    if run_dir is not None:
        for h in [h for h in logger.handlers if getattr(h, "_semipose_file", False)]:
            logger.removeHandler(h)
            h.close()
        fh = logging.FileHandler(run_dir / "train.log")
        fh.setFormatter(fmt)
        fh._semipose_file = True  # type: ignore[attr-defined]
        logger.addHandler(fh)


class _CSV:
    """Append rows to ``metrics.csv``, widening the header when new columns appear."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if path.is_file():
            with open(path, newline="") as f:
                self.rows = list(csv.DictReader(f))

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        cols: list[str] = []
        for r in self.rows:
            cols += [c for c in r if c not in cols]
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(self.rows)
        tmp.replace(self.path)


def _loader(dataset: Any, batch_size: int, workers: int, *, sampler: Sampler[int], device: torch.device, drop_last: bool) -> DataLoader:
    from ..data.topdown import worker_init

    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=drop_last,
        worker_init_fn=worker_init if workers > 0 else None,
        persistent_workers=False,
    )


def validate(
    model: torch.nn.Module,
    cfg: Config,
    data: EvalData,
    codec: Any,
    skeleton: Any,
    device: torch.device,
    out_dir: Path | None,
    *,
    progress: bool = True,
    dist_info: DistInfo = DistInfo(),
) -> dict[str, Any]:
    """Predict the validation set and evaluate it with pycocotools.

    With several processes each predicts its shard, the shards are summed across ranks and
    rank 0 evaluates; the other ranks return ``{}``.
    """
    sampler = ShardedSampler(len(data.dataset), dist_info.rank, dist_info.world_size, seed=None, pad=False)
    loader = _loader(data.dataset, cfg.eval.batch_size, cfg.data.workers, sampler=sampler, device=device, drop_last=False)
    preds = run_inference(
        model, loader, codec, device=device, flip_index=skeleton.flip_index if cfg.eval.flip_test else None,
        shift_heatmap=cfg.eval.shift_heatmap, amp=cfg.train.amp, progress=progress, desc="val",
        num_keypoints=skeleton.num_keypoints, require_all=not dist_info.enabled,
    )
    if dist_info.enabled:
        packed = torch.from_numpy(
            np.concatenate([preds.coords.reshape(len(preds.filled), -1), preds.maxvals, preds.filled[:, None]], axis=1)
        ).to(device)
        packed = all_reduce_sum(packed, dist_info).cpu().numpy()
        k = skeleton.num_keypoints
        preds.coords = packed[:, : 2 * k].reshape(-1, k, 2).astype(np.float32)
        preds.maxvals = packed[:, 2 * k : 3 * k].astype(np.float32)
        if not dist_info.is_main:
            return {}
        if not (packed[:, -1] == 1).all():
            raise RuntimeError("distributed validation: shards did not cover every sample exactly once")
    metrics: dict[str, Any] = evaluate_predictions(
        data.records, preds.coords, preds.maxvals, data.ann_file, skeleton=skeleton, out_dir=out_dir,
        in_vis_thr=cfg.eval.in_vis_thr, oks_thr=cfg.eval.oks_nms_thr, use_nms=cfg.eval.use_nms,
    )
    if out_dir is not None and metrics:
        write_metrics_json(out_dir / "metrics.json", metrics)
    metrics["_preds"] = preds  # type: ignore[assignment]
    return metrics


def _draw_predictions(run_dir: Path, data: EvalData, preds: Any, skeleton: Any, n: int) -> None:
    from ..visualize import save_prediction_grid

    by_image: dict[int, list[int]] = {}
    for i, r in enumerate(data.records):
        by_image.setdefault(r.image_id, []).append(i)
    items = []
    for _, idx in list(by_image.items())[:n]:
        kp = np.concatenate([preds.coords[idx], preds.maxvals[idx][..., None]], axis=-1)
        boxes = np.stack([data.records[i].bbox for i in idx])
        items.append((data.records[idx[0]].image_path, kp, boxes))
    if items:
        save_prediction_grid(run_dir / "val_predictions.png", items, skeleton, score_thr=0.2)


def train(
    cfg: Config, *, resume: str | Path | None = None, run_dir: str | Path | None = None, progress: bool = True
) -> TrainResult:
    """Train a supervised top-down pose model as configured.

    Args:
        cfg: the experiment.
        resume: a run folder or a ``last.pt`` checkpoint to continue (the run folder of the
            checkpoint is reused).
        run_dir: write into this folder instead of a fresh ``output_dir/name``.
        progress: show progress bars.

    Returns:
        :class:`TrainResult` with the run folder and the best AP.
    """
    t_start = time.perf_counter()
    ckpt = None
    if resume is not None:
        rp = Path(resume)
        ckpt_path = rp / "checkpoints" / "last.pt" if rp.is_dir() else rp
        ckpt = load_training_state(ckpt_path)
        run_dir = ckpt_path.parent.parent if run_dir is None else run_dir
    dist_info, device = init_distributed(resolve_device(cfg.device))
    main = dist_info.is_main
    progress = progress and main
    if run_dir is None and not main:
        run_dir = Path(cfg.output_dir) / cfg.name  # never written to by other ranks
    run_path = Path(run_dir) if run_dir is not None else make_run_dir(cfg.output_dir, cfg.name)
    if main:
        run_path.mkdir(parents=True, exist_ok=True)
    setup_logging(run_path if main else None, logging.INFO if main else logging.WARNING)
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)

    skeleton = build_skeleton(cfg)
    codec = build_codec(cfg)
    train_set = build_train_dataset(cfg, skeleton, codec)
    val_data = build_eval_data(cfg, skeleton, codec)
    model = build_model(cfg, skeleton.num_keypoints, load_pretrained=ckpt is None)
    if dist_info.enabled and cfg.train.sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device)
    optimizer = build_optimizer(cfg, model.parameters())
    scheduler = build_scheduler(cfg, optimizer)
    use_amp = cfg.train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start_epoch, best_ap, best_epoch, global_step = 0, -1.0, -1, 0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        restore_rng(ckpt["rng"])
        start_epoch, best_ap, best_epoch = ckpt["epoch"], ckpt["best_ap"], ckpt["best_epoch"]
        global_step = ckpt.get("global_step", 0)
        best_metrics = ckpt.get("best_metrics", {})
        log.info("resumed from %s at epoch %d (best AP %.4f at epoch %d)", resume, start_epoch, best_ap, best_epoch)
    elif main:
        dump_config(cfg, run_path / "config.yaml")
        (run_path / "skeleton.json").write_text(json.dumps(skeleton.to_dict(), indent=1))
    # the forward/backward passes go through DDP; everything else uses the bare model
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if dist_info.enabled else model

    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "run %s | %s, %.1fM params, %s | %d train instances, %d val instances | device %s%s",
        run_path, cfg.model.arch, n_params / 1e6, f"{cfg.data.input_size[0]}x{cfg.data.input_size[1]}",
        len(train_set), len(val_data.records), device,
        f" × {dist_info.world_size} processes" if dist_info.enabled else "",
    )
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_path / "tb")) if main else None
    table = _CSV(run_path / "metrics.csv") if main else None
    history: list[dict[str, Any]] = []
    best_metrics: dict[str, Any] = {}
    shard = ShardedSampler(len(train_set), dist_info.rank, dist_info.world_size, seed=0)
    iters_per_epoch = len(shard) // cfg.train.batch_size
    if cfg.train.max_iters_per_epoch:
        iters_per_epoch = min(iters_per_epoch, cfg.train.max_iters_per_epoch)
    if iters_per_epoch == 0:
        raise ValueError(f"training set has {len(train_set)} instances, fewer than one batch of {cfg.train.batch_size}")

    try:
        for epoch in range(start_epoch, cfg.train.epochs):
            net.train()
            train_set.set_epoch(epoch)
            sampler = ShardedSampler(len(train_set), dist_info.rank, dist_info.world_size, seed=cfg.seed * 100003 + epoch)
            loader = _loader(train_set, cfg.train.batch_size, cfg.data.workers, sampler=sampler, device=device, drop_last=True)
            loss_sum = torch.zeros((), device=device)
            data_time = step_time = 0.0
            t_ep = time.perf_counter()
            t_last = time.perf_counter()
            bar = tqdm(total=iters_per_epoch, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", disable=not progress, dynamic_ncols=True, leave=False)
            for it, batch in enumerate(loader):
                if it >= iters_per_epoch:
                    break
                t_data = time.perf_counter()
                data_time += t_data - t_last
                images = batch["image"].to(device, non_blocking=True)
                target = batch["target"].to(device, non_blocking=True)
                weight = batch["target_weight"].to(device, non_blocking=True)
                if cfg.train.warmup_iters and global_step < cfg.train.warmup_iters:
                    f = (global_step + 1) / cfg.train.warmup_iters
                    for g in optimizer.param_groups:
                        g["lr"] = g["initial_lr"] * f * cfg.train.lr_factor ** sum(epoch >= s for s in cfg.train.lr_steps)
                with torch.autocast(device_type=device.type, enabled=use_amp):
                    out = net(images)
                    loss = joints_mse_loss(out.float(), target, weight)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.train.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                loss_sum += loss.detach()
                global_step += 1
                t_last = time.perf_counter()
                step_time += t_last - t_data
                if (it + 1) % cfg.train.log_every == 0 or it + 1 == iters_per_epoch:
                    # host sync (and cross-rank mean) only at the print interval
                    lv = float(all_reduce_sum(loss.detach().clone(), dist_info)) / dist_info.world_size
                    if not math.isfinite(lv):
                        raise FloatingPointError(
                            f"loss is {lv} at epoch {epoch + 1}, iteration {it + 1}; the last good state is "
                            f"{run_path / 'checkpoints' / 'last.pt'} (lower train.lr, or enable train.grad_clip)"
                        )
                    if writer is not None:
                        writer.add_scalar("train/loss", lv, global_step)
                        writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], global_step)
                    bar.set_postfix(loss=f"{lv:.3e}", data=f"{data_time / (it + 1) * 1e3:.0f}ms", step=f"{step_time / (it + 1) * 1e3:.0f}ms")
                bar.update(1)
            bar.close()
            scheduler.step()
            train_loss = float(all_reduce_sum(loss_sum, dist_info)) / iters_per_epoch / dist_info.world_size
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"mean training loss of epoch {epoch + 1} is {train_loss}")
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "lr": optimizer.param_groups[0]["lr"],
                "epoch_time_s": round(time.perf_counter() - t_ep, 2),
                "data_time_ms": round(data_time / iters_per_epoch * 1e3, 2),
                "step_time_ms": round(step_time / iters_per_epoch * 1e3, 2),
            }
            if writer is not None:
                writer.add_scalar("train/epoch_loss", train_loss, epoch + 1)
            is_last = epoch + 1 == cfg.train.epochs
            improved = False
            if (epoch + 1) % cfg.train.val_every == 0 or is_last:
                metrics = validate(model, cfg, val_data, codec, skeleton, device, run_path / "eval", progress=progress, dist_info=dist_info)
                preds = metrics.pop("_preds", None)
                if main:
                    row.update({k: round(v, 5) for k, v in metrics.items()})
                    for k, v in metrics.items():
                        writer.add_scalar(f"val/{k}", v, epoch + 1)  # type: ignore[union-attr]
                    improved = metrics["AP"] > best_ap
                    if improved:
                        best_ap, best_epoch, best_metrics = metrics["AP"], epoch + 1, metrics
                        try:  # the picture shows the best model; drawn now, no re-validation later
                            _draw_predictions(run_path, val_data, preds, skeleton, cfg.eval.num_vis_images)
                        except Exception as e:  # noqa: BLE001 - a drawing failure must not stop training
                            log.warning("could not draw predictions: %s", e)
            history.append(row)
            if not main:
                continue
            table.append(row)  # type: ignore[union-attr]
            payload = {
                "epoch": epoch + 1,
                "global_step": global_step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "best_ap": best_ap,
                "best_epoch": best_epoch,
                "best_metrics": best_metrics,
                "rng": capture_rng(),
                "config": config_to_dict(cfg),
                "skeleton": skeleton.to_dict(),
            }
            save_checkpoint(run_path / "checkpoints" / "last.pt", payload)
            if improved:
                save_checkpoint(run_path / "checkpoints" / "best.pt", payload)
            elapsed = time.perf_counter() - t_start
            done = epoch + 1 - start_epoch
            eta = elapsed / done * (cfg.train.epochs - epoch - 1)
            ap_txt = f" | AP {row['AP']:.4f} (best {best_ap:.4f} @ {best_epoch})" if "AP" in row else ""
            log.info(
                "epoch %d/%d | loss %.3e | lr %.1e | %.0fs (data %.0fms, step %.0fms per iter)%s | ETA %s",
                epoch + 1, cfg.train.epochs, train_loss, row["lr"], row["epoch_time_s"], row["data_time_ms"],
                row["step_time_ms"], ap_txt, time.strftime("%H:%M:%S", time.gmtime(eta)),
            )
    finally:
        if writer is not None:
            writer.close()
    barrier(dist_info)
    if dist_info.enabled:
        torch.distributed.destroy_process_group()
    if not main:
        return TrainResult(run_path, best_ap, best_epoch, {}, history)

    try:
        from ..visualize import plot_training_curves

        plot_training_curves(run_path / "metrics.csv", run_path / "curves.png")
    except Exception as e:  # noqa: BLE001
        log.warning("could not plot curves: %s", e)
    if best_metrics:
        log.info("best epoch %d, validation (%s):\n%s", best_epoch, val_data.protocol["boxes"], format_metrics_table({cfg.model.arch: best_metrics}))
    log.info("run folder: %s (%.1f min)", run_path, (time.perf_counter() - t_start) / 60)
    return TrainResult(run_path, best_ap, best_epoch, best_metrics, history)
