"""The Python inference API: a model file in, keypoints in image pixels out.

    from semipose import PoseEstimator

    est = PoseEstimator.from_file("runs/x/checkpoints/best.pt", device="cpu", precision="auto")
    result = est("me.jpg")                               # one box: the whole image
    result = est(image_bgr, boxes=[[x, y, w, h], ...])   # (P, 4) person boxes, xywh pixels
    results = est([img1, img2], boxes=[b1, b2])          # several images, one forward batch
    result.keypoints  # (P, K, 2) image pixels;  result.scores  # (P, K)

The pre-processing (box → centre/scale, affine crop, normalisation) and post-processing (flip
test, decoding, back to image pixels) are those of ``semipose eval``; every person of every
image given in one call is cropped, stacked and run in batches of ``batch_size``. The same
estimator runs a PyTorch model file or an exported ``.onnx`` file (through onnxruntime).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np
import torch
from torch import nn

from ..detect.base import Detector, as_detections
from ..device import autocast, resolve_channels_last, resolve_device, resolve_precision, to_memory_format
from ..errors import CheckpointError, InputError
from ..evaluation.inference import predict_heatmaps
from ..geometry import affine_matrix, box_to_center_scale
from ..image import read_image, warp_crop
from ..models.card import ModelCard
from ..models.modelfile import POSE_KINDS, ModelFile, read_model
from ..params import DECODERS, parse_net
from ..skeletons import Skeleton
from ..threads import ensure_threads, tick

__all__ = ["PoseResult", "Detector", "PoseEstimator", "ImageInput"]

#: An image: a file path, or an ``(H, W, 3)`` uint8 array (BGR unless ``color="rgb"``).
ImageInput = Union[str, "os.PathLike[str]", np.ndarray]




@dataclass
class PoseResult:
    """The persons found in one image.

    Attributes:
        keypoints: ``(P, K, 2)`` float32 image pixels ``(x, y)``.
        scores: ``(P, K)`` float32 keypoint confidences (heatmap peaks).
        boxes: ``(P, 4)`` float32 the person boxes ``(x, y, w, h)`` the crops were taken from.
        box_scores: ``(P,)`` float32 detector scores (1 for given boxes).
        centers, scales: ``(P, 2)`` float32 the crop boxes (centre, size / 200 after padding).
        heatmaps: ``(P, K, h, w)`` float32 when asked for, else None.
        image_size: ``(width, height)`` of the image.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    centers: np.ndarray
    scales: np.ndarray
    heatmaps: np.ndarray | None = None
    image_size: tuple[int, int] = (0, 0)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def keypoints_with_scores(self) -> np.ndarray:
        """``(P, K, 3)`` ``(x, y, score)``."""
        return np.concatenate([self.keypoints, self.scores[..., None]], axis=-1)


class _TorchBackend:
    """A torch module run in eval mode under the chosen autocast."""

    def __init__(self, module: nn.Module, device: torch.device, precision: str, channels_last: bool = False) -> None:
        self.module = module.to(device).eval()
        if channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.device = device
        self.precision, self.channels_last = precision, channels_last

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), autocast(self.precision, self.device):
            return self.module(to_memory_format(x, self.channels_last)).float()


@dataclass
class _Crop:
    image: int
    center: np.ndarray
    scale: np.ndarray


@dataclass
class PoseEstimator:
    """A pose model ready to predict (see the module docstring).

    Build it with :meth:`from_file`; the constructor takes the pieces directly.

    Args:
        forward: ``(N, 3, H, W)`` normalised float32 on ``device`` → ``(N, K, h, w)`` float32.
        card: the model card (input size, keypoint set, colour order, normalisation …).
        device: where crops are normalised and heatmaps decoded.
        flip_test: average with the mirrored input (default: the card's).
        decoder: ``shift``, ``dark`` or ``argmax`` (default: the card's).
        batch_size: persons per forward pass.
        num_threads: CPU threads (see :meth:`from_file`).
        detector: finds the persons when a call gives no boxes (see :meth:`from_file`).
    """

    forward: Callable[[torch.Tensor], torch.Tensor]
    card: ModelCard
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    flip_test: bool | None = None
    decoder: str | None = None
    batch_size: int = 32
    precision: str = "fp32"
    backend: str = "torch"
    num_threads: int | None = None
    detector: Detector | None = None

    def __post_init__(self) -> None:
        if self.device.type == "cpu":
            ensure_threads(self.num_threads)
        self.flip_test = self.card.flip_test if self.flip_test is None else bool(self.flip_test)
        self.decoder = self.decoder or self.card.decoder
        if self.decoder not in DECODERS:
            raise InputError(f"decoder: expected one of {', '.join(DECODERS)}, got {self.decoder!r}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be ≥ 1, got {self.batch_size}")
        self.skeleton: Skeleton = self.card.keypoint_set
        self.codec = self.card.codec(self.decoder)
        self._mean = torch.from_numpy(np.asarray(self.card.mean, np.float32) * 255.0).to(self.device)
        self._std = torch.from_numpy(np.asarray(self.card.std, np.float32) * 255.0).to(self.device)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str] | ModelFile,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        channels_last: bool | str = "auto",
        flip_test: bool | None = None,
        decoder: str | None = None,
        net: str | int | None = None,
        batch_size: int = 32,
        trust: bool = False,
        arch: str | None = None,
        keypoints: Any = None,
        color: str | None = None,
        input_size: Sequence[int] | None = None,
        num_threads: int | None = None,
        detector: str | os.PathLike[str] | Detector | None = None,
        detector_score_thr: float | None = None,
    ) -> PoseEstimator:
        """Load a model file (``best.pt``, ``last.pt``, an exported ``model.pt``), a reference
        checkpoint, or an ``.onnx`` export.

        Args:
            path: the file: a local path, an ``http(s)://`` URL, ``hf://OWNER/REPO/PATH[@REV]``
                or a name ``semipose models`` lists (downloaded once into the cache).
            device: ``cpu``, ``cuda``, ``cuda:1`` or ``auto``.
            precision: ``fp32``, ``bf16``, ``fp16`` (CUDA) or ``auto`` (bf16 where fast).
                ONNX files run in fp32.
            channels_last: NHWC network and inputs: ``True``, ``False`` or ``"auto"`` (with bf16 / fp16).
            flip_test, decoder: override the card's.
            net: two-network models: ``1``, ``2`` or ``"ensemble"`` (default: the card's).
            batch_size: persons per forward pass.
            trust: allow a file that needs arbitrary unpickling (can run code from it).
            arch, keypoints, color, input_size: describe a reference checkpoint (see
                :func:`~semipose.models.modelfile.read_model`).
            num_threads: CPU threads of torch: N fixes them, 0 follows the free cores
                (:mod:`semipose.threads`); None (default) keeps the process's set-up, or
                starts the adaptive one when there is none.
            detector: who finds the persons when a call gives no boxes: a :class:`Detector`,
                or an ONNX person detector as a name (``yolox-m-humanart`` …, ``semipose
                models``), a ``.onnx`` / deployment ``.zip`` file, a URL or an ``hf://`` path
                (:class:`~semipose.detect.person.OnnxPersonDetector`), or an instance finder's
                model file (``.pt``: :class:`~semipose.models.finder.CentroidFinder`); None: one
                box, the whole image.
            detector_score_thr: its score threshold (default
                :data:`~semipose.detect.person.DEFAULT_SCORE_THR`).

        Raises:
            FileNotFoundError, CheckpointError: naming the file and the problem.
        """
        dev = resolve_device(device)
        mf = read_model(path, trust=trust, arch=arch, keypoints=keypoints, color=color, input_size=input_size,
                        kinds=(*POSE_KINDS, "onnx"))  # resolved (downloaded once, then cached) and read once
        if detector is None or callable(detector):
            det = detector
        else:
            from ..models.finder import open_instance_detector

            det = open_instance_detector(detector, detector_score_thr, device=device, trust=trust)
        if mf.kind == "onnx":
            from .onnx import OnnxBackend

            ort = OnnxBackend(mf.path, device=dev, card=mf.card)
            if net is not None and parse_net(net) != ort.exported:
                raise CheckpointError(f"{mf.path}: exported with network {ort.exported!r}; export again for {parse_net(net)!r}")
            return cls(ort, ort.card, dev, flip_test, decoder, batch_size, "fp32", "onnxruntime", num_threads, det)
        use = parse_net(net) if net is not None else mf.model_card.use
        module = mf.model_card.predictor(mf.build_nets(dev), use)
        prec = resolve_precision(precision, dev)
        card = mf.model_card.with_use(use, os.fspath(mf.path))
        backend = _TorchBackend(module, dev, prec, resolve_channels_last(channels_last, prec))
        return cls(backend, card, dev, flip_test, decoder, batch_size, prec, "torch", num_threads, det)

    # -- prediction --------------------------------------------------------------------------
    def __call__(
        self,
        images: ImageInput | Sequence[ImageInput],
        boxes: Any = None,
        *,
        box_scores: Any = None,
        color: str = "bgr",
        detector: Detector | None = None,
        return_heatmaps: bool = False,
    ) -> PoseResult | list[PoseResult]:
        """Predict the poses of the persons in one image or a list of images.

        Args:
            images: a path, an ``(H, W, 3)`` uint8 colour or ``(H, W)`` grey array, or a list of them.
            boxes: ``(P, 4)`` ``(x, y, w, h)`` person boxes in pixels (a list of those for a
                list of images); None: ``detector``'s boxes, or one box = the whole image.
            box_scores: ``(P,)`` scores of ``boxes`` (default 1), or a list of them.
            color: channel order of array inputs, ``bgr`` (OpenCV) or ``rgb`` (PIL,
                matplotlib, imageio). Files are always read correctly.
            detector: a :class:`Detector` used when ``boxes`` is None.
            return_heatmaps: also return the ``(P, K, h, w)`` heatmaps.

        Returns:
            One :class:`PoseResult` per image (a list for a list input).
        """
        if images is None:
            self._as_bgr(None, color)  # raises the one-line error
        single = isinstance(images, (str, os.PathLike)) or (isinstance(images, np.ndarray) and images.ndim in (2, 3))
        if not single and not isinstance(images, (list, tuple, np.ndarray, torch.Tensor)):
            self._as_bgr(images, color)  # type: ignore[arg-type]  # not an image nor a list of them: the one-line error
        items: list[Any] = [images] if single else list(images)  # type: ignore[arg-type]
        if single:
            boxes, box_scores = [boxes], [box_scores]
        else:
            boxes = [None] * len(items) if boxes is None else list(boxes)
            box_scores = [None] * len(items) if box_scores is None else list(box_scores)
            if len(boxes) != len(items) or len(box_scores) != len(items):
                raise InputError(f"{len(items)} images but {len(boxes)} box lists / {len(box_scores)} score lists")
        arrays = [self._as_bgr(im, color) for im in items]
        per_image = []
        for arr, b, s in zip(arrays, boxes, box_scores):
            if b is None and (detector or self.detector) is not None:
                b, s = as_detections((detector or self.detector)(arr))  # type: ignore[misc]
            per_image.append(self._boxes(arr, b, s))
        aspect = self.card.input_size[0] / self.card.input_size[1]
        centers_scales = [box_to_center_scale(b, aspect, self.card.padding) for b, _ in per_image]
        outs = self.predict_crops(arrays, [c for c, _ in centers_scales], [s for _, s in centers_scales], return_heatmaps=return_heatmaps)
        results = []
        for arr, (b, s), (c, sc), (kp, conf, hm) in zip(arrays, per_image, centers_scales, outs):
            results.append(PoseResult(kp, conf, b, s, c, sc, hm, (arr.shape[1], arr.shape[0])))
        return results[0] if single else results

    def predict_crops(
        self,
        images: Sequence[np.ndarray],
        centers: Sequence[np.ndarray],
        scales: Sequence[np.ndarray],
        *,
        return_heatmaps: bool = False,
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """The low-level call: crops given as centres and scales (as the dataset records hold
        them), batched across all images.

        Args:
            images: ``(H, W, 3)`` uint8 BGR arrays.
            centers, scales: per image ``(P_i, 2)`` crop centres and scales (size / 200).

        Returns:
            Per image ``(keypoints (P_i, K, 2), scores (P_i, K), heatmaps (P_i, K, h, w) or None)``.
        """
        tick()
        crops: list[_Crop] = []
        for i, (c, s) in enumerate(zip(centers, scales)):
            for cc, ss in zip(np.asarray(c, np.float32).reshape(-1, 2), np.asarray(s, np.float32).reshape(-1, 2)):
                crops.append(_Crop(i, cc, ss))
        k = self.card.num_keypoints
        w, h = self.card.heatmap_size  # type: ignore[misc]
        coords = np.zeros((len(crops), k, 2), np.float32)
        conf = np.zeros((len(crops), k), np.float32)
        heat = np.zeros((len(crops), k, h, w), np.float32) if return_heatmaps else None
        flip_index = self.skeleton.flip_index if self.flip_test else None
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start:start + self.batch_size]
            x = self._normalize([self._crop(images[c.image], c.center, c.scale) for c in chunk])
            hm = predict_heatmaps(self.forward, x, flip_index=flip_index, shift_heatmap=self.card.shift_heatmap)  # type: ignore[arg-type]
            xy, mv = self.codec.decode(hm.float())
            cen = np.stack([c.center for c in chunk])
            sca = np.stack([c.scale for c in chunk])
            coords[start:start + len(chunk)] = self.codec.to_image(xy.cpu().numpy(), cen, sca)
            conf[start:start + len(chunk)] = mv.cpu().numpy()
            if heat is not None:
                heat[start:start + len(chunk)] = hm.cpu().numpy()
        out = []
        pos = 0
        for c in centers:
            n = len(np.asarray(c).reshape(-1, 2))
            out.append((coords[pos:pos + n], conf[pos:pos + n], heat[pos:pos + n] if heat is not None else None))
            pos += n
        return out

    # -- pieces ------------------------------------------------------------------------------
    def _crop(self, image: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        mat = affine_matrix(center.astype(np.float64), scale.astype(np.float64), 0.0, self.card.input_size)
        crop = warp_crop(image, mat, self.card.input_size)
        return crop[:, :, ::-1] if self.card.color == "rgb" else crop

    def _normalize(self, crops: list[np.ndarray]) -> torch.Tensor:
        """``(N, H, W, 3)`` uint8 crops → ``(N, 3, H, W)`` normalised float32 on the device."""
        x = torch.from_numpy(np.ascontiguousarray(np.stack(crops))).to(self.device)
        x = (x.float() - self._mean) / self._std
        return x.permute(0, 3, 1, 2).contiguous()

    @staticmethod
    def _as_bgr(image: ImageInput, color: str) -> np.ndarray:
        if isinstance(image, (str, os.PathLike)):
            return read_image(image)
        if image is None:
            raise InputError("the image is None (a failed cv2.imread? it returns None for a missing or unreadable file: pass the path instead)")
        if not isinstance(image, (np.ndarray, torch.Tensor, list, tuple)):
            raise InputError(f"an image must be a file path or an (H, W, 3) uint8 array, got {type(image).__name__}")
        arr = np.asarray(image)
        if arr.dtype == np.uint8 and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1)) and min(arr.shape[:2]) > 0:
            return np.ascontiguousarray(np.repeat(arr.reshape(arr.shape[0], arr.shape[1], 1), 3, axis=2))  # grey: the same in BGR and RGB
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) == 0:
            raise InputError(f"an image must be an (H, W, 3) colour or (H, W) grey uint8 array, got {arr.dtype} array of shape {arr.shape}")
        if color not in ("bgr", "rgb"):
            raise InputError(f"color: expected 'bgr' or 'rgb', got {color!r}")
        return np.ascontiguousarray(arr[:, :, ::-1]) if color == "rgb" else arr

    @staticmethod
    def _boxes(image: np.ndarray, boxes: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
        if boxes is None:
            b = np.array([[0.0, 0.0, image.shape[1], image.shape[0]]], np.float32)
        else:
            b = np.asarray(boxes, np.float32)
            if b.size == 0:
                b = np.zeros((0, 4), np.float32)
            if b.ndim == 1:
                b = b[None]
            if b.ndim != 2 or b.shape[1] != 4:
                raise InputError(f"boxes must be (P, 4) as (x, y, w, h), got shape {b.shape}")
            if not np.isfinite(b).all() or (b[:, 2:] <= 0).any():
                raise InputError("boxes must be finite with positive width and height")
        s = np.ones(len(b), np.float32) if scores is None else np.asarray(scores, np.float32).reshape(-1)
        if len(s) != len(b):
            raise InputError(f"{len(b)} boxes but {len(s)} box scores")
        return b, s
