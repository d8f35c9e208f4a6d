"""The one reader of checkpoint files: ``torch.load(weights_only=True)``, or a refusal.

Every file semipose reads with :func:`torch.load` — its own model files and training states,
reference ``pose_resnet`` / ``pose_hrnet`` / ``pose_cons`` / ``pose_dual`` checkpoints,
torchvision and HRNet ImageNet weights — goes through :func:`load_checkpoint_file`. It uses
PyTorch's restricted unpickler, which builds tensors and plain containers only, so a file
cannot run code while it is read. A file that needs arbitrary unpickling (a pickled model
object, numpy arrays, custom classes, or a malicious payload) is refused with
:class:`UnsafeCheckpointError` naming the file and the object the unpickler would have had to
import. ``trust=True`` (``--trust-checkpoint`` on the command line) is the only way past it.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, MissingFileError, UnsafeCheckpointError

__all__ = [ "TRUST_HINT", "load_checkpoint_file"]

#: How a refusal tells the user to get past it.
TRUST_HINT = "pass --trust-checkpoint (Python: trust=True) only if you trust where the file comes from"


def _refusal_reason(exc: BaseException) -> str:
    """The object the restricted unpickler refused, from its error text."""
    text = str(exc)
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text) or re.search(r"GLOBAL ([\w.]+) was not an allowed global", text)
    if m:
        return f"it asks to import {m.group(1)}"
    m = re.search(r"Unsupported operand (\d+)", text)
    if m:
        return f"it uses pickle opcode {m.group(1)}"
    first = next((ln.strip() for ln in text.splitlines() if "Unpickl" in ln or "unpickl" in ln), "")
    return first[:200] or "the restricted unpickler refused it"


def load_checkpoint_file(path: str | os.PathLike[str], *, trust: bool = False) -> Any:
    """Read a checkpoint file on the CPU without running code from it.

    Args:
        path: the file.
        trust: allow arbitrary unpickling when the safe load is refused (can run code from the
            file; a warning says so).

    Returns:
        What the file holds (tensors, dicts, lists, numbers, strings).

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file needs arbitrary unpickling and ``trust`` is false.
        CheckpointError: the file is empty, truncated or not a PyTorch checkpoint; the message
            names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{p}: checkpoint not found")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: empty file, not a checkpoint")
    with open(p, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):  # torch's zip format, or a pickle
        raise CheckpointError(f"{p}: not a PyTorch checkpoint (it starts with {head!r}; written by another program?)")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust:
            raise UnsafeCheckpointError(
                f"{p}: refused: reading it needs arbitrary unpickling ({_refusal_reason(exc)}), which can run "
                f"code from the file; {TRUST_HINT}"
            ) from None
        warnings.warn(f"{p}: loading with arbitrary unpickling (trusted by the caller)", stacklevel=2)
        try:
            return torch.load(p, map_location="cpu", weights_only=False)
        except Exception as exc2:  # noqa: BLE001 - any failure, reported with the file name
            raise CheckpointError(f"{p}: cannot read checkpoint ({type(exc2).__name__}: {exc2})") from exc2
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, IndexError) as exc:
        what = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{p}: not a readable PyTorch checkpoint (truncated, or written by another program: {what})") from None
