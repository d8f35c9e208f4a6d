"""No checkpoint read runs code from the file: a malicious pickle creates nothing on any load
path (library, API, CLI), and only the explicit trust opt-in gets past the refusal."""

from __future__ import annotations

import contextlib
import json
import pickle
from pathlib import Path

import pytest
import torch

from semipose.cli import main
from semipose.engine.checkpoint import load_training_state
from semipose.errors import CheckpointError, UnsafeCheckpointError
from semipose.models import build_pose_model, load_imagenet_backbone, load_pose_checkpoint, load_weights, read_checkpoint
from semipose.models.modelfile import read_model_file
from semipose.models.netweights import load_nets_weights
from semipose.predict import PoseEstimator


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    marker = tmp_path / f"pwned-{kind}"
    path = tmp_path / f"evil-{kind}.pth"
    net = build_pose_model("resnet18", 17, deconv_filters=(16, 16, 16))
    obj = {"state_dict": net.state_dict(), "extra": _Payload(marker)}
    if kind == "zip":
        torch.save(obj, path)
    elif kind == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps({"extra": _Payload(marker)}, protocol=2))  # a plain pickle, not torch.save
    assert not marker.exists()
    return path, marker


@pytest.fixture(params=["zip", "legacy", "pickle"])
def evil(request, tmp_path):
    return _malicious(tmp_path, request.param)


def test_the_payload_is_live_and_trust_is_the_only_way_past(evil):
    path, marker = evil
    with pytest.raises(UnsafeCheckpointError, match=rf"{path.name}: refused.*(io|builtins).open.*--trust-checkpoint"):
        read_checkpoint(path)
    assert not marker.exists()
    # a plain pickle is no torch file: the payload ran before that was found
    with pytest.warns(UserWarning, match="trusted"), contextlib.suppress(CheckpointError):
        read_checkpoint(path, trust=True)
    assert marker.exists()  # the test's payload really runs when unpickled without the safe loader


def test_library_and_api_paths_create_nothing(evil):
    path, marker = evil
    net = build_pose_model("resnet18", 17, deconv_filters=(16, 16, 16))
    calls = [
        lambda: read_checkpoint(path),
        lambda: load_weights(net, path),
        lambda: load_imagenet_backbone(net, path),
        lambda: load_pose_checkpoint(net, path),
        lambda: read_model_file(path),
        lambda: load_nets_weights([net], path),
        lambda: load_training_state(path),
        lambda: PoseEstimator.from_file(path),
    ]
    for call in calls:
        with pytest.raises(UnsafeCheckpointError, match=path.name):
            call()
    assert not marker.exists()


def _sample_config(tmp_path: Path, sample_data: Path, **model) -> Path:
    coco = sample_data / "coco"
    cfg = tmp_path / "c.yaml"
    extra = "".join(f", {k}: {v}" for k, v in model.items())
    cfg.write_text(
        f"name: x\noutput_dir: {tmp_path / 'runs'}\n"
        f"data: {{train: {{ann_file: {coco / 'person_keypoints_sample.json'}, image_dir: {coco / 'images'}}}, "
        f"val: {{ann_file: {coco / 'person_keypoints_sample.json'}, image_dir: {coco / 'images'}}}, input_size: [64, 64], workers: 0}}\n"
        f"model: {{arch: resnet18, deconv_filters: [16, 16, 16]{extra}}}\ntrain: {{epochs: 1, batch_size: 2}}\n"
    )
    return cfg


def test_cli_paths_create_nothing(tmp_path, capsys, sample_data):
    path, marker = _malicious(tmp_path, "zip")
    cfg = _sample_config(tmp_path, sample_data)
    image = next((sample_data / "coco/images").glob("*.jpg"))
    argvs = [
        ["eval", "--checkpoint", str(path)],
        ["eval", str(cfg), "--checkpoint", str(path)],
        ["predict", str(path), str(image), "--out", str(tmp_path / "p")],
        ["export", str(path), "-o", str(tmp_path / "e.onnx")],
        ["export", str(path), "--format", "pt", "-o", str(tmp_path / "e.pt")],
        ["train", str(cfg), "--resume", str(path), "--no-progress"],
        ["train", str(cfg), f"model.init_weights={path}", "--no-progress"],
        ["train", str(_sample_config(tmp_path, sample_data, pretrained=str(path))), "--no-progress"],
    ]
    for argv in argvs:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"{path}: refused" in err and "--trust-checkpoint" in err and "Traceback" not in err, (argv, err)
        assert sum("error:" in line for line in err.splitlines()) == 1, (argv, err)
    assert not marker.exists()
    assert not (tmp_path / "p" / "predictions.json").exists()


def test_reference_and_semipose_files_load_safely(tmp_path, model_file):
    """What semipose writes and the reference layouts load without any trust."""
    net = build_pose_model("resnet18", 17, deconv_filters=(32, 32, 32))
    torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}, "epoch": 3, "perf": 0.5}, tmp_path / "ref.pth")
    assert read_model_file(tmp_path / "ref.pth").layout == "pose_resnet"
    mf = read_model_file(model_file)
    assert mf.kind == "model" and json.dumps(mf.card.to_dict())  # the card is plain JSON data
