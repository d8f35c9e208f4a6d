"""Bad input to the command line: one line naming the problem, exit 2, no traceback, no run
folder left behind."""

from __future__ import annotations

import json

import pytest
import torch

from semipose.cli import main


def _cfg(tmp_path, sample_data, extra: str = "") -> str:
    coco = sample_data / "coco"
    path = tmp_path / "c.yaml"
    path.write_text(
        f"name: bad\noutput_dir: {tmp_path / 'runs'}\n"
        f"data: {{train: {{ann_file: {coco / 'person_keypoints_sample.json'}, image_dir: {coco / 'images'}}}, "
        f"val: {{ann_file: {coco / 'person_keypoints_sample.json'}, image_dir: {coco / 'images'}}}, input_size: [64, 64], workers: 0}}\n"
        f"model: {{arch: resnet18, deconv_filters: [16, 16, 16]}}\ntrain: {{epochs: 1, batch_size: 2}}\n{extra}"
    )
    return str(path)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["model.arch=resnet19"], "model.arch: expected one of resnet10, resnet18, resnet34"),
        (["device=tpu9"], "device: 'tpu9' is not a device name"),
        (["data.max_train_instances=-5"], "data.max_train_instances: must be ≥ 0 (0 = all / none), got -5"),
        (["train.lr=.inf"], "train.lr: must be a positive finite number, got inf"),
        (["train.batch_size=64"], "training set has 12 labelled instances, fewer than one batch of 64"),
    ],
)
def test_training_input(tmp_path, capsys, sample_data, overrides, message):
    assert main(["train", _cfg(tmp_path, sample_data), *overrides, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "runs" / "bad").exists()  # a failed start leaves no folder behind


def test_config_files(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("_base_: [x.yaml, y.yaml]\n")
    (tmp_path / "b.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary")
    for name, message in (("a.yaml", "_base_ must be one file name"), ("b.yaml", "not a text file, so not a YAML config")):
        assert main(["train", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert f"{name}: {message}" in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--train", "-3"], "data synth: num_train must be >= 0, got -3"),
        (["--image-size", "10x10"], "data synth: image_size must be at least 64x64 pixels, got 10x10"),
    ],
)
def test_synth_arguments(tmp_path, capsys, args, message):
    assert main(["data", "synth", str(tmp_path / "s"), *args, "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_disk_full_leaves_no_partial_file(tmp_path, monkeypatch):
    from semipose.engine.checkpoint import save_checkpoint
    from semipose.errors import CheckpointError

    save_checkpoint(tmp_path / "last.pt", {"a": torch.ones(2)})

    def full(obj, f, *a, **k):
        open(f, "wb").write(b"x" * 100)  # a partial write, then the failure torch reports on a full disk
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)
    msg = r"last.pt: cannot write the checkpoint \(.*unexpected pos.*\); is the disk full .*previous last.pt is intact"
    with pytest.raises(CheckpointError, match=msg):
        save_checkpoint(tmp_path / "last.pt", {"a": torch.zeros(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    monkeypatch.undo()
    assert torch.equal(torch.load(tmp_path / "last.pt", weights_only=True)["a"], torch.ones(2))


def test_divergence_is_named():
    from semipose.engine.trainer import _diverging

    assert _diverging(5e-3, []) == "" and _diverging(5e-3, [4e-3, 6e-3]) == ""
    msg = _diverging(6e27, [5e-3, 4e-3, 4.5e-3])
    assert "training loss 6.000e+27 is" in msg and "median of the earlier epochs (4.500e-03)" in msg


def test_missing_validation_images_are_found_before_loading(tmp_path, capsys, sample_data):
    cfg = _cfg(tmp_path, sample_data)
    assert main(["train", cfg, f"data.val.image_dir={tmp_path / 'nowhere'}", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "data.val" in err and "4 of 4 images are unusable" in err and "nowhere/" in err and "image file not found" in err
    assert "Traceback" not in err and not (tmp_path / "runs" / "bad").exists()


def test_output_folder_that_cannot_be_made(tmp_path, capsys, sample_data):
    (tmp_path / "runs").write_text("a file where the output folder should be")
    assert main(["train", _cfg(tmp_path, sample_data), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot create the run folder" in err and "Traceback" not in err, err


def test_resume_with_another_number_of_networks(tmp_path, capsys, sample_data):
    cfg = _cfg(tmp_path, sample_data, "eval: {batch_size: 4}\n")
    assert main(["train", cfg, "train.max_iters_per_epoch=1", "--no-progress"]) == 0
    capsys.readouterr()
    run = tmp_path / "runs" / "bad"
    assert main(["train", cfg, "train.max_iters_per_epoch=1", "ssl.method=posedual", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot change on resume" in err and "ssl.method ('supervised' → 'posedual')" in err and "Traceback" not in err, err


def test_non_finite_loss_is_one_line(tmp_path, capsys, sample_data):
    assert main(["train", _cfg(tmp_path, sample_data), "train.lr=1e30", "train.max_iters_per_epoch=2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: loss is" in err and "no checkpoint was written yet" in err and "Traceback" not in err, err


def test_first_epoch_explosion_warns_and_writes_no_best(tmp_path, capsys, sample_data, monkeypatch):
    """A loss that explodes in the first epoch (no earlier epoch to compare with) is compared
    with the run's first steps: a warning, and best.pt is not written from that epoch."""
    import semipose.ssl.methods as methods
    from semipose.engine.trainer import _diverging

    assert _diverging(7.8e26, [], 4e-3).startswith("training loss 7.800e+26 is") and _diverging(5e-3, [], 4e-3) == ""
    real, calls = methods.joints_mse_loss, [0]

    def exploding(pred, target, weight):  # a finite loss 1e20 from the second step on; the gradients stay the real ones
        calls[0] += 1
        return real(pred, target, weight) + (1e20 if calls[0] > 1 else 0.0)

    monkeypatch.setattr(methods, "joints_mse_loss", exploding)
    assert main(["train", _cfg(tmp_path, sample_data), "train.max_iters_per_epoch=6", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "the loss of the first step, before any update" in err and "diverging?" in err and "best.pt is not updated" in err, err
    ckpts = tmp_path / "runs" / "bad" / "checkpoints"
    assert (ckpts / "last.pt").is_file() and not (ckpts / "best.pt").exists()


def test_an_exploding_learning_rate_in_the_first_epoch(tmp_path, capsys, sample_data):
    """train.lr=1e6: the first steps already explode (a baseline of their median hid it); the
    first step's loss, before any update, does not."""
    code = main(["train", _cfg(tmp_path, sample_data), "train.lr=1e6", "train.max_iters_per_epoch=6", "--no-progress"])
    err = capsys.readouterr().err
    ckpts = tmp_path / "runs" / "bad" / "checkpoints"
    assert code == 0 and "the loss of the first step, before any update" in err and "diverging?" in err, err
    assert (ckpts / "last.pt").is_file() and not (ckpts / "best.pt").exists()


def test_hints_a_command_line_user_can_follow(tmp_path, capsys, sample_data):
    from semipose.models import build_pose_model

    # an ImageNet backbone file given as model.init_weights: use model.pretrained
    net = build_pose_model("resnet18", 17)
    backbone = {k: v for k, v in net.state_dict().items() if not k.startswith(("deconv_layers", "final_layer"))}
    backbone["fc.weight"], backbone["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(backbone, tmp_path / "resnet18-5c106cde.pth")
    assert main(["train", _cfg(tmp_path, sample_data), f"model.init_weights={tmp_path / 'resnet18-5c106cde.pth'}", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "an ImageNet backbone file (torchvision_resnet)" in err and "give it as model.pretrained" in err and "Traceback" not in err

    # a pose network of another shape: no "strict=False" advice a command-line user cannot follow
    other = build_pose_model("resnet18", 14)
    torch.save(other.state_dict(), tmp_path / "other.pth")
    assert main(["train", _cfg(tmp_path, sample_data), f"model.init_weights={tmp_path / 'other.pth'}", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "check model.arch and the keypoint set" in err and "Pass strict=False" not in err

    # data synth over an existing set names the flag, not the Python argument
    assert main(["data", "synth", str(tmp_path / "s"), "--train", "2", "--unlabeled", "0", "--val", "1", "--workers", "0", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["data", "synth", str(tmp_path / "s"), "--train", "2", "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "give --overwrite" in err and "overwrite=True" not in err


def test_data_check_and_eval_results_check_values(tmp_path, capsys, sample_data):
    coco = json.loads((sample_data / "coco/person_keypoints_sample.json").read_text())
    coco["images"][0]["file_name"] = 785
    (tmp_path / "bad.json").write_text(json.dumps(coco))
    (tmp_path / "c.yaml").write_text("model: {arch: resnet18}\n")
    assert main(["data", "check", str(tmp_path / "c.yaml"), f"data.train.ann_file={tmp_path / 'bad.json'}",
                 f"data.train.image_dir={sample_data / 'coco/images'}"]) == 2
    cap = capsys.readouterr()
    assert "bad.json: image " in cap.err + cap.out and "'file_name' must be a string" in cap.err + cap.out
    assert "Traceback" not in cap.err + cap.out

    gt = sample_data / "coco/person_keypoints_sample.json"
    image_id = json.loads(gt.read_text())["annotations"][0]["image_id"]
    good = {"image_id": image_id, "category_id": 1, "keypoints": [10.0, 20.0, 0.9] * 17, "score": 0.8}
    cases = [
        ({**good, "score": "high"}, "result 0 (image %d): 'score' must be a finite number, got 'high'"),
        ({**good, "keypoints": [1.0] * 48}, "result 0 (image %d): 'keypoints' has 48 numbers, expected 3 × 17 = 51"),
        ({**good, "keypoints": [float("nan")] + [1.0] * 50}, "result 0 (image %d): 'keypoints' holds NaN or infinite values"),
    ]
    for i, (result, message) in enumerate(cases):
        (tmp_path / f"r{i}.json").write_text(json.dumps([result]))
        assert main(["eval", "--results", str(tmp_path / f"r{i}.json"), "--gt", str(gt)]) == 2
        err = capsys.readouterr().err
        assert f"r{i}.json: {message % image_id}" in err and "Traceback" not in err, err


def test_model_pretrained_offline_and_of_the_wrong_kind(tmp_path, capsys, sample_data, monkeypatch):
    """Offline, `model.pretrained: imagenet` (what `data import` writes) names the way out; a
    file that is neither a backbone nor a pose model is called so, not 'a reference file (plain)'."""
    import torch

    from semipose import hub

    monkeypatch.setenv("SEMIPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hub, "TIMEOUT_S", 1.0)
    monkeypatch.setitem(hub.KNOWN_MODELS, "imagenet-resnet18",
                        hub.KnownModel("imagenet-resnet18", "http://127.0.0.1:9/resnet18-5c106cde.pth", "test", "test"))
    monkeypatch.setitem(hub.IMAGENET_BACKBONES, "resnet18", "imagenet-resnet18")
    assert main(["train", _cfg(tmp_path, sample_data), "model.pretrained=imagenet", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "model.pretrained=null" in err and "semipose models fetch imagenet-resnet18" in err, err
    torch.save({"encoder.weight": torch.zeros(3, 3), "decoder.bias": torch.zeros(3)}, tmp_path / "other.pth")
    assert main(["train", _cfg(tmp_path, sample_data), f"model.pretrained={tmp_path / 'other.pth'}", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "is neither an ImageNet backbone nor a pose model" in err and "(plain)" not in err, err


def test_a_bare_reference_file_takes_the_configs_keypoint_set(tmp_path, capsys, sample_data):
    """A bare 17-joint pose_resnet state dict evaluated with a config naming posetrack17 is scored
    as posetrack17 (the config's set wins when the count matches, and the log says so), not guessed
    as coco17 and refused."""
    import json

    import torch

    from semipose.models import build_pose_model
    from semipose.skeletons import get_skeleton

    coco = sample_data / "coco"
    doc = json.loads((coco / "person_keypoints_sample.json").read_text())
    doc["categories"][0]["keypoints"] = list(get_skeleton("posetrack17").keypoints)
    (tmp_path / "pt.json").write_text(json.dumps(doc))
    torch.save(build_pose_model("resnet18", 17, deconv_filters=(16, 16, 16)).state_dict(), tmp_path / "bare17.pth")
    cfg = _cfg(tmp_path, sample_data)
    text = open(cfg).read().replace(str(coco / "person_keypoints_sample.json"), str(tmp_path / "pt.json"))
    open(cfg, "w").write(text)
    overrides = ["data.skeleton=posetrack17", "model.deconv_filters=[16,16,16]"]
    assert main(["eval", cfg, *overrides, "--checkpoint", str(tmp_path / "bare17.pth"), "--out", str(tmp_path / "e"), "--no-progress"]) == 0
    assert "scored as posetrack17, the keypoint set of" in capsys.readouterr().err
    # the set named by the annotation file alone counts too; a --keypoints that contradicts the data is refused, naming --keypoints
    assert main(["eval", cfg, "model.deconv_filters=[16,16,16]", "--checkpoint", str(tmp_path / "bare17.pth"), "--out", str(tmp_path / "e2"),
                 "--no-progress"]) == 0
    assert main(["eval", cfg, "model.deconv_filters=[16,16,16]", "--checkpoint", str(tmp_path / "bare17.pth"), "--keypoints", "coco17",
                 "--out", str(tmp_path / "e3"), "--no-progress"]) == 2
    assert "give --keypoints NAME" in capsys.readouterr().err
