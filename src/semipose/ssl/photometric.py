"""Photometric augmentations of the hard views: RandAugment and TrivialAugment, batched with
one op choice per sample, in float pixel space ``[0, 255]`` on RGB data (the reference fed
BGR arrays to PIL as RGB and worked in uint8: ``docs/differences.md``).

Inputs are normalised ``(N, 3, H, W)`` images; ``mean`` / ``std`` map them to pixels and back.
Every random number comes from the explicit ``generator``; no per-sample loop, no host sync.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..image import IMAGENET_MEAN, IMAGENET_STD
from ._batch import check_batch, check_count, const_like

__all__ = ["rand_augment", "trivial_augment", "RA_OPS", "TA_OPS"]

#: RandAugment's 11 photometric ops, in the reference's order.
RA_OPS: tuple[str, ...] = (
    "AutoContrast",
    "Equalize",
    "Invert",
    "Posterize",
    "Solarize",
    "SolarizeAdd",
    "Color",
    "Contrast",
    "Brightness",
    "Sharpness",
    "CutoutAbs",
)
#: TrivialAugment's 9 ops (the reference, the "standard" list without geometric ops).
TA_OPS: tuple[str, ...] = (
    "Identity",
    "AutoContrast",
    "Equalize",
    "Solarize",
    "Color",
    "Posterize",
    "Contrast",
    "Brightness",
    "Sharpness",
)

#: CutoutAbs fill colour, RGB pixel values.
_CUTOUT_ABS_COLOUR = (125.0, 123.0, 114.0)
#: ITU-R 601-2 luma weights (PIL's ``convert("L")``), RGB order.
_LUMA = (0.299, 0.587, 0.114)

def _per_sample(v: Tensor | float, x: Tensor) -> Tensor:
    """A scalar or ``(N,)`` parameter as a float ``(N|1, 1, 1, 1)`` tensor on ``x``'s device."""
    if isinstance(v, Tensor):
        return v.to(dtype=x.dtype).reshape(-1, 1, 1, 1)
    return torch.full((1, 1, 1, 1), float(v), dtype=x.dtype, device=x.device)


def _to_pixels(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    c = images.shape[1]
    if len(mean) != c or len(std) != c:
        raise ValueError(f"mean/std need {c} entries, got {len(mean)} / {len(std)}")
    x = images.float()
    return ((x * const_like(std, x) + const_like(mean, x)) * 255.0).clamp(0.0, 255.0)


def _from_pixels(pix: Tensor, mean: Sequence[float], std: Sequence[float], dtype: torch.dtype) -> Tensor:
    return ((pix / 255.0 - const_like(mean, pix)) / const_like(std, pix)).to(dtype)


def _grayscale(x: Tensor) -> Tensor:
    """``(N, 1, H, W)`` luma ``0.299 R + 0.587 G + 0.114 B``."""
    r, g, b = _LUMA
    return r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]


def _blend(degenerate: Tensor, x: Tensor, factor: Tensor | float) -> Tensor:
    """PIL ``ImageEnhance``: ``degenerate + factor·(x − degenerate)``, clipped to ``[0, 255]``."""
    return (degenerate + _per_sample(factor, x) * (x - degenerate)).clamp(0.0, 255.0)


def _identity(x: Tensor) -> Tensor:
    return x


def _invert(x: Tensor) -> Tensor:
    return 255.0 - x


def _auto_contrast(x: Tensor) -> Tensor:
    """Per image and channel, stretch ``[min, max]`` to ``[0, 255]`` (constant channels unchanged)."""
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    stretched = (x - lo) * (255.0 / span.clamp_min(1e-6))
    return torch.where(span > 0, stretched, x).clamp(0.0, 255.0)


def _equalize(x: Tensor) -> Tensor:
    """PIL ``ImageOps.equalize`` per image and channel, on values rounded to integers.

    Batched 256-bin histograms via ``scatter_add``; ``step = (count − count(last bin)) // 255``,
    ``lut[i] = (step // 2 + Σ_{j<i} hist[j]) // step`` (capped at 255); channels with
    ``step == 0`` (e.g. a single value) are left as they are.
    """
    n, c, h, w = x.shape
    q = x.round().clamp(0, 255).long().view(n * c, h * w)
    hist = torch.zeros((n * c, 256), dtype=torch.long, device=x.device).scatter_add(1, q, torch.ones_like(q))
    last = hist.gather(1, q.amax(dim=1, keepdim=True))  # count of the highest present value
    step = (h * w - last) // 255  # (NC, 1)
    before = hist.cumsum(dim=1) - hist  # exclusive cumulative histogram
    lut = ((step // 2 + before) // step.clamp_min(1)).clamp_max(255)
    mapped = lut.gather(1, q)
    out = torch.where(step > 0, mapped, q)
    return out.view(n, c, h, w).to(x.dtype)


def _posterize(x: Tensor, bits: Tensor | float) -> Tensor:
    """Keep the ``bits`` most significant bits of each (rounded) value."""
    b = _per_sample(bits, x).clamp(1, 8)
    step = torch.pow(2.0, 8.0 - b)
    return torch.floor(x.round() / step) * step


def _solarize(x: Tensor, threshold: Tensor | float) -> Tensor:
    """Invert the values ``>= threshold`` (compared after rounding, as PIL does on uint8)."""
    return torch.where(x.round() >= _per_sample(threshold, x), 255.0 - x, x)


def _solarize_add(x: Tensor, addition: Tensor | float, threshold: float = 128.0) -> Tensor:
    """Add ``addition`` and clip to ``[0, 255]``, then solarize at ``threshold``."""
    return _solarize((x + _per_sample(addition, x)).clamp(0.0, 255.0), threshold)


def _color(x: Tensor, factor: Tensor | float) -> Tensor:
    """PIL ``ImageEnhance.Color``: blend with the grayscale image."""
    return _blend(_grayscale(x).expand_as(x), x, factor)


def _contrast(x: Tensor, factor: Tensor | float) -> Tensor:
    """PIL ``ImageEnhance.Contrast``: blend with the image's mean grayscale level (rounded)."""
    mean = torch.floor(_grayscale(x).mean(dim=(2, 3), keepdim=True) + 0.5)
    return _blend(mean.expand_as(x), x, factor)


def _brightness(x: Tensor, factor: Tensor | float) -> Tensor:
    """PIL ``ImageEnhance.Brightness``: blend with black, i.e. scale by ``factor``."""
    return _blend(torch.zeros_like(x), x, factor)


def _sharpness(x: Tensor, factor: Tensor | float) -> Tensor:
    """PIL ``ImageEnhance.Sharpness``: blend with the ``SMOOTH`` filter (border pixels kept)."""
    n, c, h, w = x.shape
    if h < 3 or w < 3:
        return _blend(x, x, factor)
    kernel = torch.ones((3, 3), dtype=x.dtype, device=x.device)
    kernel[1, 1] = 5.0  # PIL ImageFilter.SMOOTH: [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13
    kernel = kernel / 13.0
    smooth = torch.nn.functional.conv2d(x, kernel.expand(c, 1, 3, 3), groups=c)  # (N, C, H-2, W-2)
    degenerate = torch.nn.functional.pad(smooth, (1, 1, 1, 1))
    border = torch.ones((h, w), dtype=torch.bool, device=x.device)
    border[1:-1, 1:-1] = False
    degenerate = torch.where(border, x, degenerate)
    return _blend(degenerate, x, factor)


def _cutout_abs(x: Tensor, size: float, centre: Tensor) -> Tensor:
    """A ``size × size`` px square of colour (125, 123, 114) centred at ``centre``.

    Args:
        centre: ``(N, 2)`` uniform ``[0, 1)`` draws, scaled to ``x in [0, W)``, ``y in [0, H)``.
    """
    n, _, h, w = x.shape
    cx = torch.floor(centre[:, 0:1] * w)  # (N, 1)
    cy = torch.floor(centre[:, 1:2] * h)
    half = float(size) / 2.0
    xs = torch.arange(w, device=x.device, dtype=x.dtype)
    ys = torch.arange(h, device=x.device, dtype=x.dtype)
    cols = (xs >= cx - half) & (xs < cx + half)  # (N, W)
    rows = (ys >= cy - half) & (ys < cy + half)  # (N, H)
    mask = (rows.unsqueeze(-1) & cols.unsqueeze(-2)).unsqueeze(1)
    colour = const_like(_CUTOUT_ABS_COLOUR, x)
    return torch.where(mask, colour.expand_as(x), x)


def _select_ops(ops: Sequence[str] | None, pool: tuple[str, ...], what: str) -> tuple[str, ...]:
    if ops is None:
        return pool
    chosen = tuple(ops)
    bad = [o for o in chosen if o not in pool]
    if bad or not chosen:
        raise ValueError(f"unknown {what} op(s) {bad or '(none given)'}; known: {', '.join(pool)}")
    return chosen


def _check_rgb(images: Tensor) -> None:
    if images.shape[1] != 3:
        raise ValueError(f"photometric augmentations need RGB images (C = 3), got C = {images.shape[1]}")


def rand_augment(
    images: Tensor,
    *,
    generator: torch.Generator,
    num_ops: int = 2,
    magnitude: float = 20.0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    ops: Sequence[str] | None = None,
) -> Tensor:
    """RandAugment (RA): ``num_ops`` photometric ops per image, fixed magnitude.

    Each image independently picks ``num_ops`` ops uniformly *with replacement* from the 11 ops
    of :data:`RA_OPS` and applies them in sequence. Each op's value is
    ``v = magnitude/30·(max − min) + min`` with the reference's ranges:

    * Posterize: ``v ∈ [0, 4]``, keep ``max(2, 6 − int(v))`` bits (4 bits at m = 20);
    * Solarize: ``v ∈ [0, 256]``, threshold ``256 − v``;
    * SolarizeAdd: ``v ∈ [0, 110]`` added and clipped, then solarize at 128;
    * Color / Contrast / Brightness / Sharpness: factor ``1 ± v`` with ``v ∈ [0, 0.9]`` and a
      random sign per image and op;
    * CutoutAbs: ``v ∈ [0, 80]``, a ``v × v`` px square of colour (125, 123, 114) whose centre is
      uniform over the image;
    * AutoContrast, Equalize, Invert: no parameter.

    The images are de-normalised with ``mean``/``std`` to RGB pixel values in ``[0, 255]``
    (clipped), processed in float32, and re-normalised. Each op runs on the images that drew it
    (on an accelerator: on the batch, selected with ``torch.where``). Differences from the reference: RGB data
    (not BGR read as RGB), float instead of uint8 arithmetic (values are only rounded where an op
    needs integers: Posterize, Equalize).

    Args:
        images: ``(N, 3, H, W)`` normalised RGB images.
        generator: random source on ``images.device``.
        num_ops: ops per image.
        magnitude: ``m`` in ``[0, 30]``.
        mean, std: the normalisation (RGB order, ``[0, 1]`` scale).
        ops: optional sub-pool of :data:`RA_OPS` to draw from (default: all 11).

    Returns:
        ``(N, 3, H, W)`` new tensor.
    """
    n, _, _, _ = check_batch(images)
    _check_rgb(images)
    k = check_count("num_ops", num_ops)
    pool = _select_ops(ops, RA_OPS, "RandAugment")
    device = images.device
    choice = torch.randint(0, len(pool), (n, k), generator=generator, device=device)
    sign = torch.randint(0, 2, (n, k), generator=generator, device=device).float() * 2.0 - 1.0
    centre = torch.rand((n, k, 2), generator=generator, device=device)

    frac = float(magnitude) / 30.0
    bits = float(max(2, 6 - int(frac * 4.0)))
    threshold = 256.0 - frac * 256.0
    addition = frac * 110.0
    enhance = frac * 0.9
    cut = frac * 80.0

    x = _to_pixels(images, mean, std)
    for slot in range(k):
        factor = 1.0 + sign[:, slot] * enhance
        where = centre[:, slot]
        table: dict[str, _Op] = {
            "AutoContrast": lambda t, sel: _auto_contrast(t),
            "Equalize": lambda t, sel: _equalize(t),
            "Invert": lambda t, sel: _invert(t),
            "Posterize": lambda t, sel: _posterize(t, bits),
            "Solarize": lambda t, sel: _solarize(t, threshold),
            "SolarizeAdd": lambda t, sel: _solarize_add(t, addition),
            "Color": lambda t, sel: _color(t, _pick(factor, sel)),
            "Contrast": lambda t, sel: _contrast(t, _pick(factor, sel)),
            "Brightness": lambda t, sel: _brightness(t, _pick(factor, sel)),
            "Sharpness": lambda t, sel: _sharpness(t, _pick(factor, sel)),
            "CutoutAbs": lambda t, sel: _cutout_abs(t, cut, _pick(where, sel)),
        }
        x = _apply_selected(x, choice[:, slot], pool, table)
    return _from_pixels(x, mean, std, images.dtype)


#: ``(images, sel) -> images``: an op on the images ``sel`` of the batch (``sel`` None: all).
_Op = Callable[[Tensor, "Tensor | None"], Tensor]


def _pick(v: Tensor, sel: Tensor | None) -> Tensor:
    """The per-image parameters of the images an op runs on."""
    return v if sel is None else v.index_select(0, sel)


def _apply_selected(x: Tensor, choice: Tensor, pool: tuple[str, ...], table: dict[str, _Op]) -> Tensor:
    """Apply op ``pool[choice[i]]`` to image ``i``.

    On a CPU each op runs once, on the images that drew it (gathered by index). On an
    accelerator every op runs on the whole batch and ``torch.where`` selects: no data-dependent
    shapes, so no host synchronisation."""
    if x.device.type != "cpu":
        out = x
        for j, name in enumerate(pool):
            out = torch.where((choice == j).view(-1, 1, 1, 1), table[name](x, None), out)
        return out
    out = torch.empty_like(x)
    order = torch.argsort(choice, stable=True)
    counts = torch.bincount(choice, minlength=len(pool)).tolist()  # a CPU tensor: no device sync
    start = 0
    for name, count in zip(pool, counts):
        if count:
            sel = order[start : start + count]
            out.index_copy_(0, sel, table[name](x.index_select(0, sel), sel))
        start += count
    return out


def trivial_augment(
    images: Tensor,
    *,
    generator: torch.Generator,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    ops: Sequence[str] | None = None,
) -> Tensor:
    """TrivialAugment (TA): one random op at a random level per image.

    Each image picks one op of :data:`TA_OPS` uniformly and a level ``l`` uniform in
    ``{0, …, 30}`` and always applies it:

    * Solarize threshold ``256 − ⌊l·256/30⌋``;
    * Posterize keeps ``8 − ⌊l·4/30⌋`` bits;
    * Color / Contrast / Brightness / Sharpness factor ``l·1.8/30 + 0.1`` (0.1 … 1.9);
    * Identity, AutoContrast, Equalize: no parameter.

    Same pixel-space conventions as :func:`rand_augment` (RGB, float, batched with
    ``torch.where``).

    Args:
        images: ``(N, 3, H, W)`` normalised RGB images.
        generator: random source on ``images.device``.
        mean, std: the normalisation.
        ops: optional sub-pool of :data:`TA_OPS` to draw from (default: all 9).

    Returns:
        ``(N, 3, H, W)`` new tensor.
    """
    n, _, _, _ = check_batch(images)
    _check_rgb(images)
    pool = _select_ops(ops, TA_OPS, "TrivialAugment")
    device = images.device
    choice = torch.randint(0, len(pool), (n,), generator=generator, device=device)
    level = torch.randint(0, 31, (n,), generator=generator, device=device)

    threshold = (256 - level * 256 // 30).float()
    bits = (8 - level * 4 // 30).float()
    factor = level.float() * (1.8 / 30.0) + 0.1

    x = _to_pixels(images, mean, std)
    table: dict[str, _Op] = {
        "Identity": lambda t, sel: _identity(t),
        "AutoContrast": lambda t, sel: _auto_contrast(t),
        "Equalize": lambda t, sel: _equalize(t),
        "Solarize": lambda t, sel: _solarize(t, _pick(threshold, sel)),
        "Color": lambda t, sel: _color(t, _pick(factor, sel)),
        "Posterize": lambda t, sel: _posterize(t, _pick(bits, sel)),
        "Contrast": lambda t, sel: _contrast(t, _pick(factor, sel)),
        "Brightness": lambda t, sel: _brightness(t, _pick(factor, sel)),
        "Sharpness": lambda t, sel: _sharpness(t, _pick(factor, sel)),
    }
    x = _apply_selected(x, choice, pool, table)
    return _from_pixels(x, mean, std, images.dtype)
