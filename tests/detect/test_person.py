"""The ONNX person detector on a real sample photo, with small ONNX models built here in the two
layouts the published detectors use (mmdeploy's end-to-end dets + labels, and a raw YOLOX
head): letterbox, decoding, the person-class filter, NMS and the score threshold give the
photo's annotated persons, and `semipose predict --detector` / `PoseEstimator(detector=...)`
feed them to the pose model end to end."""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np
import pytest
import torch

from semipose.cli import main
from semipose.detect.person import OnnxPersonDetector, letterbox, nms_xyxy
from semipose.predict import PoseEstimator

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter's notices

PHOTO = "000000196141.jpg"


def _gt(sample_data):
    """The photo and its annotated persons' boxes (x, y, w, h), those with keypoints."""
    import cv2

    d = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    im = next(i for i in d["images"] if i["file_name"] == PHOTO)
    boxes = np.array([a["bbox"] for a in d["annotations"] if a["image_id"] == im["id"] and a["num_keypoints"] > 0], np.float32)
    return cv2.imread(str(sample_data / "coco/images" / PHOTO)), boxes


class _Const(torch.nn.Module):
    """A graph with the detector's input and constant outputs (the input stays connected)."""

    def __init__(self, *outs: torch.Tensor) -> None:
        super().__init__()
        self.outs = [torch.nn.Buffer(o) for o in outs]
        for i, b in enumerate(self.outs):
            self.register_buffer(f"o{i}", b)

    def forward(self, x: torch.Tensor):  # noqa: ANN201
        z = x.mean() * 0
        outs = [getattr(self, f"o{i}") + z.to(getattr(self, f"o{i}").dtype) for i in range(len(self.outs))]
        return tuple(outs) if len(outs) > 1 else outs[0]


def _export(module: torch.nn.Module, size: int, path, names) -> None:
    torch.onnx.export(module, (torch.zeros(1, 3, size, size),), str(path), dynamo=False, input_names=["input"], output_names=names,
                      opset_version=17)


def _end2end(image, gt, path) -> None:
    """mmdeploy's layout at 640x640: dets (1, N, 5) in letterboxed pixels, labels (1, N)."""
    _, r = letterbox(image, (640, 640))
    xyxy = np.concatenate([gt[:, :2], gt[:, :2] + gt[:, 2:]], 1) * r
    dets = [list(b) + [0.9] for b in xyxy]
    labels = [0] * len(dets)
    dets.append([10, 10, 100, 120, 0.1])  # a junk box below the threshold
    labels.append(0)
    dets.append([50, 50, 300, 300, 0.95])  # a confident box of another class (a chair)
    labels.append(56)
    _export(_Const(torch.tensor([dets], dtype=torch.float32), torch.tensor([labels], dtype=torch.int64)), 640, path, ["dets", "labels"])


def _raw_yolox(image, gt, path, size: int = 320) -> None:
    """A raw YOLOX head at size x size: each person at its stride-8 cell, a near copy (4 px off,
    lower score) at a stride-16 cell for NMS to remove, and a low-objectness anchor."""
    _, r = letterbox(image, (size, size))
    n8, n16 = (size // 8) ** 2, (size // 16) ** 2
    pred = np.zeros((n8 + n16 + (size // 32) ** 2, 6), np.float32)

    def put(stride: int, base: int, box, obj: float) -> None:
        cx, cy, w, h = box[0] + box[2] / 2, box[1] + box[3] / 2, box[2], box[3]
        gx, gy = int(cx // stride), int(cy // stride)
        a = base + gy * (size // stride) + gx
        pred[a] = [cx / stride - gx, cy / stride - gy, math.log(w / stride), math.log(h / stride), obj, 1.0]

    for b in gt * r:
        put(8, 0, b, 0.9)
        put(16, n8, b + np.array([4, 4, 0, 0], np.float32), 0.8)
    pred[n8 + 5] = [0.5, 0.5, 1.0, 1.0, 0.2, 1.0]  # objectness × score 0.2 < 0.3
    _export(_Const(torch.from_numpy(pred[None])), size, path, ["output"])


def test_letterbox_and_nms():
    img = np.full((100, 200, 3), 7, np.uint8)
    canvas, r = letterbox(img, (64, 64))
    assert r == pytest.approx(0.32) and canvas.shape == (64, 64, 3)
    assert (canvas[:32, :64] == 7).all() and (canvas[33:] == 114).all()  # top-left, padded with 114
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    assert nms_xyxy(boxes, np.array([0.5, 0.9, 0.3]), 0.45).tolist() == [1, 2]


@pytest.mark.parametrize("layout", ["end2end", "yolox"])
def test_detector_finds_the_annotated_persons(sample_data, tmp_path, layout):
    image, gt = _gt(sample_data)
    assert len(gt) >= 2
    (_end2end if layout == "end2end" else _raw_yolox)(image, gt, tmp_path / "det.onnx")
    det = OnnxPersonDetector(tmp_path / "det.onnx")
    assert det.layout == layout
    boxes, scores = det(image)
    order = np.lexsort((boxes[:, 1], boxes[:, 0]))
    want = gt[np.lexsort((gt[:, 1], gt[:, 0]))]
    h, w = image.shape[:2]
    want_clipped = np.concatenate([want[:, :2], np.minimum(want[:, :2] + want[:, 2:], [w, h]) - want[:, :2]], 1)
    np.testing.assert_allclose(boxes[order], want_clipped, atol=0.5)
    assert np.allclose(scores, 0.9, atol=1e-5)


def test_predict_with_a_detector_end_to_end(model_file, sample_data, tmp_path, capsys):
    image, gt = _gt(sample_data)
    _end2end(image, gt, tmp_path / "end2end.onnx")
    with zipfile.ZipFile(tmp_path / "yolox_test_humanart.zip", "w") as z:  # a deployment archive, as published
        z.write(tmp_path / "end2end.onnx", "yolox_test/end2end.onnx")
    photo = sample_data / "coco/images" / PHOTO
    assert main(["predict", str(model_file), str(photo), "--detector", str(tmp_path / "yolox_test_humanart.zip"), "--no-nms",
                 "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"detector: {len(gt)} person box(es) kept on 1 image(s)/frame(s) (score ≥ 0.3)" in out and "end2end" in out
    preds = json.loads((tmp_path / "o/predictions.json").read_text())
    assert len(preds) == len(gt)
    est = PoseEstimator.from_file(model_file, detector=tmp_path / "end2end.onnx")
    assert len(est(image)) == len(gt)
    assert len(PoseEstimator.from_file(model_file)(image)) == 1  # no detector: the whole image
    assert main(["predict", str(model_file), str(photo), "--detector", str(tmp_path / "end2end.onnx"), "--boxes", "x.json"]) == 2
    assert "--detector finds the boxes itself" in capsys.readouterr().err


def test_a_file_that_is_no_detector_is_one_line(model_file, tmp_path, capsys):
    pytest.importorskip("onnxscript")
    assert main(["export", str(model_file), "-o", str(tmp_path / "pose.onnx"), "--no-check"]) == 0
    capsys.readouterr()
    with pytest.raises(Exception, match=r"not a YOLOX-style detector|fixed H and W"):
        OnnxPersonDetector(tmp_path / "pose.onnx")


def test_the_detector_contract_is_checked_once():
    from semipose.detect.base import Detector, as_detections
    from semipose.errors import InputError

    b, s = as_detections(([[1, 2, 3, 4]], [0.5]))
    assert b.shape == (1, 4) and b.dtype == np.float32 and s.tolist() == [0.5]
    assert as_detections((np.zeros((0, 4)), np.zeros(0)))[0].shape == (0, 4)
    assert isinstance(lambda im: (np.zeros((0, 4)), np.zeros(0)), Detector)
    for bad, msg in ((None, "must return"), (([[1, 2, 3]], [1.0]), "must return"), (([[1, 2, 3, 4]], [1.0, 2.0]), "returned 1 boxes but 2 scores")):
        with pytest.raises(InputError, match=f"my finder: {msg}"):
            as_detections(bad, "my finder")
