"""ONNX export: onnxruntime matches torch (heatmaps within 1e-4, keypoints within 0.01 px) for
ResNet and HRNet, one network and two (the ensemble), and runs through the same API."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_model_file
from semipose.cli import main
from semipose.predict import PoseEstimator

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.mark.slow
@pytest.mark.parametrize("arch,nets", [("resnet18", 1), ("resnet18", 2), ("hrnet_w32", 1), ("hrnet_w32", 2)])
def test_onnxruntime_matches_torch(tmp_path, capsys, arch, nets):
    pt = make_model_file(tmp_path / "m.pt", arch=arch, num_nets=nets)
    assert main(["export", str(pt), "-o", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime vs torch" in out and "m.onnx" in out
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    card = json.loads(meta["semipose_card"])
    assert card["arch"] == arch and card["input_size"] == [64, 64] and card["source"]["exported_network"] == ("ensemble" if nets == 2 else "net1")

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (150, 120, 3), dtype=np.uint8) for _ in range(3)]
    boxes = [np.array([[5, 5, 100, 130], [20, 30, 60, 90]], np.float32)] * 3  # 6 persons: a dynamic batch
    ref = PoseEstimator.from_file(pt, flip_test=True, batch_size=4)(images, boxes=boxes, return_heatmaps=True)
    got = PoseEstimator.from_file(tmp_path / "m.onnx", flip_test=True, batch_size=4)(images, boxes=boxes, return_heatmaps=True)
    for r, g in zip(ref, got):
        assert np.abs(r.heatmaps).max() > 0.1
        np.testing.assert_allclose(g.heatmaps, r.heatmaps, atol=1e-4)
        np.testing.assert_allclose(g.keypoints, r.keypoints, atol=0.01)
    if nets == 2 and arch == "resnet18":
        # one chosen network of a dual model
        assert main(["export", str(pt), "--net", "2", "-o", str(tmp_path / "n2.onnx"), "--no-check"]) == 0
        capsys.readouterr()
        one = PoseEstimator.from_file(pt, net=2)(images[0], boxes=boxes[0], return_heatmaps=True)
        onnx2 = PoseEstimator.from_file(tmp_path / "n2.onnx", net=2)(images[0], boxes=boxes[0], return_heatmaps=True)
        np.testing.assert_allclose(onnx2.heatmaps, one.heatmaps, atol=1e-4)
        with pytest.raises(Exception, match="exported with network 'net2'"):
            PoseEstimator.from_file(tmp_path / "n2.onnx", net=1)
