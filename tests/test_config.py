"""Typed configs: the shipped YAML files, overrides, inheritance and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from semipose.config import ConfigError, Config, dump_config, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config) and cfg.name == path.stem


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


@pytest.mark.parametrize(
    "override,message",
    [
        ("train.lrr=1", "unknown config key 'train.lrr'"),
        ("bogus=1", "unknown config key 'bogus'"),
        ("train.lr=fast", "train.lr: expected a number"),
        ("train.epochs=2.5", "train.epochs: expected an integer"),
        ("data.input_size=[1]", "data.input_size: expected [width, height]"),
        ("data.color=grey", "data.color: expected 'rgb' or 'bgr'"),
        ("train.lr_steps=[5,2]", "train.lr_steps: must be increasing"),
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
