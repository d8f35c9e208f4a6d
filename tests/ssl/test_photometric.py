"""RandAugment / TrivialAugment (semipose.ssl.photometric) against PIL and on known values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _augment_helpers import H, W, _single_thread, coded_images, gen, rand_images, random_joints, run_code, to_norm, to_pix  # noqa: F401 - _single_thread is an autouse fixture

from semipose.ssl import photometric as P
from semipose.ssl.photometric import RA_OPS, TA_OPS, rand_augment, trivial_augment

# ------------------------------------------------------------------------------------------
# RandAugment / TrivialAugment ops
# ------------------------------------------------------------------------------------------


def pil_reference(pix: np.ndarray, op: str, *args):
    """Apply a PIL op to one (H, W, 3) uint8 RGB image."""
    Image = pytest.importorskip("PIL.Image")
    from PIL import ImageEnhance, ImageOps

    img = Image.fromarray(pix)
    fn = {
        "autocontrast": lambda: ImageOps.autocontrast(img),
        "equalize": lambda: ImageOps.equalize(img),
        "posterize": lambda: ImageOps.posterize(img, *args),
        "solarize": lambda: ImageOps.solarize(img, *args),
        "color": lambda: ImageEnhance.Color(img).enhance(*args),
        "contrast": lambda: ImageEnhance.Contrast(img).enhance(*args),
        "brightness": lambda: ImageEnhance.Brightness(img).enhance(*args),
        "sharpness": lambda: ImageEnhance.Sharpness(img).enhance(*args),
    }[op]
    return np.asarray(fn(), dtype=np.float32)


@pytest.fixture(scope="module")
def uint8_images() -> torch.Tensor:
    g = gen(31)
    base = torch.randint(40, 200, (2, 3, 1, 1), generator=g)
    noise = torch.randint(-40, 40, (2, 3, 20, 17), generator=g)
    return (base + noise).clamp(0, 255).float()


@pytest.mark.parametrize(
    "op, fn, args, atol",
    [
        ("autocontrast", P._auto_contrast, (), 1.0),
        ("equalize", P._equalize, (), 0.0),
        ("posterize", P._posterize, (4,), 0.0),
        ("posterize", P._posterize, (2,), 0.0),
        ("solarize", P._solarize, (128,), 0.0),
        ("color", P._color, (0.4,), 1.5),
        ("contrast", P._contrast, (1.6,), 1.5),
        ("brightness", P._brightness, (1.6,), 1.0),
        # PIL rounds the smoothed image and truncates the blend; we stay in float
        ("sharpness", P._sharpness, (0.3,), 1.5),
        ("sharpness", P._sharpness, (1.8,), 1.5),
    ],
)
def test_photometric_ops_match_pil(uint8_images, op, fn, args, atol):
    ours = fn(uint8_images, *args)
    for i in range(uint8_images.shape[0]):
        ref = pil_reference(uint8_images[i].permute(1, 2, 0).numpy().astype(np.uint8), op, *args)
        np.testing.assert_allclose(ours[i].permute(1, 2, 0).numpy(), ref, atol=atol)


def test_simple_ops_on_known_values():
    ramp = torch.arange(256.0).view(1, 1, 1, 256).expand(1, 3, 1, 256)
    assert torch.equal(P._invert(ramp), 255.0 - ramp)
    sol = P._solarize(ramp, 100.0)
    assert torch.equal(sol[..., :100], ramp[..., :100]) and torch.equal(sol[..., 100:], 255.0 - ramp[..., 100:])
    post = P._posterize(ramp, 4.0)
    assert torch.equal(post, (ramp // 16) * 16)
    add = P._solarize_add(ramp, 50.0)
    expected = (ramp + 50).clamp(max=255)
    expected = torch.where(expected >= 128, 255 - expected, expected)
    assert torch.equal(add, expected)
    assert torch.allclose(P._brightness(ramp, 0.5), ramp * 0.5)
    assert torch.equal(P._brightness(ramp, 2.0), (ramp * 2).clamp(max=255))
    # color at factor 0 is gray; contrast at 0 is the mean gray level
    img = torch.rand((2, 3, 5, 6)) * 255
    gray = 0.299 * img[:, 0] + 0.587 * img[:, 1] + 0.114 * img[:, 2]
    assert torch.allclose(P._color(img, 0.0), gray.unsqueeze(1).expand_as(img), atol=1e-4)
    c0 = P._contrast(img, 0.0)
    assert torch.allclose(c0, torch.floor(gray.mean(dim=(1, 2)) + 0.5).view(2, 1, 1, 1).expand_as(img))


def test_cutout_abs_square_and_colour():
    img = torch.zeros((2, 3, 64, 48))
    out = P._cutout_abs(img, 20.0, torch.tensor([[0.5, 0.5], [0.999, 0.999]]))
    hole = (out != 0).any(dim=1)
    assert hole[0].sum() == 20 * 20 and torch.all(out[0, :, 32, 24] == torch.tensor([125.0, 123.0, 114.0]))
    assert bool(hole[1, 63, 47]) and hole[1].sum() == 11 * 11  # centre (47, 63), clipped at the corner


def test_rand_augment_single_op_pools():
    pix = torch.rand((6, 3, 16, 12), generator=gen(1)) * 200 + 20
    x = to_norm(pix)
    inv = to_pix(rand_augment(x, generator=gen(0), num_ops=1, ops=("Invert",)))
    assert torch.allclose(inv, 255 - pix, atol=1e-3)
    twice = to_pix(rand_augment(x, generator=gen(0), num_ops=2, ops=("Invert",)))
    assert torch.allclose(twice, pix, atol=1e-3)
    # brightness factor 1 ± 0.6 at m = 20, sign random per image
    const = to_norm(torch.full((32, 3, 4, 4), 100.0))
    b = to_pix(rand_augment(const, generator=gen(2), num_ops=1, ops=("Brightness",), magnitude=20))[:, 0, 0, 0]
    assert torch.allclose(b.sort().values, torch.where(b < 100, 40.0, 160.0).sort().values, atol=1e-2)
    assert (b < 100).any() and (b > 100).any()
    # solarize at m = 20: threshold 256 − 170.7 = 85.3
    ramp = to_norm(torch.arange(256.0).view(1, 1, 1, 256).expand(1, 3, 1, 256))
    s = to_pix(rand_augment(ramp, generator=gen(0), num_ops=1, ops=("Solarize",)))[0, 0, 0]
    assert torch.allclose(s[:86], torch.arange(86.0), atol=1e-2) and torch.allclose(s[86:], 255 - torch.arange(86.0, 256), atol=1e-2)
    # posterize at m = 20 keeps 4 bits; m = 10 keeps 5
    p = to_pix(rand_augment(ramp, generator=gen(0), num_ops=1, ops=("Posterize",)))[0, 0, 0]
    assert torch.allclose(p, torch.arange(256.0) // 16 * 16, atol=1e-2)
    p = to_pix(rand_augment(ramp, generator=gen(0), num_ops=1, ops=("Posterize",), magnitude=10))[0, 0, 0]
    assert torch.allclose(p, torch.arange(256.0) // 8 * 8, atol=1e-2)
    # CutoutAbs at m = 20: a 53 px square of (125, 123, 114) somewhere
    big = to_norm(torch.zeros((4, 3, 128, 96)))
    c = to_pix(rand_augment(big, generator=gen(3), num_ops=1, ops=("CutoutAbs",)))
    hole = c[:, 0] > 1
    assert torch.all(hole.sum(dim=(1, 2)) <= 54 * 54) and torch.all(hole.sum(dim=(1, 2)) > 0)
    assert torch.allclose(c.permute(0, 2, 3, 1)[hole], torch.tensor([125.0, 123.0, 114.0]), atol=1e-2)
    side = hole.any(dim=2).sum(dim=1)  # rows covered per image
    assert torch.all(side <= 54)
    with pytest.raises(ValueError, match="Rotate"):
        rand_augment(x, generator=gen(0), ops=("Rotate",))


def test_rand_augment_picks_ops_uniformly_per_sample():
    # Invert vs identity-like Brightness at magnitude 0 (factor 1): about half the images inverted
    pix = torch.full((200, 3, 2, 2), 30.0)
    out = to_pix(rand_augment(to_norm(pix), generator=gen(4), num_ops=1, magnitude=0.0, ops=("Invert", "Brightness")))
    inverted = (out[:, 0, 0, 0] - 225).abs() < 1e-2
    kept = (out[:, 0, 0, 0] - 30).abs() < 1e-2
    assert torch.all(inverted | kept) and 70 < int(inverted.sum()) < 130


def test_trivial_augment_levels():
    const = to_norm(torch.full((300, 3, 4, 4), 100.0))
    b = to_pix(trivial_augment(const, generator=gen(6), ops=("Brightness",)))[:, 0, 0, 0] / 100.0
    grid = torch.arange(31.0) * 1.8 / 30 + 0.1
    assert torch.all((b.view(-1, 1) - grid).abs().min(dim=1).values < 1e-3)
    assert len(torch.unique(torch.round(b * 1000))) > 20  # many levels drawn
    ramp = to_norm(torch.arange(256.0).view(1, 1, 1, 256).expand(40, 3, 1, 256))
    s = to_pix(trivial_augment(ramp, generator=gen(7), ops=("Solarize",)))[:, 0, 0]
    thresholds = {256 - level * 256 // 30 for level in range(31)}
    for row in s:
        flipped = (row - torch.arange(256.0)).abs() > 1e-2
        t = int(flipped.float().argmax()) if flipped.any() else 256
        assert t in thresholds  # everything from the threshold up is inverted
        assert torch.all(flipped[t:])
    p = to_pix(trivial_augment(ramp, generator=gen(8), ops=("Posterize",)))[:, 0, 0]
    for row in p:
        assert any(torch.allclose(row, torch.arange(256.0) // 2**s * 2**s, atol=1e-2) for s in range(0, 5))
    ident = trivial_augment(const, generator=gen(0), ops=("Identity",))
    assert torch.allclose(ident, const, atol=1e-5)


@pytest.mark.parametrize("fn", [rand_augment, trivial_augment])
def test_photometric_augments_are_finite_and_mix_ops(fn):
    x = rand_images(8, 37, 29) * 3  # out-of-range values are clipped, never NaN
    out = fn(x, generator=gen(0))
    assert out.shape == x.shape and torch.isfinite(out).all()
    pix = to_pix(out)
    assert pix.min() > -1e-2 and pix.max() < 255 + 1e-2
    assert len(RA_OPS) == 11 and len(TA_OPS) == 9


# ------------------------------------------------------------------------------------------
# recipes
# ------------------------------------------------------------------------------------------
