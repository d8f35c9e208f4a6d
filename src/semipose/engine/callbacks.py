"""What the training loop reports, and to whom: plain callbacks with five hooks.

The loop calls ``on_step`` after every step, ``on_val_end`` after a validation,
``on_epoch_end`` when an epoch's row is complete (before its checkpoint is written),
``on_save`` after ``last.pt`` / ``best.pt`` are written, and ``on_train_end`` once. The default
set (:func:`default_callbacks`) writes ``metrics.csv``, TensorBoard scalars, the drawings
(``val_predictions.png``, ``curves.png``) and the console (progress bar and one line per
epoch); a user may pass their own list to :func:`semipose.engine.trainer.train`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn
from tqdm.auto import tqdm

from ..data.finder import anchor_skeleton
from ..data.sources import EvalData
from ..skeletons import Skeleton
from ..ssl.methods import StepOutput
from .evaluate import NetResult, draw_predictions, results_table
from .runfolder import RunFolder

__all__ = [
    "StepInfo",
    "EpochInfo",
    "Callback",
    "MetricsCsv",
    "TensorBoard",
    "Drawings",
    "Console",
    "default_callbacks",
]

log = logging.getLogger("semipose")


@dataclass
class StepInfo:
    """One finished step. ``loss`` (the mean over processes, a host sync) is only filled every
    ``train.log_every`` steps and at the epoch's last step; None otherwise."""

    epoch: int  # 0-based
    epochs: int
    iteration: int  # 0-based, within the epoch
    iters_per_epoch: int
    global_step: int  # steps done, this one included
    lr: float
    out: StepOutput
    loss: float | None
    data_ms: float  # mean per step so far this epoch
    step_ms: float


@dataclass
class EpochInfo:
    """One finished epoch: its training statistics, and its validation when there was one.

    Attributes:
        epoch: 1-based. epochs: of the run.
        loss: mean training loss. terms / path_terms: mean of each term the step model named
            (per-path consistency terms per student). teachers: per teacher, ``(mean peak,
            share of peaks lost)`` with its name suffix (``""``, ``"1"``, ``"2"``).
        lr: of the epoch's last step. seconds, data_ms, step_ms: timings.
        metrics: the selection metrics (empty without validation); per_net: the score of
            each network and the ensemble (two networks); score_key: ``AP`` or ``Mean``.
        best_score, best_epoch: so far; improved: this epoch is the new best; eta_s: estimate.
        nets: the networks themselves (not in the row); ema_nets: their EMA teachers
            (``ssl.teacher: ema``; empty otherwise).
    """

    epoch: int
    epochs: int
    loss: float
    terms: dict[str, float]
    path_terms: dict[str, list[float]]
    teachers: dict[str, tuple[float, float]]
    lr: float
    seconds: float
    data_ms: float
    step_ms: float
    metrics: dict[str, float] = field(default_factory=dict)
    per_net: dict[str, float] = field(default_factory=dict)
    score_key: str = "AP"
    best_score: float = -1.0
    best_epoch: int = -1
    improved: bool = False
    eta_s: float = 0.0
    #: the run's networks after the epoch (for callbacks that keep or compare weights)
    nets: Sequence[nn.Module] = field(default_factory=list, repr=False)
    ema_nets: Sequence[nn.Module] = field(default_factory=list, repr=False)

    def row(self) -> dict[str, Any]:
        """The epoch's ``metrics.csv`` row (the column names the docs list)."""
        row: dict[str, Any] = {"epoch": self.epoch, "train_loss": self.loss}
        row.update({f"loss_{k}": v for k, v in self.terms.items()})
        for k, vs in self.path_terms.items():
            row.update({f"loss_{k}_p{i + 1}": v for i, v in enumerate(vs)})
        for suffix, (conf, low) in self.teachers.items():
            row[f"teacher_conf{suffix}"], row[f"teacher_low{suffix}"] = conf, low
        row.update({"lr": self.lr, "epoch_time_s": round(self.seconds, 2), "data_time_ms": round(self.data_ms, 2),
                    "step_time_ms": round(self.step_ms, 2)})
        row.update({k: round(v, 5) for k, v in self.metrics.items()})
        row.update({f"{self.score_key}_{n}": round(v, 5) for n, v in self.per_net.items()})
        return row


class Callback:
    """Base class: every hook does nothing."""

    def on_step(self, info: StepInfo) -> None:
        """After every step."""

    def on_val_end(self, epoch: int, results: dict[str, NetResult], improved: bool) -> None:
        """After a validation (``epoch`` 1-based; ``results`` empty on ranks other than 0)."""

    def on_epoch_end(self, info: EpochInfo) -> None:
        """When the epoch's row is complete, before its checkpoint is written."""

    def on_save(self, info: EpochInfo) -> None:
        """After the epoch's checkpoints are written."""

    def on_train_end(self, best_metrics: dict[str, dict[str, float]], best_epoch: int) -> None:
        """Once, after the last epoch (``best_metrics``: per network, of the best epoch)."""


class MetricsCsv(Callback):
    """``metrics.csv``: one row per epoch."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run

    def on_epoch_end(self, info: EpochInfo) -> None:
        if self.run.metrics is not None:
            self.run.metrics.append(info.row())


class TensorBoard(Callback):
    """TensorBoard scalars: ``train/*`` at the print interval, ``epoch/*`` and ``val/*`` per epoch."""

    def __init__(self, run: RunFolder) -> None:
        self.writer = run.tensorboard()

    def on_step(self, info: StepInfo) -> None:
        if self.writer is None or info.loss is None:
            return
        self.writer.add_scalar("train/loss", info.loss, info.global_step)
        self.writer.add_scalar("train/lr", info.lr, info.global_step)
        for k, v in info.out.terms.items():
            self.writer.add_scalar(f"train/{k}", float(v), info.global_step)

    def on_epoch_end(self, info: EpochInfo) -> None:
        if self.writer is None:
            return
        for k, v in info.row().items():
            if k != "epoch" and k not in info.metrics:
                self.writer.add_scalar(f"epoch/{k}", v, info.epoch)
        for k, v in info.metrics.items():
            self.writer.add_scalar(f"val/{k}", v, info.epoch)
        self.writer.flush()

    def on_train_end(self, best_metrics: dict[str, dict[str, float]], best_epoch: int) -> None:
        if self.writer is not None:
            self.writer.close()


class Drawings(Callback):
    """``val_predictions.png`` (the best model's predictions on validation images, drawn when
    it improves) and ``curves.png`` (the metrics CSV plotted, at the end, from two epochs on). A drawing that fails
    is a warning; it never stops training."""

    def __init__(self, run: RunFolder, val_data: EvalData, skeleton: Skeleton, *, num_images: int, shown: str) -> None:
        self.run, self.val_data, self.skeleton, self.num_images, self.shown = run, val_data, skeleton, num_images, shown

    def on_val_end(self, epoch: int, results: dict[str, NetResult], improved: bool) -> None:
        if not (improved and self.run.main and results):
            return
        try:
            preds = results[self.shown].predictions
            # a finder's: the anchors found on whole frames, as many points as it may find
            skeleton = anchor_skeleton(preds.coords.shape[1]) if self.val_data.metric == "finder" else self.skeleton
            draw_predictions(self.run.root / "val_predictions.png", self.val_data, preds, skeleton, self.num_images)
        except Exception as e:  # noqa: BLE001 - a drawing failure must not stop training
            log.warning("could not draw predictions: %s", e)

    def on_train_end(self, best_metrics: dict[str, dict[str, float]], best_epoch: int) -> None:
        csv = self.run.root / "metrics.csv"
        if not self.run.main or not csv.is_file() or len(csv.read_text().splitlines()) < 3:
            return  # a curve needs two epochs
        try:
            from ..visualize import plot_training_curves

            plot_training_curves(self.run.root / "metrics.csv", self.run.root / "curves.png")
        except Exception as e:  # noqa: BLE001
            log.warning("could not plot curves: %s", e)


class Console(Callback):
    """The progress bar of each epoch, one log line per epoch and the final table."""

    def __init__(self, run: RunFolder, *, progress: bool, arch: str, val_data: EvalData) -> None:
        self.run, self.progress, self.arch, self.val_data = run, progress, arch, val_data
        self.bar: Any = None
        self.t_start = time.perf_counter()

    def on_step(self, info: StepInfo) -> None:
        if info.iteration == 0:
            self.bar = tqdm(total=info.iters_per_epoch, desc=f"epoch {info.epoch + 1}/{info.epochs}", disable=not self.progress,
                            dynamic_ncols=True, leave=False)
        if info.loss is not None:
            shown = {k: f"{float(v):.2e}" for k, v in info.out.terms.items()}
            self.bar.set_postfix(loss=f"{info.loss:.3e}", **shown, data=f"{info.data_ms:.0f}ms", step=f"{info.step_ms:.0f}ms")
        self.bar.update(1)
        if info.iteration + 1 == info.iters_per_epoch:
            self.bar.close()

    def on_save(self, info: EpochInfo) -> None:
        if not self.run.main:
            return
        terms = " ".join(f"{k} {v:.2e}" for k, v in info.terms.items())
        conf = "".join(f" | teacher{s} peak {c:.3f}, lost {low:.1%}" for s, (c, low) in info.teachers.items())
        score = info.metrics.get(info.score_key)
        ap = f" | {info.score_key} {score:.4f} (best {info.best_score:.4f} @ {info.best_epoch})" if score is not None else ""
        log.info(
            "epoch %d/%d | loss %.3e (%s) | lr %.1e | %.0fs (data %.0fms, step %.0fms per iter)%s%s | ETA %s",
            info.epoch, info.epochs, info.loss, terms, info.lr, info.seconds, info.data_ms, info.step_ms, conf,
            ap + (f" | RMSE {info.metrics['rmse_px']:.2f} px" if info.metrics and "rmse_px" in info.metrics else ""),
            time.strftime("%H:%M:%S", time.gmtime(info.eta_s)),
        )

    def on_train_end(self, best_metrics: dict[str, dict[str, float]], best_epoch: int) -> None:
        if not self.run.main:
            return
        if best_metrics:
            table = results_table(best_metrics, self.arch, self.val_data.metric, self.val_data.eval_skeleton)
            log.info("best epoch %d, validation (%s):\n%s", best_epoch, self.val_data.protocol["boxes"], table)
        log.info("run folder: %s (%.1f min)", self.run.root, (time.perf_counter() - self.t_start) / 60)


def default_callbacks(run: RunFolder, val_data: EvalData, skeleton: Skeleton, *, progress: bool, arch: str,
                      num_images: int, shown: str) -> list[Callback]:
    """CSV, TensorBoard, drawings and console (``shown``: the network whose predictions are drawn)."""
    return [
        MetricsCsv(run), TensorBoard(run), Drawings(run, val_data, skeleton, num_images=num_images, shown=shown),
        Console(run, progress=progress, arch=arch, val_data=val_data),
    ]
