"""Model sources: a local path, an ``http(s)://`` URL, a hub path ``hf://OWNER/REPO/PATH[@REV]``
or a name of :data:`KNOWN_MODELS`, resolved to a local file (downloaded once, then cached).

The cache follows torch.hub: ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch`` without
``TORCH_HOME``), or ``$SEMIPOSE_CACHE`` when set; a file already there is used without a
network. A download is written to a temporary name beside its cache path and renamed only
when complete and verified: its SHA-256 must start with the hash prefix of its file name
(torch.hub's rule: ``resnet50-19c8e357.pth``) or equal the hash :data:`KNOWN_MODELS` records;
an HTML page is refused as not a checkpoint. When several processes of one machine (torchrun)
ask for the same file, one downloads and the others wait for it (a lock file beside it).
``hf://`` files go through ``huggingface_hub`` with its own cache and environment
(``HF_HOME``, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``). Every failure is one
:class:`~semipose.errors.DownloadError` line naming the URL and where to put the file by hand.

No torch, no OpenCV: ground floor.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import DownloadError, MissingFileError

__all__ = [
    "KnownModel", "KNOWN_MODELS", "IMAGENET_BACKBONES", "DEFAULT_DETECTOR", "cache_dir", "is_remote", "resolve_source", "download", "cached_path",
    "download_progress", "set_download_progress",
]

#: seconds without a byte before a download is given up
TIMEOUT_S = 30.0
#: seconds a process waits for another one's download of the same file
WAIT_S = 3600.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class KnownModel:
    """A file semipose can fetch by name.

    Attributes:
        name: what ``semipose models`` lists and every model option accepts.
        url: where it is served.
        what: one line on what it is.
        source: where this URL and file name are documented.
        sha256: the full hash when known (else the file name's hash prefix is checked).
        name_hash: whether the hex after the file name's last ``-`` is the SHA-256 prefix of
            the file (torch.hub's rule; False where that is not established).
    """

    name: str
    url: str
    what: str
    source: str
    sha256: str | None = None
    name_hash: bool = True

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_TV = "torchvision's model zoo (torchvision/models/resnet.py model_urls; the seed READMEs' files)"
_MM = "OpenMMLab's download host (mmpose's HRNet configs, init_cfg Pretrained checkpoint)"
_DET = ("OpenMMLab's RTMPose deployment archives (rtmlib's Body solution: end2end.onnx, dets (1, N, 5) + labels); "
        "the archive's hash suffix is not yet confirmed as its SHA-256, so it is not checked")
_RTM = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
#: the named files: the ImageNet backbones the seeds train from, by architecture
KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel("imagenet-resnet18", "https://download.pytorch.org/models/resnet18-5c106cde.pth", "ResNet-18 ImageNet backbone", _TV),
        KnownModel("imagenet-resnet34", "https://download.pytorch.org/models/resnet34-333f7ec4.pth", "ResNet-34 ImageNet backbone", _TV),
        KnownModel("imagenet-resnet50", "https://download.pytorch.org/models/resnet50-19c8e357.pth", "ResNet-50 ImageNet backbone", _TV),
        KnownModel("imagenet-resnet101", "https://download.pytorch.org/models/resnet101-5d3b4d8f.pth", "ResNet-101 ImageNet backbone", _TV),
        KnownModel("imagenet-resnet152", "https://download.pytorch.org/models/resnet152-b121ed2d.pth", "ResNet-152 ImageNet backbone", _TV),
        KnownModel("imagenet-hrnet_w32", "https://download.openmmlab.com/mmpose/pretrain_models/hrnet_w32-36af842e.pth",
                   "HRNet-W32 ImageNet backbone", _MM),
        KnownModel("imagenet-hrnet_w48", "https://download.openmmlab.com/mmpose/pretrain_models/hrnet_w48-8ef0771d.pth",
                   "HRNet-W48 ImageNet backbone", _MM),
        KnownModel("yolox-tiny-humanart", _RTM + "yolox_tiny_8xb8-300e_humanart-6f3252f9.zip", "person detector, YOLOX-tiny 416x416", _DET,
                   name_hash=False),
        KnownModel("yolox-m-humanart", _RTM + "yolox_m_8xb8-300e_humanart-c2c7a14a.zip", "person detector, YOLOX-m 640x640", _DET,
                   name_hash=False),
        KnownModel("yolox-x-humanart", _RTM + "yolox_x_8xb8-300e_humanart-a39d44ed.zip", "person detector, YOLOX-x 640x640", _DET,
                   name_hash=False),
    )
}
#: the person detector ``--detector`` names when asked for ``default``
DEFAULT_DETECTOR = "yolox-m-humanart"
#: architecture → the name of its ImageNet backbone (``model.pretrained: imagenet``)
IMAGENET_BACKBONES: dict[str, str] = {n.removeprefix("imagenet-"): n for n in KNOWN_MODELS if n.startswith("imagenet-")}

_HASH_PREFIX = re.compile(r"-([a-f0-9]{8,64})\.")  # torch.hub: the first hex digits of the SHA-256 after the last "-"


def cache_dir() -> Path:
    """``$SEMIPOSE_CACHE``, else torch.hub's ``$TORCH_HOME/hub/checkpoints`` (``TORCH_HOME``
    defaults to ``$XDG_CACHE_HOME/torch``, i.e. ``~/.cache/torch``)."""
    if os.environ.get("SEMIPOSE_CACHE"):
        return Path(os.environ["SEMIPOSE_CACHE"]).expanduser()
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def is_remote(spec: str | os.PathLike[str]) -> bool:
    """Whether ``spec`` is a URL, a hub path or a known name (not a local path)."""
    s = os.fspath(spec)
    return s.startswith(("http://", "https://", "hf://")) or (s in KNOWN_MODELS and not os.path.exists(s))


def cached_path(url: str, *, pinned: bool | None = None) -> Path:
    """Where the file of ``url`` is (or would be) cached.

    A file whose contents are pinned (a known model's SHA-256, or torch.hub's hash prefix in its
    name, both checked on download) is cached under its file name, as torch.hub does, so files
    put there by hand or by torch.hub are used. Any other URL is keyed by the whole URL
    (``urls/<SHA-256 of the URL, 16 hex>/<name>``, as huggingface_hub keys by repository and
    revision): ``…/good/model_a.pt`` and ``…/v2/model_a.pt`` are two files.

    Args:
        pinned: whether the contents are pinned (default: a known model's URL, or a hash prefix
            in the name).
    """
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise DownloadError(f"{url}: the URL names no file")
    if pinned is None:
        known = next((m for m in KNOWN_MODELS.values() if m.url == url), None)
        pinned = _expected_hash(url, known.sha256 if known else None, known.name_hash if known else True) is not None
    if pinned:
        return cache_dir() / name
    return cache_dir() / "urls" / hashlib.sha256(url.encode()).hexdigest()[:16] / name


#: whether downloads show a progress bar when a call does not say (``--no-progress`` turns it off for a command)
SHOW_PROGRESS = True


def download_progress() -> bool:
    """Whether downloads show a progress bar by default."""
    return SHOW_PROGRESS


def set_download_progress(enabled: bool) -> None:
    """Whether downloads show a progress bar by default (the command line's ``--no-progress``)."""
    global SHOW_PROGRESS
    SHOW_PROGRESS = bool(enabled)


def resolve_source(spec: str | os.PathLike[str], *, progress: bool | None = None) -> Path:
    """A local file for a model source.

    Args:
        spec: a path; ``http(s)://…`` (downloaded into :func:`cache_dir` once);
            ``hf://OWNER/REPO/PATH[@REVISION]`` (through ``huggingface_hub``); a name of
            :data:`KNOWN_MODELS`.
        progress: show a progress bar while downloading (None: :data:`SHOW_PROGRESS`).

    Raises:
        MissingFileError: a local path that does not exist.
        DownloadError: the file could not be fetched or verified (one line: URL, reason, and
            the cache path where it can be put by hand).
    """
    s = os.fspath(spec)
    progress = SHOW_PROGRESS if progress is None else progress
    if s.startswith("hf://"):
        return _hf_file(s)
    if s.startswith(("http://", "https://")):
        known = next((m for m in KNOWN_MODELS.values() if m.url == s), None)
        return download(s, sha256=known.sha256 if known else None, name_hash=known.name_hash if known else True, progress=progress)
    if s in KNOWN_MODELS and not os.path.exists(s):
        m = KNOWN_MODELS[s]
        return download(m.url, sha256=m.sha256, name_hash=m.name_hash, progress=progress)
    p = Path(s).expanduser()
    if not p.exists():
        hint = f" (a known name? `semipose models` lists them: {', '.join(list(KNOWN_MODELS)[:3])} …)" if "/" not in s and "." not in s else ""
        raise MissingFileError(f"{s}: checkpoint not found{hint}")
    return p


def _expected_hash(url: str, sha256: str | None, name_hash: bool = True) -> str | None:
    if sha256:
        return sha256.lower()
    m = _HASH_PREFIX.search(url.rsplit("/", 1)[-1]) if name_hash else None
    return m.group(1) if m else None


def download(url: str, *, sha256: str | None = None, name_hash: bool = True, progress: bool = True, dest: Path | None = None) -> Path:
    """The cached file of ``url``, downloaded first when it is not in the cache.

    One process downloads (a ``.lock`` file beside the cache path, taken atomically); others
    asking for the same file meanwhile wait for it. The bytes go to a temporary name and are
    renamed into place only when complete, not an HTML page, and matching the expected hash
    (``sha256``, else the file name's torch.hub prefix).

    Raises:
        DownloadError: naming the URL, the reason and the cache path.
    """
    dest = dest or cached_path(url, pinned=_expected_hash(url, sha256, name_hash) is not None)
    if dest.is_file():
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"{url}: cannot create the cache folder {dest.parent} ({e.strerror or e}); set SEMIPOSE_CACHE") from None
    lock = dest.with_name(dest.name + ".lock")
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:  # another process is downloading it
            if dest.is_file():
                return dest
            if not _lock_alive(lock) or time.monotonic() > deadline:
                lock.unlink(missing_ok=True)  # a process that died mid-download: take over
                continue
            time.sleep(0.2)
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        if dest.is_file():  # finished by another process between our check and the lock
            return dest
        _fetch(url, dest, _expected_hash(url, sha256, name_hash), progress)
        return dest
    finally:
        lock.unlink(missing_ok=True)


def _lock_alive(lock: Path) -> bool:
    """Whether the process that holds ``lock`` still runs (a lock of a dead process is stale)."""
    try:
        pid = int(lock.read_text().strip() or "0")
    except (OSError, ValueError):
        return True  # being written this instant
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fetch(url: str, dest: Path, expected: str | None, progress: bool) -> None:
    """Download ``url`` to ``dest`` through a temporary file; verify; rename."""
    by_hand = f"put the file there by hand: {dest}"
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "semipose"})
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r, open(tmp, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            ctype = (r.headers.get("Content-Type") or "").lower()
            bar = _bar(total, dest.name, progress)
            got, head = 0, b""
            while True:
                chunk = r.read(_CHUNK)
                if not chunk:
                    break
                if not head:
                    head = chunk[:512]
                    if "text/html" in ctype or head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
                        raise DownloadError(f"{url}: the server sent an HTML page, not a checkpoint (a login or error page?); {by_hand}")
                f.write(chunk)
                h.update(chunk)
                got += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
        if total is not None and got != total:
            raise DownloadError(f"{url}: the download stopped after {got} of {total} bytes; nothing was cached; {by_hand}")
        if got == 0:
            raise DownloadError(f"{url}: the server sent an empty file; {by_hand}")
        digest = h.hexdigest()
        if expected is not None and not digest.startswith(expected):
            raise DownloadError(f"{url}: SHA-256 {digest[:16]}… does not match the expected {expected[:16]}…; nothing was cached; {by_hand}")
        os.replace(tmp, dest)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}; {by_hand}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"{url}: cannot reach the server ({e.reason}; offline?); {by_hand}") from None
    except (OSError, http.client.HTTPException) as e:  # timeouts, resets, a body cut short (IncompleteRead)
        if isinstance(e, DownloadError):
            raise
        raise DownloadError(f"{url}: the download failed ({e}); nothing was cached; {by_hand}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _bar(total: int | None, name: str, progress: bool):  # -> tqdm | None
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"downloading {name}", leave=False, dynamic_ncols=True)


def parse_hf(spec: str) -> tuple[str, str, str | None]:
    """``hf://OWNER/REPO/PATH[@REVISION]`` → ``(OWNER/REPO, PATH, REVISION or None)``."""
    body = spec.removeprefix("hf://")
    body, _, rev = body.partition("@")
    parts = [p for p in body.split("/") if p]
    if len(parts) < 3:
        raise DownloadError(f"{spec}: a hub path is hf://OWNER/REPO/PATH[@REVISION]")
    return "/".join(parts[:2]), "/".join(parts[2:]), rev or None


def _hf_file(spec: str) -> Path:
    repo, path, rev = parse_hf(spec)
    hf = _hf_module(spec)
    try:
        return Path(hf.hf_hub_download(repo, path, revision=rev))
    except Exception as e:  # noqa: BLE001 - huggingface_hub raises its own types (offline, 404, gated ...)
        from huggingface_hub import constants

        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise DownloadError(
            f"{spec}: {type(e).__name__}: {reason} (hub cache {constants.HF_HUB_CACHE}; HF_HUB_OFFLINE={int(constants.HF_HUB_OFFLINE)}, "
            f"endpoint {constants.ENDPOINT}); or download the file and give its path"
        ) from None


def _hf_module(spec: str):  # -> module
    try:
        import huggingface_hub
    except ImportError:
        raise DownloadError(f"{spec}: hub paths need huggingface_hub: pip install huggingface_hub") from None
    return huggingface_hub


def list_hf_repo(spec: str) -> list[str]:
    """The checkpoint-like files (``.pth``, ``.pt``, ``.ckpt``, ``.bin``, ``.safetensors``,
    ``.onnx``) of the hub repository ``hf://OWNER/REPO[@REVISION]``."""
    body = spec.removeprefix("hf://")
    body, _, rev = body.partition("@")
    repo = "/".join(p for p in body.split("/") if p)
    if repo.count("/") != 1:
        raise DownloadError(f"{spec}: a hub repository is hf://OWNER/REPO[@REVISION]")
    hf = _hf_module(spec)
    try:
        files = hf.HfApi().list_repo_files(repo, revision=rev or None)
    except Exception as e:  # noqa: BLE001
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise DownloadError(f"{spec}: cannot list the repository ({type(e).__name__}: {reason})") from None
    return sorted(f for f in files if f.lower().endswith((".pth", ".pt", ".ckpt", ".bin", ".safetensors", ".onnx", ".tar")))
