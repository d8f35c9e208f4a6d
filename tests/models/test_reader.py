"""The one reader: every kind of file gives its card (where it has one) and weights, each file is
read once — by predict's estimator, by ``model.init_weights`` and by ``model.pretrained``."""

from __future__ import annotations

import pytest
import torch

from conftest import make_model_file
from semipose.config import load_config
from semipose.engine.build import build_ssl_model
from semipose.errors import CheckpointError, ConfigError
from semipose.models import build_pose_model
from semipose.models import io as models_io
from semipose.models.netweights import load_nets_weights
from semipose.models.reader import read_weights
from semipose.predict import PoseEstimator


@pytest.fixture
def reads(monkeypatch):
    """Counts the checkpoint files read (every read goes through models.io.load_checkpoint_file)."""
    seen: list[str] = []
    real = models_io.load_checkpoint_file

    def counting(path, **kw):
        seen.append(str(path))
        return real(path, **kw)

    import semipose.models.reader as reader

    monkeypatch.setattr(reader, "load_checkpoint_file", counting)
    return seen


def _imagenet(tmp_path):
    net = build_pose_model("resnet18", 17)
    path = tmp_path / "resnet18-5c106cde.pth"
    torch.save({k: v for k, v in net.state_dict().items() if not k.startswith(("deconv", "final"))}, path)
    return path


def test_every_kind(tmp_path):
    pt = make_model_file(tmp_path / "m.pt", num_nets=2)
    wf = read_weights(pt)
    assert (wf.kind, wf.layout, len(wf.states), wf.card.num_nets) == ("model", "model", 2, 2)
    ref = tmp_path / "pose_resnet.pth"
    torch.save(wf.states[0], ref)
    wr = read_weights(ref)
    assert (wr.kind, wr.layout, len(wr.states), wr.card) == ("reference", "pose_resnet", 1, None)
    wi = read_weights(_imagenet(tmp_path))
    assert (wi.kind, wi.layout, wi.card) == ("imagenet", "torchvision_resnet", None) and "layer1.0.conv1.weight" in wi.states[0]
    with pytest.raises(CheckpointError, match="ImageNet backbone file .*give it as model.pretrained"):
        load_nets_weights([build_pose_model("resnet18", 17)], wi)


def test_onnx_card_from_the_one_reader(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from semipose.cli import main

    pt = make_model_file(tmp_path / "m.pt")
    assert main(["export", str(pt), "-o", str(tmp_path / "m.onnx"), "--no-check"]) == 0
    capsys.readouterr()
    wf = read_weights(tmp_path / "m.onnx")
    assert (wf.kind, wf.states, wf.card.arch, wf.card.source["exported_network"]) == ("onnx", [], "resnet18", "net1")
    with pytest.raises(CheckpointError, match="starting or evaluating networks needs the .pt model file"):
        load_nets_weights([build_pose_model("resnet18", 17)], wf)
    est = PoseEstimator.from_file(tmp_path / "m.onnx")
    assert est.backend == "onnxruntime" and est.card.keypoint_set.keypoints == wf.card.keypoint_set.keypoints


def test_each_file_is_read_once(tmp_path, reads):
    pt = make_model_file(tmp_path / "m.pt")
    PoseEstimator.from_file(pt)
    assert reads == [str(pt)]
    reads.clear()
    imagenet = _imagenet(tmp_path)
    cfg = load_config("configs/synthetic/posedual.yaml",
                      ["model.deconv_filters=[32,32,32]", f"model.pretrained={imagenet}", f"model.init_weights={pt}"])
    build_ssl_model(cfg, 17)  # PoseDual: two networks from one backbone file, then both from one model file
    assert sorted(reads) == sorted([str(imagenet), str(pt)])
    bad = load_config("configs/synthetic_res10_128x96.yaml", [f"model.pretrained={pt}"])
    with pytest.raises(ConfigError, match=r"model.pretrained: .*m\.pt is a model file \(model\), not an ImageNet backbone"):
        build_ssl_model(bad, 17)


def test_init_weights_one_file_per_network(tmp_path, caplog):
    """PoseDual from one network's weights starts with two identical networks (a warning says
    so); a list of files gives each network its own."""
    a, b = make_model_file(tmp_path / "a.pt", seed=0), make_model_file(tmp_path / "b.pt", seed=5)
    base = ["model.deconv_filters=[32,32,32]"]
    with caplog.at_level("WARNING"):
        one = build_ssl_model(load_config("configs/synthetic/posedual.yaml", [*base, f"model.init_weights={a}"]), 17)
    assert "start identical" in caplog.text
    assert torch.equal(one.nets[0].final_layer.weight, one.nets[1].final_layer.weight)
    caplog.clear()
    with caplog.at_level("WARNING"):
        two = build_ssl_model(load_config("configs/synthetic/posedual.yaml", [*base, f"model.init_weights=[{a},{b}]"]), 17)
    assert "start identical" not in caplog.text
    assert torch.equal(two.nets[0].final_layer.weight, one.nets[0].final_layer.weight)
    assert not torch.equal(two.nets[0].final_layer.weight, two.nets[1].final_layer.weight)
    with pytest.raises(ConfigError, match="model.init_weights: a list gives one file per network; posedual has 2, got 3"):
        load_config("configs/synthetic/posedual.yaml", [*base, f"model.init_weights=[{a},{b},{a}]"])


def test_one_read_one_normalisation_one_record(tmp_path, reads, monkeypatch):
    """`read_model` is the one call: a reference file is read once and normalised once (its layout
    found from the normalised keys), an ImageNet backbone is loaded without normalising again, and
    every kind comes back as one record (ModelFile; WeightsFile is the same class)."""
    from semipose.models import loading
    from semipose.models.loading import load_imagenet_backbone
    from semipose.models.modelfile import ModelFile, read_model
    from semipose.models.reader import WeightsFile

    real, work = loading.normalize_state, []

    def counting(obj, where):
        if not isinstance(obj, loading.NormalState):
            work.append(where)
        return real(obj, where)

    monkeypatch.setattr(loading, "normalize_state", counting)
    net = build_pose_model("resnet18", 17, deconv_filters=(32, 32, 32))
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "ref.pth")
    mf = read_model(tmp_path / "ref.pth", keypoints="coco17")
    assert isinstance(mf, ModelFile) and WeightsFile is ModelFile
    assert (mf.kind, mf.layout, mf.card.arch, len(reads), len(work)) == ("reference", "pose_resnet", "resnet18", 1, 1)
    assert read_model(mf) is mf and len(reads) == 1  # a record already read is not read again
    wi = read_model(_imagenet(tmp_path), kinds=("imagenet",))
    assert (wi.kind, wi.card, len(work)) == ("imagenet", None, 2)
    load_imagenet_backbone(build_pose_model("resnet18", 17), wi.states[0])
    assert len(work) == 2
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match="cannot tell the checkpoint layout from its keys"):
        read_model(tmp_path / "plain.pth")
    assert len(work) == 3  # the keys that fit no layout: found once, not detected again for the message
