"""The Python inference API: same numbers as the evaluation pipeline, every input form."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import make_model_file
from semipose.codec import HeatmapCodec
from semipose.data.coco import load_coco_keypoints
from semipose.data.topdown import TopDownDataset, TopDownTransform
from semipose.evaluation.inference import run_inference
from semipose.image import read_image
from semipose.models.modelfile import read_model_file
from semipose.predict import Detector, PoseEstimator
from semipose.skeletons import COCO17


@pytest.mark.parametrize("flip", [False, True])
def test_same_keypoints_as_the_eval_pipeline(model_file, sample_data, flip):
    coco = sample_data / "coco"
    recs = load_coco_keypoints(coco / "person_keypoints_sample.json", coco / "images", skeleton=COCO17).records
    codec = HeatmapCodec((64, 64), (16, 16))
    ds = TopDownDataset(recs, TopDownTransform(codec, COCO17, train=False))
    net = read_model_file(model_file).build_nets()[0]
    ref = run_inference(net, DataLoader(ds, batch_size=5), codec, device="cpu", flip_index=COCO17.flip_index if flip else None,
                        num_keypoints=17, progress=False)
    est = PoseEstimator.from_file(model_file, flip_test=flip, batch_size=7)
    paths = sorted({r.image_path for r in recs})
    outs = est.predict_crops(
        [read_image(p) for p in paths],
        [np.stack([ds.transform.crop_box(r)[0] for r in recs if r.image_path == p]) for p in paths],
        [np.stack([ds.transform.crop_box(r)[1] for r in recs if r.image_path == p]) for p in paths],
    )
    order = [i for p in paths for i, r in enumerate(recs) if r.image_path == p]
    got_xy = np.concatenate([o[0] for o in outs])
    got_conf = np.concatenate([o[1] for o in outs])
    assert np.abs(ref.maxvals[order]).max() > 0.05  # real peaks, not a map of zeros
    np.testing.assert_allclose(got_xy, ref.coords[order], atol=1e-3)
    np.testing.assert_allclose(got_conf, ref.maxvals[order], atol=1e-5)


def test_input_forms_agree(model_file, sample_data):
    est = PoseEstimator.from_file(model_file)
    path = sorted((sample_data / "coco/images").glob("*.jpg"))[0]
    bgr = cv2.imread(str(path))
    boxes = np.array([[10, 20, 120, 200], [50, 40, 90, 150]], np.float32)
    by_path = est(path, boxes=boxes, return_heatmaps=True)
    by_bgr = est(bgr, boxes=boxes)
    by_rgb = est(np.ascontiguousarray(bgr[:, :, ::-1]), boxes=boxes, color="rgb")
    assert by_path.keypoints.shape == (2, 17, 2) and by_path.scores.shape == (2, 17) and by_path.heatmaps.shape == (2, 17, 16, 16)
    assert by_path.image_size == (bgr.shape[1], bgr.shape[0]) and by_bgr.heatmaps is None
    for other in (by_bgr, by_rgb):
        np.testing.assert_array_equal(other.keypoints, by_path.keypoints)
    # a list is batched across images and gives what one call per image gives
    many = est([bgr, path], boxes=[boxes, boxes[:1]])
    np.testing.assert_allclose(many[0].keypoints, by_path.keypoints, atol=1e-4)
    np.testing.assert_allclose(many[1].keypoints, by_path.keypoints[:1], atol=1e-4)
    # no boxes: the whole image; a Detector supplies boxes when given
    whole = est(bgr)
    assert len(whole) == 1 and whole.boxes.tolist() == [[0, 0, bgr.shape[1], bgr.shape[0]]]

    class Fixed:
        def __call__(self, image):
            return boxes, np.array([0.9, 0.4], np.float32)

    assert isinstance(Fixed(), Detector)
    det = est(bgr, detector=Fixed())
    np.testing.assert_array_equal(det.keypoints, by_bgr.keypoints)
    assert det.box_scores.tolist() == pytest.approx([0.9, 0.4])
    assert est(bgr, boxes=np.zeros((0, 4))).keypoints.shape == (0, 17, 2)


def test_bad_inputs_are_clear(model_file, tmp_path):
    est = PoseEstimator.from_file(model_file)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) colour or \(H, W\) grey uint8 array, got float64 array of shape \(10, 10, 3\)"):
        est(np.zeros((10, 10, 3)))
    with pytest.raises(ValueError, match=r"boxes must be \(P, 4\)"):
        est(np.zeros((10, 10, 3), np.uint8), boxes=[[1, 2, 3]])
    with pytest.raises(ValueError, match="positive width and height"):
        est(np.zeros((10, 10, 3), np.uint8), boxes=[[1, 2, 0, 3]])
    with pytest.raises(OSError, match="missing.jpg: image file not found"):
        est(tmp_path / "missing.jpg")


def test_two_networks_and_precision(tmp_path):
    path = make_model_file(tmp_path / "dual.pt", num_nets=2)
    img = np.random.default_rng(0).integers(0, 255, (120, 90, 3), dtype=np.uint8)
    hm = {n: PoseEstimator.from_file(path, net=n)(img, return_heatmaps=True).heatmaps for n in (1, 2, "ensemble")}
    assert not np.allclose(hm[1], hm[2])
    np.testing.assert_allclose(hm["ensemble"], (hm[1] + hm[2]) / 2, atol=1e-5)
    assert PoseEstimator.from_file(path).card.use == "ensemble"
    bf = PoseEstimator.from_file(path, precision="bf16")(img, return_heatmaps=True)
    assert bf.heatmaps.dtype == np.float32 and np.abs(bf.heatmaps - hm["ensemble"]).max() < 0.1 * np.abs(hm["ensemble"]).max() + 1e-3
    with torch.no_grad():
        assert PoseEstimator.from_file(path, precision="auto").precision in ("bf16", "fp32")
