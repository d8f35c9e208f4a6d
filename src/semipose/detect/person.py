"""A person detector for photos: an ONNX YOLOX-style model run by onnxruntime.

Two output layouts are read (the two that rtmlib's and mmpose's RTMPose deployment detectors
come in), told apart by the graph's first output:

* **end-to-end** (mmdeploy's ``end2end.onnx``, NMS inside): ``dets (1, N, 5)`` = ``x1, y1, x2,
  y2, score`` in the letterboxed input's pixels, optionally ``labels (1, N)`` (class 0 =
  person);
* **raw YOLOX head**: ``(1, A, 5 + C)`` per anchor of the stride-8/16/32 grids: ``cx, cy``
  as offsets in grid cells, ``log w, log h`` in strides, objectness and C class scores (after
  the sigmoid); decoded here, scored ``objectness × person score``, then non-maximum
  suppression.

Pre-processing (both): the BGR image resized by one ratio to fit the ``(H, W)`` input, placed
at the top-left, the rest filled with 114, fed as float32 0..255 without normalisation (the
mmdet YOLOX data pre-processor's). Boxes are mapped back by the ratio, clipped to the image,
kept at ``score ≥ score_thr`` (default :data:`DEFAULT_SCORE_THR`) and returned as ``(x, y, w, h)``.

Published files (to be confirmed on a machine with a network; `semipose models` lists them):
OpenMMLab's RTMPose deployment archives ``yolox_{tiny,m,x}_8xb8-300e_humanart-*.zip`` hold an
``end2end.onnx`` of the end-to-end layout (input 416×416 for tiny, 640×640 for m / x), which
rtmlib's ``Body`` solution uses as its person detector.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import cv2
import numpy as np

from ..errors import CheckpointError, InputError
from .base import require_onnx

__all__ = ["DEFAULT_SCORE_THR", "OnnxPersonDetector", "letterbox", "nms_xyxy", "onnx_from_archive", "open_detector"]

#: detections kept by default (rtmlib keeps > 0.3 after its NMS; mmpose's demos use 0.3 too)
DEFAULT_SCORE_THR = 0.3
#: IoU above which the weaker of two boxes is suppressed (YOLOX's default 0.45)
DEFAULT_NMS_THR = 0.45
_STRIDES = (8, 16, 32)


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """``(H, W, 3)`` uint8 ``image`` resized by one ratio into a ``size`` = ``(H, W)`` canvas of
    114 at the top-left; returns ``(canvas, ratio)`` (input pixel = image pixel × ratio)."""
    h, w = size
    ratio = min(h / image.shape[0], w / image.shape[1])
    nh, nw = max(1, int(image.shape[0] * ratio)), max(1, int(image.shape[1] * ratio))
    canvas = np.full((h, w, 3), 114, np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, ratio


def nms_xyxy(boxes: np.ndarray, scores: np.ndarray, thr: float) -> np.ndarray:
    """Indices kept by greedy IoU non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[iou <= thr]
    return np.asarray(keep, np.int64)


def onnx_from_archive(path: Path) -> Path:
    """The ``.onnx`` of a deployment archive (``*.zip`` holding ``end2end.onnx``), extracted once
    beside it; a ``.onnx`` path as it is."""
    if path.suffix.lower() != ".zip":
        return path
    out = path.with_suffix(".onnx")
    if out.is_file():
        return out
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.lower().endswith(".onnx")]
            if not names:
                raise CheckpointError(f"{path}: the archive holds no .onnx file")
            name = next((n for n in names if n.endswith("end2end.onnx")), names[0])
            tmp = out.with_name(f"{out.name}.{os.getpid()}.part")
            tmp.write_bytes(z.read(name))
            os.replace(tmp, out)
    except zipfile.BadZipFile:
        raise CheckpointError(f"{path}: not a readable zip archive") from None
    return out


class OnnxPersonDetector:
    """A :class:`~semipose.detect.base.Detector`: ``detector(image_bgr) -> (boxes (P, 4) xywh,
    scores (P,))`` from an ONNX person detector.

    Args:
        path: the ``.onnx`` file (or a deployment ``.zip`` holding one).
        score_thr: keep detections scoring at least this.
        nms_thr: IoU of the non-maximum suppression (raw-head layout; the end-to-end layout has
            its own NMS inside).
        person_class: the class index of persons (0 in COCO-trained detectors).
        num_threads: onnxruntime's intra-op threads (0: its default).
    """

    def __init__(self, path: str | os.PathLike[str], *, score_thr: float = DEFAULT_SCORE_THR, nms_thr: float = DEFAULT_NMS_THR,
                 person_class: int = 0, num_threads: int = 0) -> None:
        require_onnx("onnxruntime")
        import onnxruntime as ort

        self.path = onnx_from_archive(Path(path))
        if not 0.0 <= score_thr <= 1.0:
            raise InputError(f"detector score threshold must be in [0, 1], got {score_thr}")
        self.score_thr, self.nms_thr, self.person_class = float(score_thr), float(nms_thr), int(person_class)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(num_threads)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types
            raise CheckpointError(f"{self.path}: not a readable ONNX model ({str(e).splitlines()[0][:200]})") from None
        inp = self.session.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]) or shape[1] not in (3, "3"):
            raise CheckpointError(f"{self.path}: a detector input must be (1, 3, H, W) with a fixed H and W, got {shape}")
        self.input_name, self.input_size = inp.name, (int(shape[2]), int(shape[3]))
        out = self.session.get_outputs()[0]
        last = out.shape[-1] if len(out.shape) == 3 else None
        anchors = sum((self.input_size[0] // s) * (self.input_size[1] // s) for s in _STRIDES)
        if last == 5:
            self.layout = "end2end"
        elif isinstance(last, int) and last > 5 and (out.shape[1] == anchors or not isinstance(out.shape[1], int)):
            self.layout = "yolox"
        else:
            raise CheckpointError(
                f"{self.path}: output {out.name!r} {out.shape}: not a YOLOX-style detector (end-to-end dets (1, N, 5) or a raw head (1, A, 5 + C))"
            )

    @property
    def description(self) -> str:
        h, w = self.input_size
        return f"person detector {self.path.name} ({self.layout}, {w}x{h}, score ≥ {self.score_thr})"

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        canvas, ratio = letterbox(image, self.input_size)
        x = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
        outs = self.session.run(None, {self.input_name: x})
        if self.layout == "end2end":
            dets = np.asarray(outs[0], np.float32).reshape(-1, 5)
            boxes, scores = dets[:, :4], dets[:, 4]
            if len(outs) > 1 and np.asarray(outs[1]).size == len(dets):
                person = np.asarray(outs[1]).reshape(-1) == self.person_class
                boxes, scores = boxes[person], scores[person]
        else:
            boxes, scores = self._decode(np.asarray(outs[0], np.float32)[0])
        keep = np.isfinite(scores) & (scores >= self.score_thr) & np.isfinite(boxes).all(axis=1)
        boxes, scores = boxes[keep] / ratio, scores[keep]
        if self.layout == "yolox" and len(boxes):
            order = nms_xyxy(boxes, scores, self.nms_thr)
            boxes, scores = boxes[order], scores[order]
        h, w = image.shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        wh = boxes[:, 2:] - boxes[:, :2]
        ok = (wh > 1).all(axis=1)
        return np.concatenate([boxes[ok, :2], wh[ok]], axis=1).astype(np.float32), scores[ok].astype(np.float32)

    def _decode(self, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A raw YOLOX head ``(A, 5 + C)`` → ``(A, 4)`` xyxy input-pixel boxes and ``(A,)``
        person scores (objectness × class score)."""
        h, w = self.input_size
        grids, strides = [], []
        for s in _STRIDES:
            gy, gx = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
            grids.append(np.stack([gx.reshape(-1), gy.reshape(-1)], 1))
            strides.append(np.full((gx.size, 1), s, np.float32))
        grid, stride = np.concatenate(grids).astype(np.float32), np.concatenate(strides)
        if len(grid) != len(pred):
            raise CheckpointError(f"{self.path}: {len(pred)} anchors, but a {w}x{h} input with strides {_STRIDES} has {len(grid)}")
        xy = (pred[:, :2] + grid) * stride
        wh = np.exp(np.clip(pred[:, 2:4], -20, 20)) * stride
        scores = pred[:, 4] * pred[:, 5 + self.person_class]
        return np.concatenate([xy - wh / 2, xy + wh / 2], 1), scores


def open_detector(spec: str | os.PathLike[str], score_thr: float | None = None, *, progress: bool = True) -> OnnxPersonDetector:
    """The ONNX person detector of a model source: ``default`` (:data:`~semipose.hub.DEFAULT_DETECTOR`),
    a name ``semipose models`` lists, a ``.onnx`` / deployment ``.zip`` file, a URL or an
    ``hf://`` path (fetched once, then cached; ``progress``: the download bar); ``score_thr``
    default :data:`DEFAULT_SCORE_THR`; onnxruntime threads as the governor sets."""
    from ..hub import DEFAULT_DETECTOR, resolve_source
    from ..threads import ensure_threads

    path = resolve_source(DEFAULT_DETECTOR if os.fspath(spec) == "default" else spec, progress=progress)
    return OnnxPersonDetector(path, score_thr=DEFAULT_SCORE_THR if score_thr is None else score_thr,
                              num_threads=ensure_threads().threads)
