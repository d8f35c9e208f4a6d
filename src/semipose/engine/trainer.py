"""The training loop for every method (supervised, PoseCons, PoseDual, multi-path) — plain
PyTorch; the method's step loss lives in :class:`semipose.ssl.methods.SemiSupervisedModel`,
the run folder's files in :class:`~semipose.engine.runfolder.RunFolder`, what is reported in
the callbacks (:mod:`semipose.engine.callbacks`), validation in :mod:`semipose.engine.evaluate`.

Reproducibility: the model is initialised under ``seed``; epoch ``e`` shuffles with a
generator seeded by ``(seed, e)`` and each sample's augmentation is seeded by
``(seed, e, index)``; the hard views draw from a device generator seeded by ``(seed, rank)``
and saved in the checkpoint; the learning rate is a function of the step (:func:`lr_at`); so
resuming from ``last.pt`` replays exactly what an uninterrupted run would have done (bit-exact
on CPU; up to cuDNN non-determinism on GPU).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..codec import HeatmapCodec
from ..config import Config, TrainConfig, config_to_dict
from ..config.loader import migrate
from ..data.batches import LabelledSample, MixedBatch, StepInputs
from ..data.loaders import TrainLoader
from ..data.sources import EvalData, TrainData, build_eval_data, build_skeleton, build_train_data
from ..device import autocast, precision_reason, resolve_channels_last, resolve_device, resolve_precision, to_memory_format
from ..errors import ConfigError, EarlyStop, TrainingError
from ..models.modelfile import ModelCard
from ..params import selected_name
from ..skeletons import Skeleton
from ..ssl.methods import SemiSupervisedModel, TeacherStats, sigmoid_rampup
from ..threads import configure_threads, tick
from .build import build_codec, build_optimizer, build_ssl_model
from .callbacks import Callback, EpochInfo, StepInfo, default_callbacks
from .checkpoint import capture_rng, load_training_state, restore_rng
from .distributed import DistInfo, all_reduce_sum, barrier, init_distributed
from .evaluate import NetResult, selection_metrics, validate_nets
from .runfolder import RunFolder, check_resume_point, config_changes, describe_changes, make_run_dir, prepare_run_dir, remove_failed_start

__all__ = ["TrainResult", "train", "lr_at", "seed_everything", "DIVERGENCE_FACTOR"]

log = logging.getLogger("semipose")

#: An epoch's mean loss this many times the median of the earlier epochs' counts as diverging.
DIVERGENCE_FACTOR = 10.0
#: the first epoch has no earlier epoch to compare with: its mean loss is compared with the loss
#: of the run's first step (computed before any update, so a learning rate that explodes cannot
#: have raised it), with this (wider) factor, as the consistency terms ramp up from zero
START_FACTOR = 100.0
START_STEPS = 1


@dataclass
class TrainResult:
    """What a finished run produced."""

    run_dir: Path
    best_ap: float
    best_epoch: int
    #: validation metrics of the best epoch
    best_metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    #: the metric ``best_ap`` holds: ``AP``, PCKh ``Mean`` or a finder's ``F1``
    score_key: str = "AP"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_at(t: TrainConfig, step: int, epoch: int) -> float:
    """The learning rate of global step ``step`` (0-based) in epoch ``epoch`` (0-based): ``lr``,
    times ``lr_factor`` once per passed milestone of ``lr_steps`` (epochs: a multi-step
    schedule, the reference's) or of ``lr_step_iters`` (steps) when given, times
    ``(step + 1) / warmup_iters`` during the linear warm-up."""
    lr = t.lr
    for milestone in t.lr_step_iters or t.lr_steps:
        if (step if t.lr_step_iters else epoch) >= milestone:
            lr *= t.lr_factor
    if t.warmup_iters and step < t.warmup_iters:
        lr *= (step + 1) / t.warmup_iters
    return lr


@dataclass
class _Run:
    """Everything one training run holds (built by :func:`_setup`)."""

    cfg: Config
    folder: RunFolder
    dist: DistInfo
    device: torch.device
    skeleton: Skeleton
    codec: HeatmapCodec
    data: TrainData
    val_data: EvalData
    model: SemiSupervisedModel  # the bare networks + step loss
    step_model: torch.nn.Module  # what the step calls: the model, or DDP around it
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    view_gen: torch.Generator
    loader: TrainLoader
    precision: str  # resolved: fp32, bf16 or fp16
    channels_last: bool
    progress: bool = True
    start_epoch: int = 0
    global_step: int = 0
    best_ap: float = -1.0
    best_epoch: int = -1
    best_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    t_start: float = field(default_factory=time.perf_counter)
    first_losses: list[torch.Tensor] = field(default_factory=list)  # the first steps' losses (kept on the device)
    epochs: int = 0  # the run's epochs: train.epochs, or as many as train.max_steps takes

    def steps_in(self, epoch: int) -> int:
        """Optimiser steps of ``epoch`` (0-based): a whole epoch, or what is left of ``train.max_steps``."""
        per = self.loader.iters_per_epoch
        cap = self.cfg.train.max_steps
        return per if not cap else max(0, min(per, cap - epoch * per))
    start_loss: float | None = None  # the first step's loss (before any update), once the first epoch ends


def train(
    cfg: Config, *, resume: str | Path | None = None, run_dir: str | Path | None = None, progress: bool = True,
    trust_checkpoint: bool = False, overwrite: bool = False, callbacks: Sequence[Callback] | None = None,
    extra_callbacks: Sequence[Callback] = (),
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
        callbacks: what reports the run (default: :func:`~semipose.engine.callbacks.default_callbacks`).
        extra_callbacks: called after those (e.g. to stop a run early by raising).

    Returns:
        :class:`TrainResult` with the run folder and the best AP (for two networks, the
        selection AP of ``cfg.ssl.select``).
    """
    ckpt = None
    applied: dict[str, tuple[Any, Any]] = {}
    if resume is not None:
        rp = Path(resume)
        ckpt_path = rp / "checkpoints" / "last.pt" if rp.is_dir() else rp
        ckpt = load_training_state(ckpt_path, trust=trust_checkpoint)
        run_dir = ckpt_path.parent.parent if run_dir is None else run_dir
        check_resume_point(ckpt_path, int((ckpt.train_state or {}).get("epoch", 0)), Path(run_dir))
        cfg, applied = _resume_config(cfg, ckpt.model_card.config or {}, ckpt_path)
    dist_info, device = init_distributed(resolve_device(cfg.device))
    main = dist_info.is_main
    if run_dir is None and not main:
        run_dir = Path(cfg.output_dir) / cfg.name  # never written to by other ranks
    created = run_dir is None or not Path(run_dir).exists()
    if run_dir is not None and main:
        prepare_run_dir(Path(run_dir), resume=ckpt is not None, overwrite=overwrite)
    folder = RunFolder(Path(run_dir) if run_dir is not None else make_run_dir(cfg.output_dir, cfg.name), main=main)
    folder.start_logging()
    if ckpt is not None and applied and main:
        log.info("resume: applying the changed %s", describe_changes(applied))
    try:
        run = _setup(cfg, ckpt, folder, dist_info, device, trust=trust_checkpoint)
        run.progress = progress and main
        shown = selected_name(run.model.num_nets, cfg.ssl.select)
        cbs = list(callbacks) if callbacks is not None else default_callbacks(
            folder, run.val_data, run.skeleton, progress=progress and main, arch=cfg.model.arch,
            num_images=cfg.eval.num_vis_images, shown=shown,
        )
        return _loop(run, [*cbs, *extra_callbacks])
    except BaseException as e:
        # a failed start leaves no folder behind; a failure later is written to train.log too
        if main and not (created and remove_failed_start(folder.root)):
            if isinstance(e, KeyboardInterrupt):
                log.warning("interrupted: %s", _resume_hint(folder))
            elif isinstance(e, EarlyStop):
                log.info("stopped early: %s", e)
            else:
                log.error("training stopped: %s: %s", type(e).__name__, e)
        raise


def _loop(run: _Run, callbacks: Sequence[Callback]) -> TrainResult:
    """The epochs: train, validate when due, write the row and the checkpoints."""
    cfg = run.cfg
    for epoch in range(run.start_epoch, run.epochs):
        info = _train_one_epoch(run, epoch, callbacks)
        if (epoch + 1) % cfg.train.val_every == 0 or epoch + 1 == run.epochs:
            results = validate_nets(list(run.model.nets), cfg, run.val_data, run.codec, run.skeleton, run.device,
                                    run.folder.eval_dir, progress=run.progress, dist_info=run.dist, ema_nets=list(run.model.ema_nets or ()))
            _take_validation(run, info, results)
            for cb in callbacks:
                cb.on_val_end(epoch + 1, results, info.improved)
        info.best_score, info.best_epoch, info.nets = round(run.best_ap, 5), run.best_epoch, list(run.model.nets)
        info.ema_nets = list(run.model.ema_nets or ())
        done = epoch + 1 - run.start_epoch
        info.eta_s = (time.perf_counter() - run.t_start) / done * (run.epochs - epoch - 1)
        run.history.append(info.row())
        for cb in callbacks:
            cb.on_epoch_end(info)
        best_nets = [n.state_dict() for n in run.model.ema_nets] if cfg.ssl.select == "ema" and run.model.ema_nets is not None else None
        run.folder.save(_card(run, info), [n.state_dict() for n in run.model.nets], _train_state(run, epoch + 1), best=info.improved,
                        best_nets=best_nets)
        for cb in callbacks:
            cb.on_save(info)
    barrier(run.dist)
    if run.dist.enabled:
        torch.distributed.destroy_process_group()
    for cb in callbacks:
        cb.on_train_end(run.best_metrics if run.dist.is_main else {}, run.best_epoch)
    flat = selection_metrics(run.best_metrics, cfg.ssl.select) if run.best_metrics else {}
    return TrainResult(run.folder.root, run.best_ap, run.best_epoch, flat if run.dist.is_main else {}, run.history, run.val_data.score_key)


def _train_one_epoch(run: _Run, epoch: int, callbacks: Sequence[Callback]) -> EpochInfo:
    """One epoch of steps; the mean terms and collapse statistics over every process."""
    cfg, q, model = run.cfg, run.cfg.ssl, run.model
    run.step_model.train()
    model.start_epoch(epoch)
    n_iter = run.steps_in(epoch)
    loss_sum = torch.zeros((), device=run.device)
    term_sums: dict[str, torch.Tensor] = {}
    path_sums: dict[str, list[torch.Tensor]] = {}
    teacher_sums: list[TeacherStats] = []
    data_time = step_time = 0.0
    lr = lr_at(cfg.train, run.global_step, epoch)
    t_epoch = t_last = time.perf_counter()
    for it, batch in enumerate(run.loader.epoch(epoch)):
        if it >= n_iter:  # the last epoch of train.max_steps
            break
        t_data = time.perf_counter()
        data_time += t_data - t_last
        tick()
        lr = lr_at(cfg.train, run.global_step, epoch)
        for g in run.optimizer.param_groups:
            g["lr"] = lr
        with autocast(run.precision, run.device):
            out = run.step_model(**_batch_inputs(batch, run.device, run.channels_last), generator=run.view_gen,
                                 unsup_scale=sigmoid_rampup(run.global_step, q.rampup_iters))
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(out.loss).backward()
        if cfg.train.grad_clip > 0:
            run.scaler.unscale_(run.optimizer)
            torch.nn.utils.clip_grad_norm_(model.student_parameters(), cfg.train.grad_clip)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        model.update_ema(run.global_step)
        loss_sum += out.loss.detach()
        if epoch == 0 and len(run.first_losses) < START_STEPS:
            run.first_losses.append(out.loss.detach().float())
        for k, v in out.terms.items():
            term_sums[k] = term_sums.get(k, 0) + v
        for k, vs in out.path_terms.items():
            path_sums[k] = [a + b for a, b in zip(path_sums.get(k, [0] * len(vs)), vs)]
        teacher_sums = [a + b for a, b in zip(teacher_sums, out.teachers)] if teacher_sums else list(out.teachers)
        run.global_step += 1
        t_last = time.perf_counter()
        step_time += t_last - t_data
        loss = None
        if (it + 1) % cfg.train.log_every == 0 or it + 1 == n_iter:  # host sync only at the print interval
            loss = float(all_reduce_sum(out.loss.detach().clone(), run.dist)) / run.dist.world_size
            if not math.isfinite(loss):
                raise TrainingError(f"loss is {loss} at epoch {epoch + 1}, iteration {it + 1}; {_last_good(run, epoch)} "
                                    "(lower train.lr, or enable train.grad_clip)")
        for cb in callbacks:
            cb.on_step(StepInfo(epoch, run.epochs, it, n_iter, run.global_step, lr, out, loss,
                                data_time / (it + 1) * 1e3, step_time / (it + 1) * 1e3))
    n = n_iter * run.dist.world_size
    mean = lambda t: float(all_reduce_sum(t.clone(), run.dist)) / n  # noqa: E731
    train_loss = mean(loss_sum)
    if not math.isfinite(train_loss):
        raise TrainingError(f"mean training loss of epoch {epoch + 1} is {train_loss}; {_last_good(run, epoch)}")
    if run.first_losses and run.start_loss is None:
        start = all_reduce_sum(torch.stack(run.first_losses).median().clone(), run.dist)
        run.start_loss = float(start) / run.dist.world_size
    return EpochInfo(
        epoch + 1, run.epochs, train_loss, {k: mean(v) for k, v in term_sums.items()},
        {k: [mean(v) for v in vs] for k, vs in path_sums.items()}, _collapse_signal(model, teacher_sums, run.dist),
        lr, time.perf_counter() - t_epoch, data_time / n_iter * 1e3, step_time / n_iter * 1e3, score_key=run.val_data.score_key,
    )


def _take_validation(run: _Run, info: EpochInfo, results: dict[str, NetResult]) -> None:
    """The epoch's selection metrics, and whether it is the new best (never while diverging)."""
    if not run.dist.is_main:
        return
    info.metrics = selection_metrics({n: r.metrics for n, r in results.items()}, run.cfg.ssl.select)
    if len(results) > 1:
        info.per_net = {n: r.metrics[info.score_key] for n, r in results.items()}
    from ..evaluation.coco import write_metrics_json

    write_metrics_json(run.folder.eval_dir / "metrics.json", info.metrics)
    earlier = run.folder.metrics.column("train_loss", up_to=info.epoch - 1) if run.folder.metrics is not None else []
    diverging = _diverging(info.loss, earlier, run.start_loss)
    if diverging:
        log.warning("epoch %d: %s; best.pt is not updated from this epoch", info.epoch, diverging)
    info.improved = info.metrics[info.score_key] > run.best_ap and not diverging
    if info.improved:
        run.best_ap, run.best_epoch = info.metrics[info.score_key], info.epoch
        run.best_metrics = {n: dict(r.metrics) for n, r in results.items()}


def _setup(cfg: Config, ckpt: Any, folder: RunFolder, dist_info: DistInfo, device: torch.device, *, trust: bool) -> _Run:
    """Build the run's data, networks and optimizer; restore the training state when resuming."""
    seed_everything(cfg.seed)
    threads = configure_threads(cfg.num_threads)
    codec = build_codec(cfg)
    if cfg.task == "finder":  # whole frames, one anchor channel (semipose.data.finder)
        from ..data.finder import build_finder_data

        data, val_data, skeleton = build_finder_data(cfg, codec)
    else:
        skeleton = build_skeleton(cfg)
        detector = None
        if cfg.semi_supervised and cfg.data.unlabeled.detector:
            from ..models.finder import open_instance_detector

            detector = open_instance_detector(cfg.data.unlabeled.detector, cfg.data.unlabeled.detector_score_thr, trust=trust)
        data = build_train_data(cfg, skeleton, codec, run_dir=folder.root if folder.main and ckpt is None else None, detector=detector)
        val_data = build_eval_data(cfg, skeleton, codec)
    poses = np.stack([r.keypoints for r in data.labelled.records]) if cfg.ssl.pose_prior.weight > 0 else None
    model = build_ssl_model(cfg, skeleton.num_keypoints, load_pretrained=ckpt is None, trust=trust, poses=poses,
                            flip_index=[int(i) for i in skeleton.flip_index])
    if dist_info.enabled and cfg.train.sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device)
    view_gen = torch.Generator(device=device)  # the hard views' randomness, per rank, saved with the run
    view_gen.manual_seed(cfg.seed * 1000003 + dist_info.rank)
    loader = TrainLoader(
        data.labelled, data.mixed, batch_size=cfg.train.batch_size, unlabeled_batch_size=cfg.train.unlabeled_batch_size,
        workers=cfg.data.workers, seed=cfg.seed, rank=dist_info.rank, world_size=dist_info.world_size,
        max_iters=cfg.train.max_iters_per_epoch, pin_memory=device.type == "cuda",
    )
    precision = resolve_precision(cfg.train.precision, device)
    channels_last = resolve_channels_last(cfg.train.channels_last, precision)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    # the step goes through DDP (one call computes every network pass and the loss); the rest uses the bare model
    step_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if dist_info.enabled else model
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")  # loss scaling only for fp16
    run = _Run(cfg, folder, dist_info, device, skeleton, codec, data, val_data, model, step_model,
               build_optimizer(cfg, model.student_parameters()), scaler, view_gen, loader, precision, channels_last)
    run.epochs = math.ceil(cfg.train.max_steps / loader.iters_per_epoch) if cfg.train.max_steps else cfg.train.epochs
    if cfg.train.max_steps:
        log.info("train.max_steps %d: %d epoch(s) of %d steps%s (train.epochs is not used)", cfg.train.max_steps, run.epochs,
                 loader.iters_per_epoch, f", the last of {run.steps_in(run.epochs - 1)}" if cfg.train.max_steps % loader.iters_per_epoch else "")
    if ckpt is not None:
        _restore(run, ckpt)
    else:
        folder.write_start(cfg, skeleton.to_dict())
    n_params = sum(p.numel() for p in model.student_parameters())
    q = cfg.ssl
    method = q.method if not cfg.consistency else (
        f"{q.method} ({'affine + ' if q.hard_affine else ''}paths {q.paths}{f' ×{q.repeat}' if q.repeat > 1 else ''})"
    )
    method += "".join(f" + {t.name} (weight {t.weight:g}, ε {t.epsilon:g})" for t in model.video_losses)
    log.info(
        "run %s | %s | %s × %d, %.1fM params, %s | %s | %d val %s | device %s%s, %s%s (%s%s)",
        folder.root, method, cfg.model.arch, model.num_nets, n_params / 1e6, f"{cfg.data.input_size[0]}x{cfg.data.input_size[1]}",
        data.description, len(val_data.records), "frames" if val_data.metric == "finder" else "instances", device,
        f" × {dist_info.world_size} processes" if dist_info.enabled else "",
        run.precision, ", channels_last" if run.channels_last else "", precision_reason(cfg.train.precision, run.precision, device),
        f"; {threads.describe()}" if device.type == "cpu" else "",
    )
    return run


def _restore(run: _Run, ckpt: Any) -> None:
    """Continue from a ``last.pt``: weights, optimizer, AMP scaler, RNG streams and counters."""
    if len(ckpt.states) != run.model.num_nets:
        raise ConfigError(f"{ckpt.path}: checkpoint holds {len(ckpt.states)} network(s), the config trains {run.model.num_nets}")
    for net, sd in zip(run.model.nets, ckpt.states):
        net.load_state_dict(sd)
    st = ckpt.train_state or {}
    if run.model.ema_nets is not None:
        if "ema_states" not in st:
            raise ConfigError(f"{ckpt.path}: the run has an EMA teacher (ssl.teacher: ema) but the checkpoint holds no EMA weights")
        for ema, sd in zip(run.model.ema_nets, st["ema_states"]):
            ema.load_state_dict(sd)
    run.optimizer.load_state_dict(st["optimizer"])
    run.scaler.load_state_dict(st["scaler"])
    restore_rng(st["rng"])
    if "view_generator" in st:
        run.view_gen.set_state(st["view_generator"].to("cpu") if run.device.type == "cpu" else st["view_generator"])
    run.start_epoch, run.best_ap, run.best_epoch = st["epoch"], st["best_ap"], st["best_epoch"]
    run.global_step = st.get("global_step", 0)
    run.best_metrics = st.get("best_metrics", {})
    best = f"best {run.val_data.score_key} {run.best_ap:.4f} at epoch {run.best_epoch}" if run.best_epoch >= 1 else "not validated yet"
    log.info("resumed from %s at epoch %d (%s)", ckpt.path, run.start_epoch, best)


def _resume_config(cfg: Config, old: dict[str, Any], ckpt_path: Path) -> tuple[Config, dict[str, tuple[Any, Any]]]:
    """The config of a resumed run and the changes applied: changes of
    :data:`~semipose.engine.runfolder.RESUME_APPLIED` keys are applied (logged by the caller
    once the run's log is open), any other change is refused with the list of keys."""
    applied, refused = config_changes(migrate(old), config_to_dict(cfg))
    if refused:
        raise ConfigError(
            f"--resume {ckpt_path}: the config differs from the run's in {describe_changes(refused)}; these cannot change "
            "on resume: start a new run, or give the run's own config (its config.yaml)"
        )
    applied = {k: v for k, v in applied.items() if k not in ("name", "output_dir")}
    return cfg, applied


def _card(run: _Run, info: EpochInfo) -> ModelCard:
    score = {info.score_key: info.metrics[info.score_key]} if info.score_key in info.metrics else {}
    return ModelCard.from_config_dict(config_to_dict(run.cfg), run.skeleton, source={"run": str(run.folder.root), "epoch": info.epoch,
                                                                                        "metrics": score})


def _train_state(run: _Run, epoch: int) -> dict[str, Any]:
    """What ``last.pt`` adds to the model file: the exact point to resume from."""
    return {
        "epoch": epoch, "global_step": run.global_step, "optimizer": run.optimizer.state_dict(), "scaler": run.scaler.state_dict(),
        "best_ap": run.best_ap, "best_epoch": run.best_epoch, "best_metrics": run.best_metrics, "rng": capture_rng(),
        "view_generator": run.view_gen.get_state(),
        **({"ema_states": [n.state_dict() for n in run.model.ema_nets]} if run.model.ema_nets is not None else {}),
    }


def _batch_inputs(batch: MixedBatch | LabelledSample, device: torch.device, channels_last: bool = False) -> StepInputs:
    """Move a (supervised or mixed) batch to the device as the step model's arguments."""
    mixed = "sup" in batch
    sup = cast(MixedBatch, batch)["sup"] if mixed else cast(LabelledSample, batch)
    assert sup is not None  # every batch holds labelled crops
    out: StepInputs = {
        "sup_images": to_memory_format(sup["image"].to(device, non_blocking=True), channels_last),
        "sup_target": sup["target"].to(device, non_blocking=True),
        "sup_weight": sup["target_weight"].to(device, non_blocking=True),
    }
    uns = cast(MixedBatch, batch)["unsup"] if mixed else None
    if uns is not None:
        out["unsup_images"] = to_memory_format(uns["image"].to(device, non_blocking=True), channels_last)
        out["unsup_weight"] = uns["weight"].to(device, non_blocking=True)
        if "context" in uns:
            out["unsup_context"] = uns["context"].to(device, non_blocking=True)
    return out


def _diverging(loss: float, earlier: list[float], start: float | None = None) -> str:
    """Why an epoch's mean training loss looks like divergence ('' when it does not): far above
    the median of the earlier epochs, or (first epoch) far above the run's first steps."""
    if not earlier:
        if start is not None and start > 0 and loss > START_FACTOR * start:
            return (f"training loss {loss:.3e} is {loss / start:.0f}x the loss of the first step, before any update ({start:.3e}): "
                    "diverging? (lower train.lr, or enable train.grad_clip)")
        return ""
    med = float(np.median(earlier))
    if med > 0 and loss > DIVERGENCE_FACTOR * med:
        return f"training loss {loss:.3e} is {loss / med:.0f}x the median of the earlier epochs ({med:.3e}): diverging? (lower train.lr)"
    return ""


def _resume_hint(folder: RunFolder) -> str:
    """What an interrupted run kept, and the command that goes on from it."""
    if not folder.last.is_file():
        return f"no epoch was finished, nothing to resume ({folder.root})"
    try:
        epoch = int((load_training_state(folder.last).train_state or {}).get("epoch", 0))
    except Exception:  # noqa: BLE001 - a hint only: the resume itself reports a bad file
        epoch = 0
    saved = f"epoch {epoch} is saved in {folder.last}" if epoch else f"the last finished epoch is saved in {folder.last}"
    return f"{saved}; go on with: semipose train {folder.root / 'config.yaml'} --resume {folder.root}"


def _last_good(run: _Run, saved_epoch: int) -> str:
    """Where training can go on from, for an error message (``saved_epoch``: the epochs done,
    each ending with a ``last.pt``; 0 for none)."""
    if saved_epoch:
        return f"the last good state is {run.folder.last} (epoch {saved_epoch})"
    return "no checkpoint was written yet (it failed in the first epoch)"


def _collapse_signal(model: SemiSupervisedModel, sums: list[TeacherStats], dist_info: DistInfo) -> dict[str, tuple[float, float]]:
    """Per teacher (by name suffix): the mean peak of its heatmaps on the supervised joints of
    the unlabelled crops and the share of those peaks below ``ssl.collapse_thr``."""
    out: dict[str, tuple[float, float]] = {}
    for t, st in enumerate(sums):
        count = float(all_reduce_sum(st.count.clone(), dist_info))
        if count > 0:
            conf = float(all_reduce_sum(st.conf_sum.clone(), dist_info)) / count
            low = float(all_reduce_sum(st.low.clone(), dist_info)) / count
            out[model.net_suffix(t)] = (round(conf, 5), round(low, 5))
    return out
