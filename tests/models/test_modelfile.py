"""Model files and cards; reference checkpoints described by flags instead of a YAML."""

from __future__ import annotations

import json

import pytest
import torch

from semipose.cli import main
from semipose.errors import CheckpointError
from semipose.models import build_pose_model
from semipose.models.modelfile import ModelCard, infer_architecture, model_file_payload, read_model_file
from semipose.skeletons import COCO17


def _ref_state(arch: str, k: int, seed: int = 0, **head) -> dict:
    torch.manual_seed(seed)
    return build_pose_model(arch, k, **head).state_dict()


def test_card_round_trip_and_validation(tmp_path):
    card = ModelCard(arch="resnet18", skeleton=COCO17.to_dict(), input_size=(96, 128), num_nets=2, use="ensemble", color="bgr")
    d = card.to_dict()
    assert d["heatmap_size"] == [24, 32] and d["stride"] == 4 and d["num_keypoints"] == 17
    assert ModelCard.from_dict(json.loads(json.dumps(d))) == card
    with pytest.raises(CheckpointError, match="f.pt: .*use 'net3' is not one of net1, net2, ensemble"):
        ModelCard.from_dict({**d, "use": "net3"}, "f.pt")
    with pytest.raises(CheckpointError, match="arch 'vgg' is not one of"):
        ModelCard.from_dict({**d, "arch": "vgg"})
    with pytest.raises(ValueError, match="the card describes 2 network"):
        model_file_payload(card, [card.build_net()])


@pytest.mark.parametrize(
    "arch,head,expect",
    [
        ("resnet18", {"deconv_filters": (32, 32, 32)}, {"deconv_filters": [32, 32, 32], "deconv_kernels": [4, 4, 4], "num_deconv_layers": 3}),
        ("resnet50", {}, {"deconv_filters": [256, 256, 256], "num_deconv_layers": 3, "final_kernel": 1}),
        ("resnet34", {"num_deconv_layers": 2, "deconv_filters": (64, 64), "deconv_kernels": (3, 3), "final_kernel": 3},
         {"num_deconv_layers": 2, "deconv_kernels": [3, 3], "final_kernel": 3}),
        ("hrnet_w32", {}, {"final_kernel": 1}),
    ],
)
def test_architecture_is_inferred_from_the_tensors(arch, head, expect):
    found, args, channels = infer_architecture(_ref_state(arch, 17, **head))
    assert found == arch and channels == 17
    assert {k: args[k] for k in expect} == expect
    net = build_pose_model(found, channels, **args)  # the inferred arguments rebuild the same shapes
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == {k: tuple(v.shape) for k, v in _ref_state(arch, 17, **head).items()}


def test_reference_layouts_load_with_flags_only(tmp_path):
    sd1, sd2 = _ref_state("resnet18", 17, 1, deconv_filters=(32, 32, 32)), _ref_state("resnet18", 17, 2, deconv_filters=(32, 32, 32))
    files = {
        "pose_resnet": {"state_dict": {"module." + k: v for k, v in sd1.items()}},
        "pose_cons": {"resnet." + k: v for k, v in sd1.items()},
        "pose_dual": {**{"resnet." + k.replace("final_layer.", "final_layer_1."): v for k, v in sd1.items()},
                      **{"resnet2." + k.replace("final_layer.", "final_layer_1."): v for k, v in sd2.items()}},
        "pose_hrnet": _ref_state("hrnet_w32", 24),
    }
    for layout, content in files.items():
        torch.save(content, tmp_path / f"{layout}.pth")
        mf = read_model_file(tmp_path / f"{layout}.pth", color="bgr")
        assert (mf.kind, mf.layout) == ("reference", layout) and mf.card.color == "bgr" and mf.card.method == "reference"
        nets = mf.build_nets()
        assert len(nets) == (2 if layout == "pose_dual" else 1)
    dual = read_model_file(tmp_path / "pose_dual.pth")
    assert dual.card.use == "ensemble" and all(torch.equal(dual.states[1][k], sd2[k]) for k in sd2)
    hr = read_model_file(tmp_path / "pose_hrnet.pth")
    assert hr.card.arch == "hrnet_w32" and hr.card.skeleton["name"] == "union24"

    # wrong flags give the fitting value, not "strict=False"
    with pytest.raises(CheckpointError, match="has 24 output channels but --keypoints coco17 has 17: try --keypoints union24"):
        read_model_file(tmp_path / "pose_hrnet.pth", keypoints="coco17")
    with pytest.raises(CheckpointError, match="has 17 output channels but --keypoints union24 has 24: try --keypoints coco17"):
        read_model_file(tmp_path / "pose_resnet.pth", keypoints="union24")
    with pytest.raises(CheckpointError, match="are a resnet18 .* not --arch resnet50: try --arch resnet18"):
        read_model_file(tmp_path / "pose_resnet.pth", arch="resnet50")
    torch.save(_ref_state("resnet18", 21, deconv_filters=(16, 16, 16)), tmp_path / "k21.pth")
    with pytest.raises(CheckpointError, match="21 output channels and no built-in keypoint set has as many; give --keypoints a skeleton.json"):
        read_model_file(tmp_path / "k21.pth")
    torch.save({k: v for k, v in _ref_state("resnet18", 17).items() if not k.startswith(("deconv", "final"))}, tmp_path / "imagenet.pth")
    with pytest.raises(CheckpointError, match="an ImageNet backbone file .* give it as model.pretrained"):
        read_model_file(tmp_path / "imagenet.pth")


def test_semipose_model_files_refuse_contradicting_flags(model_file):
    assert read_model_file(model_file, arch="resnet18", color="rgb").card.arch == "resnet18"
    with pytest.raises(CheckpointError, match="contradict it: --arch resnet50 \\(the file is resnet18\\); --color bgr"):
        read_model_file(model_file, arch="resnet50", color="bgr")


def test_eval_of_a_reference_file_needs_no_yaml(tmp_path, capsys, sample_data):
    coco = sample_data / "coco"
    torch.save({"state_dict": _ref_state("resnet18", 17, deconv_filters=(32, 32, 32))}, tmp_path / "pose_resnet_18.pth")
    data = [f"data.val.ann_file={coco / 'person_keypoints_sample.json'}", f"data.val.image_dir={coco / 'images'}"]
    argv = ["eval", "--checkpoint", str(tmp_path / "pose_resnet_18.pth"), "--input-size", "64x64", "--color", "bgr", *data,
            "--out", str(tmp_path / "ev"), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| resnet18 |" in out and "12 instances" in out
    assert main([*argv[:-3], "--keypoints", "union24"]) == 2
    err = capsys.readouterr().err
    assert "the file has 17 output channels but --keypoints union24 has 24: try --keypoints coco17" in err and "Traceback" not in err
    # the same file without a validation set: one line saying what to give
    assert main(["eval", "--checkpoint", str(tmp_path / "pose_resnet_18.pth")]) == 2
    assert "data.val.ann_file=" in capsys.readouterr().err


def test_a_file_from_another_program_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.pt").write_text("not a checkpoint at all")
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save({"weights": [1, 2, 3], "name": "other"}, tmp_path / "other.pt")
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "photo.jpg"), np.full((40, 30, 3), 128, np.uint8))
    for name, msg in (("notes.pt", "not a PyTorch checkpoint"), ("empty.pt", "empty file"), ("other.pt", "not a state_dict")):
        assert main(["predict", str(tmp_path / name), str(tmp_path / "photo.jpg"), "--out", str(tmp_path / "p")]) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / name}" in err and msg in err and "Traceback" not in err, err


def test_card_from_plain_config_data_and_a_semipose_01_checkpoint(tmp_path):
    """The card is made from plain config data (models read no Config): the same card as the
    engine's, and a semipose 0.1 training checkpoint (config + skeleton inside) still reads."""
    from semipose.config import config_to_dict, load_config

    cfg = load_config(None, ["model.arch=resnet18", "model.deconv_filters=[16,16,16]", "data.input_size=[64,96]", "ssl.method=posedual",
                             "eval.flip_test=true"])
    card = ModelCard.from_config_dict(config_to_dict(cfg), COCO17, source={"run": "x"})
    assert (card.arch, card.num_nets, card.use, card.input_size, card.heatmap_size, card.flip_test) == (
        "resnet18", 2, "ensemble", (64, 96), cfg.heatmap_size, True)
    assert card.arch_args["deconv_filters"] == [16, 16, 16] and card.config == config_to_dict(cfg)
    net = build_pose_model("resnet18", 17, deconv_filters=(16, 16, 16))
    raw = {"format": "semipose", "config": {"model": {"arch": "resnet18", "deconv_filters": [16, 16, 16], "deconv_kernels": [4, 4, 4]},
                                            "data": {"input_size": [64, 96]}}, "skeleton": COCO17.to_dict(), "model": net.state_dict(), "epoch": 3}
    torch.save(raw, tmp_path / "old.pth")
    mf = read_model_file(tmp_path / "old.pth", trust=True)
    assert mf.card.arch == "resnet18" and mf.card.num_nets == 1 and mf.card.source["epoch"] == 3 and mf.card.decoder == "shift"
    torch.save({**raw, "config": {"data": {}}}, tmp_path / "bad.pth")
    with pytest.raises(Exception, match="semipose 0.1 checkpoint without a usable config or skeleton"):
        read_model_file(tmp_path / "bad.pth", trust=True)
