"""Top-down transform (CPU, in DataLoader workers): image + record → crop, targets, meta.

One sample = decode the image once, draw the random scale / rotation / flip / half-body
parameters from an explicit ``numpy.random.Generator``, warp the crop with OpenCV (the flip is
folded into the affine matrix, so the full image is never copied), encode the Gaussian targets
with the :class:`~semipose.codec.HeatmapCodec`, and normalise.

:class:`TopDownDataset` derives each sample's generator from ``(seed, epoch, index)``, so a
sample's augmentation does not depend on worker count, worker order or process — runs are
reproducible per seed and resumable exactly at epoch boundaries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..codec import HeatmapCodec, affine_matrix, apply_affine
from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..skeletons import Skeleton
from .records import PIXEL_STD, PoseRecord

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageReadError",
    "read_image",
    "image_problem",
    "check_image_file",
    "warp_crop",
    "AugmentConfig",
    "TopDownTransform",
    "TopDownDataset",
    "worker_init",
    "single_threaded_cv2",
    "worker_init_for",
]



class ImageReadError(OSError):
    """An image file is missing or cannot be decoded."""


_JPEG_EOI_WINDOW = 4096  # bytes at the end of a JPEG searched for its end-of-image marker


def image_problem(data: bytes | np.ndarray) -> str | None:
    """Why encoded image bytes are not a complete image, or None when they look complete.

    A JPEG must start with SOI (FF D8) and have its EOI marker (FF D9) in its last 4 KB (0xFF
    is always escaped inside entropy-coded data, so the marker cannot appear there); a PNG must
    end with its IEND chunk. Other formats are left to the decoder."""
    if len(data) == 0:
        return "empty file"
    b, tail = bytes(data[:4]), bytes(data[-_JPEG_EOI_WINDOW:])
    if b[:2] == b"\xff\xd8":
        return None if b"\xff\xd9" in tail else "truncated JPEG (no end-of-image marker: the file was cut short)"
    if b == b"\x89PNG":
        return None if b"IEND" in tail[-64:] else "truncated PNG (no IEND chunk: the file was cut short)"
    return None


def check_image_file(path: str | os.PathLike[str]) -> str | None:
    """A fast pre-flight check of one image file (exists, not empty, not cut short), reading
    only its first and last bytes; the problem as text, or None."""
    p = os.fspath(path)
    try:
        size = os.path.getsize(p)
        with open(p, "rb") as f:
            head = f.read(4)
            f.seek(max(0, size - _JPEG_EOI_WINDOW))
            tail = f.read()
    except FileNotFoundError:
        return "image file not found"
    except OSError as e:
        return f"cannot read ({e.strerror or e})"
    if size == 0:
        return "empty file"
    if size <= 4:
        return "not an image (4 bytes or fewer)"
    return image_problem(head + tail)  # the magic from the head, the end marker from the tail


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image as ``(H, W, 3)`` uint8 **BGR** (EXIF orientation ignored, as in COCO).

    A JPEG or PNG cut short (which OpenCV would decode with the missing part grey, saying only
    "Premature end of JPEG file" on stderr) is an error, not an image.

    Raises:
        ImageReadError: naming the file, if it is missing, empty, truncated or not a decodable
            image.
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ImageReadError(f"{p}: image file not found")
    with open(p, "rb") as f:
        data = f.read()
    problem = image_problem(data)
    if problem:
        raise ImageReadError(f"{p}: {problem}")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ImageReadError(f"{p}: cannot decode image ({len(data)} bytes; corrupt or unsupported format)")
    return img


def warp_crop(image: np.ndarray, mat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` uint8 crop of ``image`` through the 2×3 image → crop matrix ``mat``
    (bilinear, black outside the image); ``size`` is ``(W, H)``. The one crop of training,
    evaluation and prediction."""
    return cv2.warpAffine(image, mat, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


@dataclass
class AugmentConfig:
    """Random geometric augmentation of training crops (spec §2.7 defaults).

    Attributes:
        scale_factor: box scale multiplied by ``clip(N(0,1)·sf + 1, 1 − sf, 1 + sf)``.
        rot_factor: rotation ``clip(N(0,1)·rf, −2rf, 2rf)`` degrees …
        rot_prob: … applied with this probability (0 otherwise).
        flip_prob: horizontal flip probability.
        half_body_prob: probability of cropping to the upper or lower body (uniform draw;
            the reference draws a Gaussian, quirk Q14).
        half_body_min_joints: half-body only when more labelled joints than this.
    """

    scale_factor: float = 0.25
    rot_factor: float = 30.0
    rot_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.0
    half_body_min_joints: int = 8


class TopDownTransform:
    """Crop one person and build its training targets.

    Args:
        codec: target encoder (sets input and heatmap size).
        skeleton: keypoint set (flip pairs, half-body split).
        train: draw random augmentation; otherwise the plain box crop.
        aug: augmentation parameters (used when ``train``).
        color: ``"rgb"`` (default; matches ImageNet-pretrained backbones) or ``"bgr"``
            (the reference code's accidental input order, for checkpoint parity).
        mean, std: normalisation statistics in the channel order of ``color``'s RGB
            convention (they are reordered for BGR input).
        aspect_ratio: crop ``W / H`` (for half-body box padding).
    """

    def __init__(
        self,
        codec: HeatmapCodec,
        skeleton: Skeleton,
        *,
        train: bool,
        aug: AugmentConfig | None = None,
        color: str = "rgb",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        padding: float = 1.25,
    ) -> None:
        if color not in ("rgb", "bgr"):
            raise ValueError(f"color must be 'rgb' or 'bgr', got {color!r}")
        self.codec = codec
        self.skeleton = skeleton
        self.train = train
        self.aug = aug or AugmentConfig()
        self.color = color
        # Normalisation is applied to the RGB image; with "bgr" the reference code normalised
        # BGR data with the RGB statistics, which we reproduce by using the stats as given.
        self.mean = np.asarray(mean, np.float32).reshape(1, 1, 3) * 255.0
        self.std = np.asarray(std, np.float32).reshape(1, 1, 3) * 255.0
        self.padding = padding
        self.flip_index = skeleton.flip_index

    @property
    def input_size(self) -> tuple[int, int]:
        return self.codec.input_size

    # -- parameter draws ------------------------------------------------------------------
    def _half_body(self, kpts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        vis = kpts[:, 2] > 0
        up = np.zeros(len(kpts), bool)
        up[list(self.skeleton.upper_body)] = True
        upper, lower = vis & up, vis & ~up
        sel = upper if (rng.random() < 0.5 and upper.sum() > 2) else (lower if lower.sum() > 2 else upper)
        if sel.sum() < 2:
            return None
        pts = kpts[sel, :2]
        lo, hi = pts.min(0), pts.max(0)
        center = (lo + hi) / 2
        w, h = hi - lo
        ar = self.input_size[0] / self.input_size[1]
        if w > ar * h:
            h = w / ar
        else:
            w = h * ar
        return center.astype(np.float32), (np.array([w, h], np.float32) / PIXEL_STD * 1.5)

    def draw_params(self, record: PoseRecord, rng: np.random.Generator) -> dict[str, Any]:
        """Random ``center``, ``scale``, ``rotation``, ``flip`` for one training crop."""
        a = self.aug
        center, scale = record.center.copy(), record.scale.copy()
        kp = record.keypoints
        if (
            a.half_body_prob > 0
            and int((kp[:, 2] > 0).sum()) > a.half_body_min_joints
            and rng.random() < a.half_body_prob
        ):
            hb = self._half_body(kp, rng)
            if hb is not None:
                center, scale = hb
        s = float(np.clip(rng.standard_normal() * a.scale_factor + 1, 1 - a.scale_factor, 1 + a.scale_factor))
        r = float(np.clip(rng.standard_normal() * a.rot_factor, -2 * a.rot_factor, 2 * a.rot_factor))
        r = r if rng.random() < a.rot_prob else 0.0
        flip = bool(rng.random() < a.flip_prob)
        return {"center": center, "scale": scale * s, "rotation": r, "flip": flip}

    # -- the transform --------------------------------------------------------------------
    def __call__(
        self, image: np.ndarray, record: PoseRecord, rng: np.random.Generator | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Crop ``record`` out of ``image``.

        Args:
            image: ``(H_img, W_img, 3)`` uint8 BGR.
            record: the person.
            rng: generator for the random draws (required when ``train`` and no ``params``).
            params: explicit ``center``/``scale``/``rotation``/``flip`` (overrides the draws).

        Returns:
            dict with ``image`` ``(3, H, W)`` float32 tensor, ``target`` ``(K, h, w)``,
            ``target_weight`` ``(K,)``, ``joints`` ``(K, 3)`` crop-pixel keypoints with their
            visibility, ``center``, ``scale`` ``(2,)``, ``rotation``, ``flip``, ``image_id``,
            ``box_score``.
        """
        if params is None:
            if self.train:
                if rng is None:
                    raise ValueError("a training transform needs a random generator")
                params = self.draw_params(record, rng)
            else:
                params = {"center": record.center, "scale": record.scale, "rotation": 0.0, "flip": False}
        center = np.asarray(params["center"], np.float64).copy()
        scale = np.asarray(params["scale"], np.float64)
        rot, flip = float(params["rotation"]), bool(params["flip"])
        W, H = self.input_size
        img_w = image.shape[1]
        kpts = record.keypoints.astype(np.float64).copy()
        if flip:
            # Mirror the image (x' = W_img - 1 - x) before cropping: fold the mirror into the
            # warp matrix, mirror the box centre and keypoints, swap left/right keypoints.
            mirror = np.array([[-1.0, 0.0, img_w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            center[0] = img_w - 1 - center[0]
            kpts[:, 0] = np.where(kpts[:, 2] > 0, img_w - 1 - kpts[:, 0], 0.0)
            kpts = kpts[self.flip_index]
        mat = affine_matrix(center, scale, rot, (W, H))  # (mirrored) image -> crop
        warp = mat @ mirror if flip else mat
        crop = warp_crop(image, warp, (W, H))
        if self.color == "rgb":
            crop = crop[:, :, ::-1]
        x = (crop.astype(np.float32) - self.mean) / self.std
        vis = kpts[:, 2] > 0
        joints = np.zeros_like(kpts)
        joints[:, :2] = np.where(vis[:, None], apply_affine(kpts[:, :2], mat), 0.0)
        joints[:, 2] = kpts[:, 2]
        target, weight = self.codec.encode(joints[:, :2], vis)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
            "target": torch.from_numpy(target),
            "target_weight": torch.from_numpy(weight),
            "joints": torch.from_numpy(joints.astype(np.float32)),
            "center": torch.from_numpy(center.astype(np.float32)),
            "scale": torch.from_numpy(scale.astype(np.float32)),
            "rotation": torch.tensor(rot, dtype=torch.float32),
            "flip": torch.tensor(flip),
            "image_id": torch.tensor(record.image_id, dtype=torch.int64),
            "box_score": torch.tensor(record.box_score, dtype=torch.float32),
        }


class TopDownDataset(Dataset):
    """Records + transform as a map-style dataset.

    Each item's random generator is ``default_rng([seed, epoch, index])``: call
    :meth:`set_epoch` at the start of every epoch (the trainer does).

    Args:
        records: the persons.
        transform: a :class:`TopDownTransform`.
        seed: base seed.
    """

    def __init__(self, records: Sequence[PoseRecord], transform: TopDownTransform, *, seed: int = 0) -> None:
        if len(records) == 0:
            raise ValueError("TopDownDataset: no records")
        k = transform.skeleton.num_keypoints
        bad = next((r for r in records if r.num_keypoints != k), None)
        if bad is not None:
            raise ValueError(
                f"record of {bad.image_path} (ann {bad.ann_id}) has {bad.num_keypoints} keypoints, "
                f"skeleton {transform.skeleton.name!r} has {k}"
            )
        self.records = list(records)
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        # indices past the end wrap around (an epoch of several passes over a small labelled
        # set); the augmentation stays seeded by the full index, so each pass differs
        rec = self.records[index % len(self.records)]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sample = self.transform(read_image(rec.image_path), rec, rng)
        sample["index"] = torch.tensor(index, dtype=torch.int64)
        return sample


def worker_init(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one torch thread per worker.

    OpenCV is not touched here: ``cv2.setNumThreads`` in a forked child whose parent had
    started OpenCV's thread pool waits forever for threads that do not exist there. The
    workers inherit one OpenCV thread instead, set in the parent just before it forks them
    (:func:`single_threaded_cv2`)."""
    torch.set_num_threads(1)


def worker_init_for(workers: int) -> Callable[[int], None] | None:
    """The DataLoader ``worker_init_fn`` for ``workers`` processes (None for none). With
    workers, OpenCV is set to one thread in this process first, before the fork, so that the
    workers inherit it (see :func:`worker_init`)."""
    if workers <= 0:
        return None
    single_threaded_cv2()
    return worker_init


def single_threaded_cv2() -> None:
    """Run OpenCV single-threaded in this process and in the DataLoader workers forked from it
    (call it before creating a DataLoader with workers; parallelism comes from the workers)."""
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)
