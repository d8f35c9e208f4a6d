"""Run-folder safety: never write into another run by accident, resume only from the newest
state, and say what a changed config does on resume.

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

import logging
import shutil
from pathlib import Path
from typing import Any, Mapping

from ..errors import CheckpointError, ConfigError

__all__ = ["RESUME_APPLIED", "RUN_OUTPUTS", "holds_run", "prepare_run_dir", "check_resume_point", "config_changes", "describe_changes", "remove_failed_start"]

log = logging.getLogger("semipose")

#: Keys whose change on resume is applied (and logged); every other change is refused.
RESUME_APPLIED: tuple[str, ...] = (
    "train.epochs", "train.lr", "train.val_every", "train.log_every", "data.workers", "num_threads", "device", "eval.",
    "name", "output_dir",
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
    from ..models.modelfile import read_model_file

    try:
        newest = read_model_file(last).train_state or {}
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
