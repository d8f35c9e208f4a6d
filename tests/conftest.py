"""Shared fixtures: the real sample data and a small generated synthetic dataset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def sample_data_dir() -> Path | None:
    """``$SEMIPOSE_SAMPLE_DATA`` or ``<repo>/../shared/data``; None when absent."""
    env = os.environ.get("SEMIPOSE_SAMPLE_DATA")
    p = Path(env) if env else REPO.parent / "shared" / "data"
    return p if p.is_dir() else None


@pytest.fixture(scope="session")
def sample_data() -> Path:
    p = sample_data_dir()
    if p is None:
        pytest.skip("real sample data not found (set SEMIPOSE_SAMPLE_DATA to the shared/data folder)")
    return p


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic COCO-format dataset (generated once per test session)."""
    from semipose.synth import generate_synthetic

    out = tmp_path_factory.mktemp("synth")
    generate_synthetic(out, num_train=48, num_unlabeled=8, num_val=16, image_size=(256, 192), seed=1, workers=0, progress=False)
    return out


def make_model_file(path: Path, *, arch: str = "resnet18", skeleton: str = "coco17", input_size=(64, 64), num_nets: int = 1,
                    seed: int = 0, gain: float = 1.0, **card_fields) -> Path:
    """A semipose model file with random weights whose heatmaps have standard deviation
    ``gain`` on random input (the head's weights rescaled), so that decoding and comparisons
    are not done on near-zero maps."""
    import torch

    from semipose.models.modelfile import ModelCard, model_file_payload
    from semipose.skeletons import get_skeleton

    args = {} if arch.startswith("hrnet") else {
        "num_deconv_layers": 3, "deconv_filters": [32, 32, 32], "deconv_kernels": [4, 4, 4], "final_kernel": 1,
    }
    card = ModelCard(arch=arch, skeleton=get_skeleton(skeleton).to_dict(), arch_args=args, num_nets=num_nets,
                     use="ensemble" if num_nets > 1 else "net1", input_size=tuple(input_size), **card_fields)
    nets = []
    for i in range(num_nets):
        torch.manual_seed(seed + i)
        net = card.build_net().eval()
        with torch.no_grad():
            probe = net(torch.randn(2, 3, input_size[1], input_size[0]))
            net.final_layer.weight.mul_(gain / float(probe.std()))
        nets.append(net)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model_file_payload(card, nets), path)
    return path


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-network ResNet-18 (32-filter head) COCO-17 model file at 64x64."""
    return make_model_file(tmp_path_factory.mktemp("model") / "model.pt")


def crops(records, aspect: float = 0.75, padding: float = 1.25) -> dict:
    """``centers`` / ``scales`` of the records' crops (the reference's 3:4 crop, ×1.25), as
    keyword arguments of :func:`semipose.evaluation.coco.build_coco_results`."""
    from semipose.geometry import box_to_center_scale

    boxes = np.stack([r.bbox for r in records]) if len(records) else np.zeros((0, 4), np.float32)
    centers, scales = box_to_center_scale(boxes, aspect, padding)
    return {"centers": centers, "scales": scales}
