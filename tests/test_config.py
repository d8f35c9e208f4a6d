"""Typed configs: the shipped YAML files, overrides, inheritance and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from semipose.config import Config, dump_config, load_config
from semipose.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.rglob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(CONFIG_DIR)))
def test_shipped_configs_load(path):
    """Every shipped experiment parses, validates, names a known network and method, and
    (except the shared ``_base`` files and the synthetic set) is named after its file."""
    from semipose.models import POSE_MODELS

    cfg = load_config(path)
    assert isinstance(cfg, Config)
    assert cfg.model.arch in POSE_MODELS
    if not path.name.startswith("_") and path.parent.name != "synthetic":
        assert cfg.name == path.stem


def test_seed_experiments_have_configs():
    """The experiments of both seed READMEs (spec §8) each have a config."""
    names = {p.stem for p in CONFIGS}
    for n in ("1k", "5k", "10k"):
        for method in ("posecons", "posedual"):
            for aug in ("affine", "jointcutout", "randaug"):
                assert f"coco{n}_{method}_{aug}_res18_256x192" in names
    for name in (
        "coco1k_multiaugs_posecons_res18_256x192", "coco1k_multiaugs_posedual_res18_256x192",
        "coco1k_ablation_jo_co_res18_256x192", "coco1k_ablation_jo_co_cm_res18_256x192",
        "coco1k_ablation_joco_repeat2_res18_256x192", "cocowild_posedual_jointcutout_res50_256x192",
        "cocowild_multiaugs_posecons_res101_256x192", "cocowild_multiaugs_posedual_hrnet_w48_384x288",
    ):
        assert name in names
    ma = load_config(CONFIG_DIR / "coco" / "coco1k_multiaugs_posecons_res18_256x192.yaml")
    assert ma.ssl.paths == ["JOCO", "JCCM", "JC", "JO"] and ma.data.max_train_instances == 1000
    rep = load_config(CONFIG_DIR / "coco" / "coco1k_ablation_joco_repeat2_res18_256x192.yaml")
    assert rep.ssl.paths == ["JOCO"] and rep.ssl.repeat == 2


def test_overrides_are_typed(tmp_path):
    cfg = load_config(CONFIGS[0], ["train.lr=1e-4", "data.input_size=[192,256]", "model.pretrained=null", "eval.flip_test=true"])
    assert cfg.train.lr == 1e-4 and cfg.data.input_size == [192, 256] and cfg.heatmap_size == (48, 64)
    assert cfg.model.pretrained is None and cfg.eval.flip_test is True
    out = tmp_path / "resolved.yaml"
    dump_config(cfg, out)
    assert load_config(out) == cfg


def test_base_inheritance(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\ntrain: {epochs: 3, lr: 0.01}\n")
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\nname: child\ntrain: {epochs: 5}\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert (cfg.name, cfg.train.epochs, cfg.train.lr) == ("child", 5, 0.01)


def test_view_pairs():
    cfg = load_config(CONFIGS[0], ["ssl.method=posecons", "ssl.paths=[CO]", "ssl.repeat=1", "ssl.teacher_view=hard", "ssl.student_view=easy"])
    assert (cfg.ssl.teacher_view, cfg.ssl.student_view) == ("hard", "easy")
    with pytest.raises(ConfigError, match="ssl.teacher_view: hard needs exactly one path"):
        load_config(CONFIGS[0], ["ssl.method=posecons", "ssl.paths=[CO, JC]", "ssl.teacher_view=hard"])
    with pytest.raises(ConfigError, match="ssl.student_view: expected one of easy, hard"):
        load_config(CONFIGS[0], ["ssl.student_view=both"])


def test_ema_teacher_needs_a_consistency_method():
    with pytest.raises(ConfigError, match="ssl.teacher: ema needs a consistency method"):
        load_config(CONFIGS[0], ["ssl.method=supervised", "ssl.teacher=ema"])
    cfg = load_config(CONFIGS[0], ["ssl.method=posecons", "ssl.teacher=ema", "ssl.select=ema", "ssl.ema_decay=0.99"])
    assert (cfg.ssl.teacher, cfg.ssl.select, cfg.ssl.ema_decay, cfg.ssl.ema_warmup) == ("ema", "ema", 0.99, True)
    with pytest.raises(ConfigError, match=r"ssl.ema_decay: must be in \[0, 1\)"):
        load_config(CONFIGS[0], ["ssl.method=posecons", "ssl.teacher=ema", "ssl.ema_decay=1"])


@pytest.mark.parametrize(
    "override,message",
    [
        ("train.lrr=1", "unknown config key 'train.lrr'"),
        ("bogus=1", "unknown config key 'bogus'"),
        ("train.lr=fast", "train.lr: expected a number"),
        ("train.epochs=2.5", "train.epochs: expected an integer"),
        ("data.input_size=[1]", "data.input_size: expected [width, height]"),
        ("data.color=grey", "data.color: expected one of rgb, bgr"),
        ("train.lr_steps=[5,2]", "train.lr_steps: must be increasing"),
        ("data.image_cache_mb=-1", "data.image_cache_mb: must be ≥ 0 MiB"),
        ("data.image_cache_mb=lots", "data.image_cache_mb: expected a number"),
        ("ssl.teacher=mean", "ssl.teacher: expected one of online, ema"),
        ("ssl.select=ema", "ssl.select: ema needs ssl.teacher: ema"),
        ("train", "expected key=value"),
    ],
)
def test_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(CONFIGS[0], [override])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "unknown.yaml").write_text("model: {arch: resnet18, depth: 3}\n")
    with pytest.raises(ConfigError, match="unknown.yaml: unknown config key 'model.depth'"):
        load_config(tmp_path / "unknown.yaml")
