"""Every error a user can cause, as one family: :class:`SemiposeError` and its subclasses.

This module is the ground floor: it imports nothing of semipose, torch or OpenCV. Each
failure a user can cause (a file, a config value, an argument of a public function) raises
one of these with a message that names the file, the record and the problem;
``semipose``'s ``main`` prints it as one line and exits with status 2. The second base class
of each keeps ``except ValueError`` / ``except OSError`` code working.
"""

from __future__ import annotations

__all__ = [
    "SemiposeError",
    "ConfigError",
    "DataFormatError",
    "ImageReadError",
    "MissingFileError",
    "MissingImageError",
    "MissingJsonError",
    "RunFolderError",
    "CheckpointError",
    "UnsafeCheckpointError",
    "CheckpointMismatchError",
    "DeviceError",
    "SourceError",
    "InputError",
    "TrainingError",
    "DownloadError",
    "EarlyStop",
]


class SemiposeError(Exception):
    """Base class of every error semipose raises for something the user gave it."""


class ConfigError(SemiposeError, ValueError):
    """A configuration file, override or option is invalid."""


class DataFormatError(SemiposeError, ValueError):
    """An input file is missing, unreadable or does not have the expected content."""


class ImageReadError(SemiposeError, OSError):
    """An image file is missing or cannot be decoded."""


class MissingFileError(SemiposeError, FileNotFoundError):
    """A file named by the user does not exist."""


class MissingImageError(ImageReadError, MissingFileError):
    """An image file that does not exist (caught as either)."""


class MissingJsonError(DataFormatError, MissingFileError):
    """A JSON file that does not exist (caught as either)."""


class RunFolderError(SemiposeError, OSError):
    """A run folder cannot be created, written or resumed."""


class CheckpointError(SemiposeError, RuntimeError):
    """A checkpoint file could not be read or does not hold what was expected."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint file needs arbitrary unpickling (it could run code) and was not trusted."""


class CheckpointMismatchError(CheckpointError):
    """Strict loading found missing / unexpected / wrong-shape keys.

    Attributes:
        report: the ``LoadReport`` (:mod:`semipose.models.loading`) describing every problem
            (nothing was loaded).
    """

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


class DeviceError(SemiposeError, ValueError):
    """A device or precision that this machine cannot provide."""


class SourceError(SemiposeError, ValueError):
    """A SOURCE argument of ``semipose predict`` names nothing that can be read."""


class InputError(SemiposeError, ValueError):
    """An argument of a public function (an image, boxes, a name) that cannot be used."""


class TrainingError(SemiposeError, FloatingPointError):
    """Training cannot go on (a non-finite loss); the message says where it can resume from."""


class EarlyStop(SemiposeError):
    """Raised by a training callback to end a run early on purpose (``semipose compare
    --until-plateau``); the caller catches it: not a failure."""


class DownloadError(SemiposeError, OSError):
    """A model source could not be fetched or verified (offline, unreachable, 404, not a
    checkpoint, hash mismatch); the message names the URL and where the file can be put by hand."""
