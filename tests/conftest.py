"""Shared fixtures: the real sample data and a small generated synthetic dataset."""

from __future__ import annotations

import os
from pathlib import Path

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
    from semipose.data.synthetic import generate_synthetic

    out = tmp_path_factory.mktemp("synth")
    generate_synthetic(out, num_train=48, num_unlabeled=8, num_val=16, image_size=(256, 192), seed=1, workers=0, progress=False)
    return out
