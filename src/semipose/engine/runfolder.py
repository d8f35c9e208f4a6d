"""The run folder: its files (:class:`RunFolder`: paths, log, metrics CSV, TensorBoard, saving
``last.pt`` / ``best.pt``) and its safety rules: never write into another run by accident,
resume only from the newest state, and say what a changed config does on resume.

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

Rules:

* A fresh run gets ``output_dir/name`` (``-2``, ``-3`` … when taken); ``--run-dir`` pointing at a
  folder that holds a run is refused unless ``--resume`` (continue it) or ``--overwrite`` (its
  old results are removed first).
* Resuming from a checkpoint older than the folder's ``last.pt`` is refused (it would overwrite
  the newer state and repeat epochs).
* A start that fails before the first checkpoint removes the folder it created.
* Stale ``*.tmp`` files of an interrupted checkpoint write are removed.
* On resume, the config is compared with the run's: changes to :data:`RESUME_APPLIED` keys are
  applied and logged; any other change is refused with the list of keys.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError, RunFolderError

__all__ = [
    "RESUME_APPLIED",
    "RUN_OUTPUTS",
    "RunFolder",
    "MetricsTable",
    "make_run_dir",
    "setup_logging",
    "holds_run",
    "prepare_run_dir",
    "check_resume_point",
    "config_changes",
    "describe_changes",
    "remove_failed_start",
]

log = logging.getLogger("semipose")

#: Keys whose change on resume is applied (and logged); every other change is refused.
RESUME_APPLIED: tuple[str, ...] = (
    "train.epochs", "train.max_steps", "train.lr", "train.val_every", "train.log_every", "data.workers", "data.image_cache_mb",
    "num_threads", "device", "eval.", "name", "output_dir",
)
#: What a run writes into its folder (removed by ``--overwrite``).
RUN_OUTPUTS: tuple[str, ...] = (
    "checkpoints", "metrics.csv", "tb", "eval", "train.log", "curves.png", "val_predictions.png", "label_subset.json",
    "config.yaml", "skeleton.json",
)


def holds_run(path: Path) -> bool:
    """Whether ``path`` holds (part of) a training run."""
    return (path / "checkpoints").is_dir() or (path / "metrics.csv").is_file()


def prepare_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """Check (and with ``overwrite`` clear) a folder given with ``--run-dir``; remove stale
    ``.tmp`` files of a resumed run."""
    if not resume and holds_run(run_dir):
        if not overwrite:
            raise ConfigError(
                f"{run_dir} holds a run already: continue it with --resume {run_dir}, or start over in it with --overwrite"
            )
        for name in RUN_OUTPUTS:
            p = run_dir / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        log.info("--overwrite: removed the earlier run's results from %s", run_dir)
    for tmp in sorted((run_dir / "checkpoints").glob("*.tmp")) if (run_dir / "checkpoints").is_dir() else []:
        tmp.unlink()
        log.warning("removed %s, left by an interrupted checkpoint write", tmp)


def check_resume_point(ckpt_path: Path, epoch: int, run_dir: Path) -> None:
    """Refuse to resume from a checkpoint older than the run folder's ``last.pt``."""
    last = run_dir / "checkpoints" / "last.pt"
    if not last.is_file() or last.resolve() == ckpt_path.resolve():
        return
    from ..models.modelfile import read_model

    try:
        newest = read_model(last).train_state or {}
    except CheckpointError:
        return  # an unreadable last.pt is reported when it matters
    if int(newest.get("epoch", 0)) > epoch:
        raise CheckpointError(
            f"{ckpt_path} is epoch {epoch} but {last} is epoch {newest['epoch']}: resuming from it would overwrite the newer "
            f"state; resume from {last}, or copy the run folder and resume the copy"
        )


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, tuple[Any, Any]], dict[str, tuple[Any, Any]]]:
    """``(applied, refused)``: the keys whose values differ between the run's config and the
    given one, split by :data:`RESUME_APPLIED`, as ``{key: (old, new)}``."""
    a, b = _flat(old), _flat(new)
    diff = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    applied = {k: v for k, v in diff.items() if any(k == p or (p.endswith(".") and k.startswith(p)) for p in RESUME_APPLIED)}
    refused = {k: v for k, v in diff.items() if k not in applied}
    return applied, refused


def describe_changes(changes: Mapping[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k} ({o!r} → {n!r})" for k, (o, n) in changes.items())


def remove_failed_start(run_dir: Path) -> bool:
    """Remove a folder this start created when it failed before its first checkpoint."""
    if (run_dir / "checkpoints" / "last.pt").is_file():
        return False
    for h in [h for h in logging.getLogger("semipose").handlers if getattr(h, "_semipose_file", False)]:
        logging.getLogger("semipose").removeHandler(h)
        h.close()
    shutil.rmtree(run_dir, ignore_errors=True)
    return True


def make_run_dir(output_dir: str | Path, name: str) -> Path:
    """A fresh ``output_dir/name`` (``name-2``, ``name-3`` … if taken)."""
    root = Path(output_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        cand, i = root / name, 1
        while cand.exists():
            i += 1
            cand = root / f"{name}-{i}"
        cand.mkdir(parents=True)
    except OSError as e:
        raise RunFolderError(f"{root}: cannot create the run folder ({e.strerror or e}); choose another output_dir") from e
    return cand


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced after setup)."""

    @property
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


def setup_logging(run_dir: Path | None = None, level: int = logging.INFO) -> None:
    """Console logging for the ``semipose`` logger, plus ``run_dir/train.log`` if given."""
    logger = logging.getLogger("semipose")
    logger.setLevel(level)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    if not any(getattr(h, "_semipose_console", False) for h in logger.handlers):
        h = _StderrHandler()
        h.setFormatter(fmt)
        h._semipose_console = True  # type: ignore[attr-defined]
        logger.addHandler(h)
    if run_dir is not None:
        for old in [h for h in logger.handlers if getattr(h, "_semipose_file", False)]:
            logger.removeHandler(old)
            old.close()
        fh = logging.FileHandler(run_dir / "train.log")
        fh.setFormatter(fmt)
        fh._semipose_file = True  # type: ignore[attr-defined]
        logger.addHandler(fh)


class MetricsTable:
    """``metrics.csv``: one row per epoch, the header widened when new columns appear; a row of
    an epoch already there (a resumed run replaying it) replaces it. Written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if path.is_file():
            with open(path, newline="") as f:
                self.rows = list(csv.DictReader(f))

    def append(self, row: dict[str, Any]) -> None:
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

    def column(self, key: str, *, up_to: int) -> list[float]:
        """The values of ``key`` in the rows of epochs ``1 … up_to``."""
        return [float(r[key]) for r in self.rows if r.get(key) not in (None, "") and int(float(r["epoch"])) <= up_to]


class RunFolder:
    """The files of one run (see the module docstring); only the main process writes.

    Args:
        root: the folder (created).
        main: whether this process writes (rank 0).
    """

    def __init__(self, root: Path, *, main: bool = True) -> None:
        self.root, self.main = Path(root), main
        self.checkpoints = self.root / "checkpoints"
        self.last, self.best = self.checkpoints / "last.pt", self.checkpoints / "best.pt"
        self.eval_dir = self.root / "eval"
        self.metrics = MetricsTable(self.root / "metrics.csv") if main else None
        if main:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                probe = self.root / ".write-test"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as e:
                raise RunFolderError(f"{self.root}: the run folder is not writable ({e.strerror or e})") from e

    def start_logging(self) -> None:
        """Console logging, and ``train.log`` on the main process."""
        setup_logging(self.root if self.main else None, logging.INFO if self.main else logging.WARNING)

    def write_start(self, config: Any, skeleton_dict: Mapping[str, Any]) -> None:
        """``config.yaml`` and ``skeleton.json`` of a fresh run."""
        from ..config import dump_config

        if self.main:
            dump_config(config, self.root / "config.yaml")
            (self.root / "skeleton.json").write_text(json.dumps(skeleton_dict, indent=1))

    def tensorboard(self) -> Any:
        """A TensorBoard ``SummaryWriter`` on ``tb/`` (None on other ranks)."""
        if not self.main:
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.root / "tb"))

    def save(
        self, card: Any, nets: Sequence[Mapping[str, Any]], train_state: Mapping[str, Any], *, best: bool,
        best_nets: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """``last.pt`` (the model file of ``card`` and the networks' state dicts, plus
        ``train_state``) and, when ``best``, ``best.pt`` (the model file alone, of
        ``best_nets`` when given: the EMA networks a run selects by); each written
        atomically."""
        from ..models.modelfile import model_file_payload
        from .checkpoint import save_checkpoint

        if not self.main:
            return
        save_checkpoint(self.last, model_file_payload(card, nets, train_state))
        if best:
            save_checkpoint(self.best, model_file_payload(card, best_nets if best_nets is not None else nets))
