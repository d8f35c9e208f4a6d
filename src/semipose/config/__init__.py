"""Typed experiment configuration: dataclasses, YAML files, dotted command-line overrides.

A config file is YAML whose keys mirror the dataclasses below. Unknown keys and values of the
wrong type are errors naming the dotted key (``train.lr: expected float, got 'fast'``).
A file may start from another with ``_base_: other.yaml`` (relative to the file); the
file's own keys are merged over the base recursively.

Overrides on the command line use dotted keys with YAML-typed values::

    semipose train configs/synthetic_res10_128x96.yaml train.epochs=5 data.workers=0 \\
        model.arch=resnet50 data.input_size=[192,256]

Relative data paths are resolved against ``data.root``; a relative ``data.root`` is resolved
against the current working directory.
"""

from __future__ import annotations

from .loader import apply_overrides, config_from_dict, config_to_dict, dump_config, load_config
from .schema import Config, DataConfig, EvalConfig, ModelConfig, SplitConfig, SSLConfig, TrainConfig

__all__ = [
    "SplitConfig",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "EvalConfig",
    "SSLConfig",
    "Config",
    "load_config",
    "apply_overrides",
    "config_to_dict",
    "config_from_dict",
    "dump_config",
]
