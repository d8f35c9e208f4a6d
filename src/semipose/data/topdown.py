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

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..codec import HeatmapCodec
from ..errors import DataFormatError
from ..geometry import DEFAULT_PADDING, PIXEL_STD, affine_matrix, apply_affine
from ..image import IMAGENET_MEAN, IMAGENET_STD, ImageCache, normalize_crop, warp_crop
from ..params import COLORS, AugmentConfig, scale_rotation
from ..skeletons import Skeleton
from .batches import LabelledSample
from .records import PoseRecord

__all__ = ["TopDownTransform", "TopDownDataset"]


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
        padding: person boxes are enlarged by this factor (1.25 in the reference) after being
            padded to the input's aspect ratio.
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
        padding: float = DEFAULT_PADDING,
    ) -> None:
        if color not in COLORS:
            raise DataFormatError(f"color must be 'rgb' or 'bgr', got {color!r}")
        self.codec = codec
        self.skeleton = skeleton
        self.train = train
        self.aug = aug or AugmentConfig()
        self.color = color
        # Normalisation is applied to the RGB image; with "bgr" the reference code normalised
        # BGR data with the RGB statistics, which we reproduce by using the stats as given.
        self.mean = np.asarray(mean, np.float32).reshape(3) * np.float32(255.0)
        self.std = np.asarray(std, np.float32).reshape(3) * np.float32(255.0)
        self.padding = padding
        self.flip_index = skeleton.flip_index

    @property
    def input_size(self) -> tuple[int, int]:
        return self.codec.input_size

    def crop_box(self, record: PoseRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(center, scale)`` of ``record``'s crop: its box padded to the input's aspect ratio
        and enlarged by ``padding`` (:meth:`PoseRecord.crop_box`)."""
        w, h = self.input_size
        return record.crop_box(w / h, self.padding)

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
        center, scale = self.crop_box(record)
        kp = record.keypoints
        if (
            a.half_body_prob > 0
            and int((kp[:, 2] > 0).sum()) > a.half_body_min_joints
            and rng.random() < a.half_body_prob
        ):
            hb = self._half_body(kp, rng)
            if hb is not None:
                center, scale = hb
        z_s, z_r = rng.standard_normal(), rng.standard_normal()
        s, r = scale_rotation(np.float64(z_s), np.float64(z_r), rng.random(), a)
        s, r = float(s), float(r) + 0.0  # + 0.0: no negative zero for a skipped rotation
        flip = bool(rng.random() < a.flip_prob)
        return {"center": center, "scale": scale * s, "rotation": r, "flip": flip}

    # -- the transform --------------------------------------------------------------------
    def __call__(
        self, image: np.ndarray, record: PoseRecord, rng: np.random.Generator | None = None, params: dict[str, Any] | None = None
    ) -> LabelledSample:
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
                    raise DataFormatError("a training transform needs a random generator")
                params = self.draw_params(record, rng)
            else:
                center, scale = self.crop_box(record)
                params = {"center": center, "scale": scale, "rotation": 0.0, "flip": False}
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
        x = normalize_crop(crop, self.mean, self.std, reverse_channels=self.color == "rgb")
        vis = kpts[:, 2] > 0
        joints = np.zeros_like(kpts)
        joints[:, :2] = np.where(vis[:, None], apply_affine(kpts[:, :2], mat), 0.0)
        joints[:, 2] = kpts[:, 2]
        target, weight = self.codec.encode(joints[:, :2], vis)
        return {
            "image": torch.from_numpy(x),
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
        images: where decoded images are kept (:class:`~semipose.image.ImageCache`, which
            datasets of one process may share; None: decode the file for every person).
    """

    def __init__(
        self, records: Sequence[PoseRecord], transform: TopDownTransform, *, seed: int = 0, images: ImageCache | None = None
    ) -> None:
        if len(records) == 0:
            raise DataFormatError("TopDownDataset: no records")
        k = transform.skeleton.num_keypoints
        bad = next((r for r in records if r.num_keypoints != k), None)
        if bad is not None:
            raise DataFormatError(
                f"record of {bad.image_path} (ann {bad.ann_id}) has {bad.num_keypoints} keypoints, "
                f"skeleton {transform.skeleton.name!r} has {k}"
            )
        self.records = list(records)
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0
        self.images = images if images is not None else ImageCache(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """A :class:`~semipose.data.batches.LabelledSample` and its ``index``."""
        # indices past the end wrap around (an epoch of several passes over a small labelled
        # set); the augmentation stays seeded by the full index, so each pass differs
        rec = self.records[index % len(self.records)]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sample: dict[str, Any] = dict(self.transform(self.images.read(rec.image_path), rec, rng))
        sample["index"] = torch.tensor(index, dtype=torch.int64)
        return sample
