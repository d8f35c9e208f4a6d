"""The training loop for every method (supervised, PoseCons, PoseDual, multi-path) — plain
PyTorch; the method's step loss lives in :class:`semipose.ssl.methods.SemiSupervisedModel`.

A run folder (``<output_dir>/<name>``, suffixed ``-2``, ``-3`` … when taken) holds::

    config.yaml          the resolved config (re-runnable with ``semipose train``)
    skeleton.json        the keypoint set
    train.log            everything logged
    label_subset.json    the labelled annotation ids (reusable as data.label_ids_file)
    metrics.csv          one row per epoch: every loss term, the teacher collapse signal,
                         lr, timings and the validation metrics (per network for two)
    tb/                  TensorBoard scalars
    checkpoints/last.pt  every epoch: the model file plus the training state (exact resume point)
    checkpoints/best.pt  the model file (weights + model card) of the best validation AP so far
    eval/                results JSON and metrics of the latest validation (per network and
                         the ensemble for two networks)
    val_predictions.png  predictions of the best model drawn on validation images
    curves.png           the metrics CSV plotted

Reproducibility: the model is initialised under ``seed``; epoch ``e`` shuffles with a
generator seeded by ``(seed, e)`` and each sample's augmentation is seeded by
``(seed, e, index)``; the hard views draw from a device generator seeded by ``(seed, rank)``
and saved in the checkpoint; so resuming from ``last.pt`` replays exactly what an uninterrupted run
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
from ..errors import ConfigError, TrainingError
from ..evaluation.coco import evaluate_predictions, format_metrics_table, write_metrics_json
from ..evaluation.inference import run_inference
from ..data.mixed import MixedBatchSampler, mixed_collate
from ..data.topdown import worker_init_for
from ..ssl.methods import sigmoid_rampup
from .build import (
    EvalData,
    build_codec,
    build_eval_data,
    build_optimizer,
    build_scheduler,
    build_skeleton,
    build_ssl_model,
    build_train_data,
    resolve_device,
)
from ..models.modelfile import ModelCard, model_file_payload
from .checkpoint import capture_rng, load_training_state, restore_rng, save_checkpoint
from .runfolder import check_resume_point, config_changes, describe_changes, prepare_run_dir, remove_failed_start
from .distributed import DistInfo, ShardedSampler, all_reduce_sum, barrier, init_distributed

__all__ = ["TrainResult", "train", "validate", "validate_nets", "selection_metrics", "net_names", "make_run_dir", "seed_everything", "setup_logging"]

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


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced after setup)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


def setup_logging(run_dir: Path | None = None, level: int = logging.INFO) -> None:
    """Console logging for the ``semipose`` logger, plus ``run_dir/<file>.log`` if given."""
    logger = logging.getLogger("semipose")
    logger.setLevel(level)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    if not any(getattr(h, "_semipose_console", False) for h in logger.handlers):
        h = _StderrHandler()
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
        """Add (or, for an epoch already there, replace) one epoch's row; rows stay in epoch order."""
        key = str(row.get("epoch"))
        self.rows = [r for r in self.rows if str(r.get("epoch")) != key] + [row]
        self.rows.sort(key=lambda r: int(float(r.get("epoch") or 0)))
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
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=drop_last,
        worker_init_fn=worker_init_for(workers),
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
    name: str = "net",
) -> dict[str, Any]:
    """Predict the validation set with one network and evaluate it with pycocotools.

    With several processes each predicts its shard, the shards are summed across ranks and
    rank 0 evaluates; the other ranks return ``{}``. Results and metrics are written to
    ``out_dir`` as ``keypoints_<name>_results.json`` / ``metrics_<name>.json``.
    """
    sampler = ShardedSampler(len(data.dataset), dist_info.rank, dist_info.world_size, seed=None, pad=False)
    loader = _loader(data.dataset, cfg.eval.batch_size, cfg.data.workers, sampler=sampler, device=device, drop_last=False)
    preds = run_inference(
        model, loader, codec, device=device, flip_index=skeleton.flip_index if cfg.eval.flip_test else None,
        shift_heatmap=cfg.eval.shift_heatmap, amp=cfg.train.amp, progress=progress, desc=f"val {name}",
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
    coords, maxvals = preds.coords, preds.maxvals
    if data.mapping is not None:  # union order → the dataset's keypoint order (spec §2.2)
        coords, maxvals = data.mapping.from_union(coords, axis=1), data.mapping.from_union(maxvals, axis=1)
    if data.metric == "pckh":
        from ..evaluation.pckh import evaluate_pckh

        metrics: dict[str, Any] = evaluate_pckh(coords, data.gt_file)  # type: ignore[arg-type]
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            write_metrics_json(Path(out_dir) / f"metrics_{name}.json", metrics)
            np.save(Path(out_dir) / f"pred_{name}.npy", np.concatenate([coords, maxvals[..., None]], axis=-1))
    else:
        metrics = evaluate_predictions(
            data.records, coords, maxvals, data.ann_file, skeleton=data.eval_skeleton or skeleton, out_dir=out_dir,
            in_vis_thr=cfg.eval.in_vis_thr, oks_thr=cfg.eval.oks_nms_thr, use_nms=cfg.eval.use_nms, name=name,
        )
    metrics["_preds"] = preds  # type: ignore[assignment]
    return metrics


def net_names(num_nets: int) -> list[str]:
    """Row names of an evaluation: ``["net"]`` or ``["net1", "net2", "ensemble"]``."""
    return ["net"] if num_nets == 1 else [f"net{i + 1}" for i in range(num_nets)] + ["ensemble"]


def validate_nets(
    nets: list[torch.nn.Module] | torch.nn.ModuleList,
    cfg: Config,
    data: EvalData,
    codec: Any,
    skeleton: Any,
    device: torch.device,
    out_dir: Path | None,
    *,
    progress: bool = True,
    dist_info: DistInfo = DistInfo(),
) -> dict[str, dict[str, Any]]:
    """Evaluate every network and, for several, their ensemble (mean heatmaps, spec §7.7).

    Returns:
        ``{name: metrics}`` for the names of :func:`net_names` (``{}`` on non-main ranks).
    """
    from ..ssl.methods import EnsembleNet

    models = list(nets)
    if len(models) > 1:
        models.append(EnsembleNet(list(nets)))
    out: dict[str, dict[str, Any]] = {}
    for name, m in zip(net_names(len(nets)), models):
        res = validate(m, cfg, data, codec, skeleton, device, out_dir, progress=progress, dist_info=dist_info, name=name)
        if res:
            out[name] = res
    return out


def selection_metrics(results: dict[str, dict[str, Any]], select: str) -> dict[str, float]:
    """The metrics that pick ``best``: the one network's; for two, the mean of the nets'
    (MultiAugs), net 1's (Semi_Human_Pose) or the ensemble's, by ``select``."""
    if "net" in results:
        return {k: v for k, v in results["net"].items() if not k.startswith("_")}
    if select == "ensemble":
        src = [results["ensemble"]]
    elif select == "net1":
        src = [results["net1"]]
    else:
        src = [results[k] for k in results if k.startswith("net")]
    keys = [k for k in src[0] if not k.startswith("_")]
    return {k: float(np.mean([r[k] for r in src])) for k in keys}


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


def _batch_inputs(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Move a (supervised or mixed) batch to the device as the step model's arguments."""
    sup = batch["sup"] if "sup" in batch else batch
    out: dict[str, Any] = {
        "sup_images": sup["image"].to(device, non_blocking=True),
        "sup_target": sup["target"].to(device, non_blocking=True),
        "sup_weight": sup["target_weight"].to(device, non_blocking=True),
    }
    uns = batch.get("unsup")
    if uns is not None:
        out["unsup_images"] = uns["image"].to(device, non_blocking=True)
        out["unsup_weight"] = uns["weight"].to(device, non_blocking=True)
    return out


def train(
    cfg: Config, *, resume: str | Path | None = None, run_dir: str | Path | None = None, progress: bool = True,
    trust_checkpoint: bool = False, overwrite: bool = False,
) -> TrainResult:
    """Train a top-down pose model as configured: supervised, PoseCons or PoseDual
    (``cfg.ssl.method``), with the configured hard-view paths.

    Args:
        cfg: the experiment.
        resume: a run folder or a ``last.pt`` checkpoint to continue (the run folder of the
            checkpoint is reused).
        run_dir: write into this folder instead of a fresh ``output_dir/name``.
        progress: show progress bars.
        trust_checkpoint: allow checkpoint files (the resumed one, ``model.init_weights``,
            ``model.pretrained``) that need arbitrary unpickling, which can run code from them.
        overwrite: ``run_dir`` may hold an earlier run; its results are removed first.

    Returns:
        :class:`TrainResult` with the run folder and the best AP (for two networks, the
        selection AP of ``cfg.ssl.select``).
    """
    ckpt = None
    if resume is not None:
        rp = Path(resume)
        ckpt_path = rp / "checkpoints" / "last.pt" if rp.is_dir() else rp
        ckpt = load_training_state(ckpt_path, trust=trust_checkpoint)
        run_dir = ckpt_path.parent.parent if run_dir is None else run_dir
        check_resume_point(ckpt_path, int((ckpt.train_state or {}).get("epoch", 0)), Path(run_dir))
        cfg = _resume_config(cfg, ckpt.card.config or {}, ckpt_path)
    dist_info, device = init_distributed(resolve_device(cfg.device))
    main = dist_info.is_main
    if run_dir is None and not main:
        run_dir = Path(cfg.output_dir) / cfg.name  # never written to by other ranks
    created = run_dir is None or not Path(run_dir).exists()
    if run_dir is not None and main:
        prepare_run_dir(Path(run_dir), resume=ckpt is not None, overwrite=overwrite)
    run_path = Path(run_dir) if run_dir is not None else make_run_dir(cfg.output_dir, cfg.name)
    if main:
        run_path.mkdir(parents=True, exist_ok=True)
    setup_logging(run_path if main else None, logging.INFO if main else logging.WARNING)
    try:
        return _train(cfg, ckpt, run_path, dist_info, device, progress=progress and main, trust_checkpoint=trust_checkpoint)
    except BaseException as e:
        # a failed start leaves no folder behind; a failure later is written to train.log too
        if main and not (created and remove_failed_start(run_path)) and not isinstance(e, KeyboardInterrupt):
            log.error("training stopped: %s: %s", type(e).__name__, e)
        raise


def _resume_config(cfg: Config, old: dict[str, Any], ckpt_path: Path) -> Config:
    """The config of a resumed run: changes of :data:`~semipose.engine.runfolder.RESUME_APPLIED`
    keys are applied (and logged), any other change is refused with the list of keys."""
    applied, refused = config_changes(old, config_to_dict(cfg))
    if refused:
        raise ConfigError(
            f"--resume {ckpt_path}: the config differs from the run's in {describe_changes(refused)}; these cannot change "
            "on resume: start a new run, or give the run's own config (its config.yaml)"
        )
    applied = {k: v for k, v in applied.items() if k not in ("name", "output_dir")}
    if applied:
        log.info("resume: applying the changed %s", describe_changes(applied))
    return cfg


def _train(
    cfg: Config, ckpt: Any, run_path: Path, dist_info: DistInfo, device: torch.device, *, progress: bool, trust_checkpoint: bool
) -> TrainResult:
    """The run itself (see :func:`train`)."""
    t_start = time.perf_counter()
    main = dist_info.is_main
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)

    skeleton = build_skeleton(cfg)
    codec = build_codec(cfg)
    data = build_train_data(cfg, skeleton, codec, run_dir=run_path if main and ckpt is None else None)
    val_data = build_eval_data(cfg, skeleton, codec)
    model = build_ssl_model(cfg, skeleton.num_keypoints, load_pretrained=ckpt is None, trust=trust_checkpoint)
    if dist_info.enabled and cfg.train.sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device)
    optimizer = build_optimizer(cfg, model.parameters())
    scheduler = build_scheduler(cfg, optimizer)
    use_amp = cfg.train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    # the hard views' randomness: one generator on the device, per rank, saved with the run
    view_gen = torch.Generator(device=device)
    view_gen.manual_seed(cfg.seed * 1000003 + dist_info.rank)

    start_epoch, best_ap, best_epoch, global_step = 0, -1.0, -1, 0
    best_metrics: dict[str, Any] = {}
    if ckpt is not None:
        if len(ckpt.states) != model.num_nets:
            raise ConfigError(f"{ckpt.path}: checkpoint holds {len(ckpt.states)} network(s), the config trains {model.num_nets}")
        for net, sd in zip(model.nets, ckpt.states):
            net.load_state_dict(sd)
        st = ckpt.train_state or {}
        optimizer.load_state_dict(st["optimizer"])
        scheduler.load_state_dict(st["scheduler"])
        if scheduler.base_lrs and scheduler.base_lrs[0] != cfg.train.lr:  # a changed train.lr (see _resume_config)
            decay = cfg.train.lr_factor ** sum(st["epoch"] >= m for m in cfg.train.lr_steps)
            scheduler.base_lrs = [cfg.train.lr for _ in scheduler.base_lrs]
            for g in optimizer.param_groups:
                g["initial_lr"], g["lr"] = cfg.train.lr, cfg.train.lr * decay
        scaler.load_state_dict(st["scaler"])
        restore_rng(st["rng"])
        if "view_generator" in st:
            view_gen.set_state(st["view_generator"].to("cpu") if device.type == "cpu" else st["view_generator"])
        start_epoch, best_ap, best_epoch = st["epoch"], st["best_ap"], st["best_epoch"]
        global_step = st.get("global_step", 0)
        best_metrics = st.get("best_metrics", {})
        log.info("resumed from %s at epoch %d (best AP %.4f at epoch %d)", ckpt.path, start_epoch, best_ap, best_epoch)
    elif main:
        dump_config(cfg, run_path / "config.yaml")
        (run_path / "skeleton.json").write_text(json.dumps(skeleton.to_dict(), indent=1))
    # the forward/backward pass goes through DDP (one call per step computes every network
    # pass and the loss); everything else uses the bare model
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if dist_info.enabled else model

    n_params = sum(p.numel() for p in model.parameters())
    q = cfg.ssl
    method_txt = cfg.ssl.method if not cfg.semi_supervised else (
        f"{q.method} ({'affine + ' if q.hard_affine else ''}paths {q.paths}{f' ×{q.repeat}' if q.repeat > 1 else ''})"
    )
    log.info(
        "run %s | %s | %s × %d, %.1fM params, %s | %s | %d val instances | device %s%s",
        run_path, method_txt, cfg.model.arch, model.num_nets, n_params / 1e6, f"{cfg.data.input_size[0]}x{cfg.data.input_size[1]}",
        data.description, len(val_data.records), device, f" × {dist_info.world_size} processes" if dist_info.enabled else "",
    )
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_path / "tb")) if main else None
    table = _CSV(run_path / "metrics.csv") if main else None
    history: list[dict[str, Any]] = []
    b_lab = cfg.train.batch_size
    b_unl = cfg.train.unlabeled_batch_size or b_lab
    if data.mixed is not None:
        batches = MixedBatchSampler(
            data.mixed.num_unlabelled, data.mixed.num_labelled, b_unl, b_lab,
            seed=cfg.seed, rank=dist_info.rank, world_size=dist_info.world_size,
        )
        iters_per_epoch = len(batches)
        what = f"{data.mixed.num_unlabelled} unlabelled instances, fewer than one batch of {b_unl}"
    else:
        # a small labelled set: with max_iters_per_epoch beyond one pass, an epoch spans several
        # passes, so supervised and semi-supervised runs compare at equal steps
        want = cfg.train.max_iters_per_epoch * b_lab * dist_info.world_size
        passes = max(1, -(-want // len(data.labelled)))
        virtual_len = len(data.labelled) * passes
        iters_per_epoch = len(ShardedSampler(virtual_len, dist_info.rank, dist_info.world_size, seed=0)) // b_lab
        what = f"{len(data.labelled)} labelled instances, fewer than one batch of {b_lab}"
    if cfg.train.max_iters_per_epoch:
        iters_per_epoch = min(iters_per_epoch, cfg.train.max_iters_per_epoch)
    if iters_per_epoch == 0:
        raise ConfigError(f"training set has {what}")
    names = net_names(model.num_nets)
    score_key = val_data.score_key

    try:
        for epoch in range(start_epoch, cfg.train.epochs):
            net.train()
            data.set_epoch(epoch)
            if data.mixed is not None:
                batches.set_epoch(epoch)
                loader = DataLoader(
                    data.mixed, batch_sampler=batches, num_workers=cfg.data.workers, collate_fn=mixed_collate,
                    pin_memory=device.type == "cuda", worker_init_fn=worker_init_for(cfg.data.workers),
                )
            else:
                sampler = ShardedSampler(virtual_len, dist_info.rank, dist_info.world_size, seed=cfg.seed * 100003 + epoch)
                loader = _loader(data.labelled, b_lab, cfg.data.workers, sampler=sampler, device=device, drop_last=True)
            loss_sum = torch.zeros((), device=device)
            term_sums: dict[str, torch.Tensor] = {}
            stat_sums: dict[str, torch.Tensor] = {}
            data_time = step_time = 0.0
            t_ep = time.perf_counter()
            t_last = time.perf_counter()
            bar = tqdm(total=iters_per_epoch, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", disable=not progress, dynamic_ncols=True, leave=False)
            for it, batch in enumerate(loader):
                if it >= iters_per_epoch:
                    break
                t_data = time.perf_counter()
                data_time += t_data - t_last
                inputs = _batch_inputs(batch, device)
                if cfg.train.warmup_iters and global_step < cfg.train.warmup_iters:
                    f = (global_step + 1) / cfg.train.warmup_iters
                    for g in optimizer.param_groups:
                        g["lr"] = g["initial_lr"] * f * cfg.train.lr_factor ** sum(epoch >= s for s in cfg.train.lr_steps)
                with torch.autocast(device_type=device.type, enabled=use_amp):
                    out = net(**inputs, generator=view_gen, unsup_scale=sigmoid_rampup(global_step, q.rampup_iters))
                loss = out["loss"]
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.train.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                loss_sum += loss.detach()
                for k, v in out["terms"].items():
                    term_sums[k] = term_sums.get(k, 0) + v
                for k, v in out["stats"].items():
                    stat_sums[k] = stat_sums.get(k, 0) + v
                global_step += 1
                t_last = time.perf_counter()
                step_time += t_last - t_data
                if (it + 1) % cfg.train.log_every == 0 or it + 1 == iters_per_epoch:
                    # host sync (and cross-rank mean) only at the print interval
                    lv = float(all_reduce_sum(loss.detach().clone(), dist_info)) / dist_info.world_size
                    if not math.isfinite(lv):
                        raise TrainingError(
                            f"loss is {lv} at epoch {epoch + 1}, iteration {it + 1}; {_last_good(run_path, epoch)} "
                            "(lower train.lr, or enable train.grad_clip)"
                        )
                    shown = {k: f"{float(v):.2e}" for k, v in out["terms"].items() if "_p" not in k}
                    if writer is not None:
                        writer.add_scalar("train/loss", lv, global_step)
                        writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], global_step)
                        for k, v in out["terms"].items():
                            writer.add_scalar(f"train/{k}", float(v), global_step)
                    bar.set_postfix(loss=f"{lv:.3e}", **shown, data=f"{data_time / (it + 1) * 1e3:.0f}ms", step=f"{step_time / (it + 1) * 1e3:.0f}ms")
                bar.update(1)
            bar.close()
            scheduler.step()
            n_it = iters_per_epoch * dist_info.world_size
            train_loss = float(all_reduce_sum(loss_sum, dist_info)) / n_it
            if not math.isfinite(train_loss):
                raise TrainingError(f"mean training loss of epoch {epoch + 1} is {train_loss}; {_last_good(run_path, epoch)}")
            diverging = _diverging(train_loss, [float(r["train_loss"]) for r in (table.rows if table is not None else history)
                                                if int(float(r["epoch"])) <= epoch])
            if diverging:
                log.warning("epoch %d: %s; best.pt is not updated from this epoch", epoch + 1, diverging)
            row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss}
            for k, v in term_sums.items():
                row[f"loss_{k}"] = float(all_reduce_sum(v.clone(), dist_info)) / n_it
            row.update(_collapse_signal(stat_sums, dist_info))
            row.update({
                "lr": optimizer.param_groups[0]["lr"],
                "epoch_time_s": round(time.perf_counter() - t_ep, 2),
                "data_time_ms": round(data_time / iters_per_epoch * 1e3, 2),
                "step_time_ms": round(step_time / iters_per_epoch * 1e3, 2),
            })
            if writer is not None:
                for k, v in row.items():
                    if k != "epoch":
                        writer.add_scalar(f"epoch/{k}", v, epoch + 1)
            is_last = epoch + 1 == cfg.train.epochs
            improved = False
            if (epoch + 1) % cfg.train.val_every == 0 or is_last:
                results = validate_nets(
                    list(model.nets), cfg, val_data, codec, skeleton, device, run_path / "eval", progress=progress, dist_info=dist_info,
                )
                if main:
                    sel = selection_metrics(results, q.select)
                    row.update({k: round(v, 5) for k, v in sel.items()})
                    if len(results) > 1:
                        row.update({f"{score_key}_{n}": round(results[n][score_key], 5) for n in names})
                    write_metrics_json(run_path / "eval" / "metrics.json", sel)
                    for k, v in sel.items():
                        writer.add_scalar(f"val/{k}", v, epoch + 1)  # type: ignore[union-attr]
                    improved = sel[score_key] > best_ap and not diverging
                    if improved:
                        best_ap, best_epoch = sel[score_key], epoch + 1
                        best_metrics = {n: {k: float(v) for k, v in r.items() if not k.startswith("_")} for n, r in results.items()}
                        first = "net" if "net" in results else ("ensemble" if q.select == "ensemble" else "net1")
                        try:  # the picture shows the best model; drawn now, no re-validation later
                            _draw_predictions(run_path, val_data, results[first]["_preds"], skeleton, cfg.eval.num_vis_images)
                        except Exception as e:  # noqa: BLE001 - a drawing failure must not stop training
                            log.warning("could not draw predictions: %s", e)
            history.append(row)
            if not main:
                continue
            table.append(row)  # type: ignore[union-attr]
            nets_state = [n.state_dict() for n in model.nets]
            sel_now = {k: row[k] for k in (score_key,) if k in row}
            card = ModelCard.from_config(cfg, skeleton, source={"run": str(run_path), "epoch": epoch + 1, "metrics": sel_now})
            train_state = {
                "epoch": epoch + 1,
                "global_step": global_step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "best_ap": best_ap,
                "best_epoch": best_epoch,
                "best_metrics": best_metrics,
                "rng": capture_rng(),
                "view_generator": view_gen.get_state(),
            }
            save_checkpoint(run_path / "checkpoints" / "last.pt", model_file_payload(card, nets_state, train_state))
            if improved:
                save_checkpoint(run_path / "checkpoints" / "best.pt", model_file_payload(card, nets_state))
            elapsed = time.perf_counter() - t_start
            done = epoch + 1 - start_epoch
            eta = elapsed / done * (cfg.train.epochs - epoch - 1)
            ap_txt = f" | {score_key} {row[score_key]:.4f} (best {round(best_ap, 5):.4f} @ {best_epoch})" if score_key in row else ""
            terms_txt = " ".join(f"{k[5:]} {v:.2e}" for k, v in row.items() if k.startswith("loss_") and "_p" not in k)
            conf_txt = "".join(
                f" | teacher{k[12:]} peak {row[k]:.3f}, lost {row['teacher_low' + k[12:]]:.1%}" for k in row if k.startswith("teacher_conf")
            )
            log.info(
                "epoch %d/%d | loss %.3e (%s) | lr %.1e | %.0fs (data %.0fms, step %.0fms per iter)%s%s | ETA %s",
                epoch + 1, cfg.train.epochs, train_loss, terms_txt, row["lr"], row["epoch_time_s"], row["data_time_ms"],
                row["step_time_ms"], conf_txt, ap_txt, time.strftime("%H:%M:%S", time.gmtime(eta)),
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
        rows = {(cfg.model.arch if n == "net" else f"{cfg.model.arch} {n}"): m for n, m in best_metrics.items()}
        if val_data.metric == "pckh":
            from ..evaluation.pckh import format_pckh_table

            table_txt = format_pckh_table(rows)
        else:
            table_txt = format_metrics_table(rows)
        log.info("best epoch %d, validation (%s):\n%s", best_epoch, val_data.protocol["boxes"], table_txt)
    log.info("run folder: %s (%.1f min)", run_path, (time.perf_counter() - t_start) / 60)
    flat = (best_metrics.get("net") or selection_metrics(best_metrics, q.select)) if best_metrics else {}
    return TrainResult(run_path, best_ap, best_epoch, flat, history)


#: An epoch's mean loss this many times the median of the earlier epochs' counts as diverging.
DIVERGENCE_FACTOR = 10.0


def _diverging(loss: float, earlier: list[float]) -> str:
    """Why an epoch's mean training loss looks like divergence ('' when it does not)."""
    if not earlier:
        return ""
    med = float(np.median(earlier))
    if med > 0 and loss > DIVERGENCE_FACTOR * med:
        return f"training loss {loss:.3e} is {loss / med:.0f}x the median of the earlier epochs ({med:.3e}): diverging? (lower train.lr)"
    return ""


def _last_good(run_path: Path, saved_epoch: int) -> str:
    """Where training can go on from, for an error message (``saved_epoch``: the epochs done,
    each ending with a ``last.pt``; 0 for none)."""
    if saved_epoch:
        return f"the last good state is {run_path / 'checkpoints' / 'last.pt'} (epoch {saved_epoch})"
    return "no checkpoint was written yet (it failed in the first epoch)"


def _collapse_signal(stat_sums: dict[str, torch.Tensor], dist_info: DistInfo) -> dict[str, float]:
    """Per teacher: mean peak of its heatmaps on the supervised joints of the unlabelled crops
    (``teacher_conf``) and the share of those joints whose peak is below ``ssl.collapse_thr``
    (``teacher_low``) — both fall towards 0 when a consistency method collapses."""
    out: dict[str, float] = {}
    for key in [k for k in stat_sums if k.startswith("conf_sum")]:
        suffix = key[len("conf_sum"):]
        count = float(all_reduce_sum(stat_sums["count" + suffix].clone(), dist_info))
        if count > 0:
            out["teacher_conf" + suffix] = round(float(all_reduce_sum(stat_sums[key].clone(), dist_info)) / count, 5)
            out["teacher_low" + suffix] = round(float(all_reduce_sum(stat_sums["low" + suffix].clone(), dist_info)) / count, 5)
    return out
