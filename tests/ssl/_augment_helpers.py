"""Shared helpers of the augmentation tests: image and joint makers, one-thread fixture."""

from __future__ import annotations

import pytest
import torch

from semipose.image import IMAGENET_MEAN, IMAGENET_STD
from semipose.params import AugmentParams
from semipose.ssl.recipes import AugmentContext, Recipe

H, W = 64, 48  # non-square, like a 256×192 crop scaled down


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Tiny tensors: intra-op threads only add wake-up latency on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rand_images(n: int = 4, h: int = H, w: int = W, seed: int = 0) -> torch.Tensor:
    return torch.randn((n, 3, h, w), generator=gen(seed + 1000))


def coded_images(n: int, h: int = H, w: int = W) -> torch.Tensor:
    """Channel 0 = image index, 1 = row, 2 = column (so every pixel says where it came from)."""
    img = torch.empty((n, 3, h, w))
    img[:, 0] = torch.arange(n, dtype=torch.float32).view(n, 1, 1)
    img[:, 1] = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    img[:, 2] = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    return img


def to_norm(pix: torch.Tensor) -> torch.Tensor:
    """[0, 255] RGB pixels → ImageNet-normalised."""
    m = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    s = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (pix / 255.0 - m) / s


def to_pix(norm: torch.Tensor) -> torch.Tensor:
    m = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    s = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (norm * s + m) * 255.0


def random_joints(n: int, k: int, h: int = H, w: int = W, seed: int = 0) -> torch.Tensor:
    g = gen(seed + 2000)
    return torch.rand((n, k, 2), generator=g) * torch.tensor([w - 1.0, h - 1.0])


def run_code(code: str, images: torch.Tensor, seed: int, params: AugmentParams | None = None) -> torch.Tensor:
    n = images.shape[0]
    joints = random_joints(n, 6, images.shape[2], images.shape[3])
    valid = torch.ones((n, 6), dtype=torch.bool)
    valid[:, 0] = False
    ctx = AugmentContext(generator=gen(seed), joints=joints, joint_valid=valid)
    return Recipe(code, params)(images, ctx)
