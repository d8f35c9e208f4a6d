"""Type aliases used across the package (no torch, no OpenCV)."""

from __future__ import annotations

import os
from typing import Union

__all__ = ["PathLike"]

#: A file path: a string or any ``os.PathLike``.
PathLike = Union[str, "os.PathLike[str]"]  # noqa: UP007 - a runtime alias with a forward reference
