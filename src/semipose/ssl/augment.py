"""Batch-level augmentations for the semi-supervised hard views (spec §2.10, §2.11, §4).

All functions work on a whole batch of **normalised** images ``(N, C, H, W)`` (ImageNet
mean/std, so ``0`` is the mean colour — the default hole fill) on any device, and:

* are pure — they return a new tensor and never modify their inputs;
* draw every random number from the explicit ``generator`` (which must live on the images'
  device), allocating random tensors on ``images.device``; the same generator state gives the
  same output;
* are fully vectorised: no Python loop over samples or holes, no host synchronisation
  (no ``.item()``, ``nonzero()``, boolean-mask indexing, rejection loops). Boxes are built by
  broadcasting row / column coordinate grids and applied with ``torch.where`` / ``gather``;
* are correct for any ``H × W`` (square or not) and any ``N ≥ 1``, with or without grad.

Joints are ``(N, K, 2)`` float ``(x, y)`` positions in image pixels (pixel centres at integer
coordinates); ``joint_valid`` ``(N, K)`` bool marks the joints that may be used as centres.

Differences from the reference implementation (spec §4, quirks Q4, Q5, Q10), all deliberate:

* **Q4 fixed** — CO/CM hole centres are uniform over the real image (x in ``[0, W)``, y in
  ``[0, H)``) and JC boxes are clipped to the real ``H × W``, so holes reach every part of a
  non-square image, including the bottom ``H − W`` rows the reference never touches.
* **Q5 fixed** — JO patches are centred on the joints (x is a column, y a row), the last row and
  column are reachable, and the source image is always *another* image of the batch (when
  ``N > 1``). Destination pixels whose source position falls outside the source image are left
  unchanged instead of the reference's zero-fill fallback.
* **Q10 fixed** — JC/JO centres are drawn (with replacement, like the reference) only among the
  valid joints; a sample without a valid joint gets no box.
* Jittered centres are rounded to the nearest pixel (the reference truncates toward zero).
* RandAugment/TrivialAugment run on RGB data (the reference fed BGR arrays to PIL as RGB), in
  float pixel space ``[0, 255]`` rather than uint8, batched with one op choice per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import Tensor

from ..constants import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "cutout",
    "cutmix",
    "mixup",
    "joint_cutout",
    "joint_cut_occlusion",
    "yoco",
    "rand_augment",
    "trivial_augment",
    "RA_OPS",
    "TA_OPS",
    "AugmentParams",
    "AugmentContext",
    "AugmentFn",
    "AUGMENTATIONS",
    "JOINT_AUGMENTATIONS",
    "COMBOS",
    "parse_recipe",
    "Recipe",
]

#: RandAugment's 11 photometric ops (spec §2.10), in the reference's order.
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
#: TrivialAugment's 9 ops (spec §2.11, the "standard" list without geometric ops).
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


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _check_images(images: Tensor) -> tuple[int, int, int, int]:
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    if n < 1 or h < 1 or w < 1:
        raise ValueError(f"images must be non-empty, got shape {tuple(images.shape)}")
    return n, c, h, w


def _check_half_size(half_size: tuple[int, int]) -> tuple[int, int]:
    lo, hi = int(half_size[0]), int(half_size[1])
    if lo < 0 or hi < lo:
        raise ValueError(f"half_size must be (min, max) with 0 <= min <= max, got {tuple(half_size)}")
    return lo, hi


def _check_count(name: str, value: int) -> int:
    if int(value) < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _check_joints(images: Tensor, joints: Tensor, joint_valid: Tensor | None) -> tuple[Tensor, Tensor]:
    """Validate shapes; return float joints and ``valid & finite`` (N, K) bool."""
    n = images.shape[0]
    if joints.dim() != 3 or joints.shape[0] != n or joints.shape[2] != 2:
        raise ValueError(f"joints must be (N={n}, K, 2), got shape {tuple(joints.shape)}")
    if joint_valid is None:
        joint_valid = torch.ones(joints.shape[:2], dtype=torch.bool, device=joints.device)
    if tuple(joint_valid.shape) != tuple(joints.shape[:2]):
        raise ValueError(f"joint_valid must be {tuple(joints.shape[:2])}, got {tuple(joint_valid.shape)}")
    joints = joints.to(device=images.device, dtype=torch.float32)
    valid = joint_valid.to(device=images.device, dtype=torch.bool) & torch.isfinite(joints).all(dim=-1)
    return joints, valid


def _half_sizes(n: int, m: int, half_size: tuple[int, int], generator: torch.Generator, device: torch.device) -> Tensor:
    """``(n, m, 2)`` integer half sizes ``(sx, sy)``, each uniform in ``[min, max]``."""
    lo, hi = half_size
    return torch.randint(lo, hi + 1, (n, m, 2), generator=generator, device=device)


def _box_mask(cx: Tensor, cy: Tensor, sx: Tensor, sy: Tensor, height: int, width: int, active: Tensor | None = None) -> Tensor:
    """Union of the boxes ``[cx − sx, cx + sx) × [cy − sy, cy + sy)`` clipped to the image.

    Args:
        cx, cy, sx, sy: ``(N, M)`` integer centres / half sizes (x = column, y = row).
        active: optional ``(N, M)`` bool; inactive boxes are ignored.

    Returns:
        ``(N, H, W)`` bool mask.
    """
    device = cx.device
    ys = torch.arange(height, device=device)
    xs = torch.arange(width, device=device)
    rows = (ys >= (cy - sy).unsqueeze(-1)) & (ys < (cy + sy).unsqueeze(-1))  # (N, M, H)
    cols = (xs >= (cx - sx).unsqueeze(-1)) & (xs < (cx + sx).unsqueeze(-1))  # (N, M, W)
    if active is not None:
        rows = rows & active.unsqueeze(-1)
    # Σ_m rows[m, y]·cols[m, x] > 0  ⇔  (y, x) lies in at least one box
    cover = torch.bmm(rows.transpose(1, 2).float(), cols.float())  # (N, H, W)
    return cover > 0.5


def _choose_valid(valid: Tensor, m: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per row, ``m`` indices drawn uniformly (with replacement) among the valid entries.

    Args:
        valid: ``(N, K)`` bool.

    Returns:
        ``idx`` ``(N, m)`` long and ``ok`` ``(N, m)`` bool (False where the row has no valid entry;
        ``idx`` is then arbitrary).
    """
    n, k = valid.shape
    u = torch.rand((n, m, k), generator=generator, device=valid.device)
    scores = torch.where(valid.unsqueeze(1), u, torch.full_like(u, -1.0))
    idx = scores.argmax(dim=-1)
    ok = valid.any(dim=1, keepdim=True).expand(n, m)
    return idx, ok


def _jittered_centres(joints: Tensor, idx: Tensor, jitter: float, generator: torch.Generator) -> Tensor:
    """``(N, M, 2)`` long pixel centres: chosen joints + N(0, 1)·jitter, rounded to the nearest pixel."""
    n, m = idx.shape
    picked = joints.gather(1, idx.unsqueeze(-1).expand(n, m, 2))
    noise = torch.randn((n, m, 2), generator=generator, device=joints.device)
    centres = torch.floor(picked + noise * float(jitter) + 0.5)
    # keep far-away / huge coordinates representable; boxes are clipped to the image anyway
    return centres.clamp(-(2**30), 2**30).long()


def _permutation(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """A uniformly random permutation of ``0 … n−1``, generated on ``device`` (argsort of uniform keys)."""
    return torch.rand((n,), generator=generator, device=device).argsort()


def _const(values: Sequence[float], like: Tensor) -> Tensor:
    """``(1, len(values), 1, 1)`` constant on ``like``'s device, built with fill kernels.

    (``torch.tensor(list, device=cuda)`` would be a blocking host→device copy.)
    """
    return torch.stack([torch.full((), float(v), dtype=like.dtype, device=like.device) for v in values]).view(1, -1, 1, 1)


# --------------------------------------------------------------------------------------------
# occlusion / mixing augmentations (spec §4)
# --------------------------------------------------------------------------------------------


def cutout(
    images: Tensor,
    *,
    generator: torch.Generator,
    num_holes: int = 5,
    half_size: tuple[int, int] = (10, 19),
    fill: float = 0.0,
) -> Tensor:
    """CutOut (CO, spec §4.3): fill ``num_holes`` random boxes per image with ``fill``.

    Hole centres are uniform over the whole image (x in ``[0, W)``, y in ``[0, H)``), half sizes
    are independent integers uniform in ``half_size`` per axis, and the box
    ``[c − s, c + s)`` is clipped to the image. Unlike the reference (Q4) the holes reach every
    part of a non-square image, including its bottom rows.

    Args:
        images: ``(N, C, H, W)`` normalised images.
        generator: random source on ``images.device``.
        num_holes: holes per image.
        half_size: ``(min, max)`` integer half size in pixels.
        fill: value written into the holes (``0`` = the mean colour in normalised space).

    Returns:
        ``(N, C, H, W)`` new tensor.
    """
    n, _, h, w = _check_images(images)
    m = _check_count("num_holes", num_holes)
    hs = _check_half_size(half_size)
    mask = _random_holes(n, m, h, w, hs, generator, images.device)
    return torch.where(mask.unsqueeze(1), torch.full_like(images, float(fill)), images)


def _random_holes(n: int, m: int, h: int, w: int, half_size: tuple[int, int], generator: torch.Generator, device: torch.device) -> Tensor:
    """``(N, H, W)`` bool union of ``m`` uniformly placed boxes per image."""
    cx = torch.randint(0, w, (n, m), generator=generator, device=device)
    cy = torch.randint(0, h, (n, m), generator=generator, device=device)
    s = _half_sizes(n, m, half_size, generator, device)
    return _box_mask(cx, cy, s[..., 0], s[..., 1], h, w)


def cutmix(
    images: Tensor,
    *,
    generator: torch.Generator,
    num_holes: int = 2,
    half_size: tuple[int, int] = (10, 19),
) -> Tensor:
    """CutMix (CM, spec §4.4): holes as in :func:`cutout`, filled from a partner image.

    The partner of image ``i`` is ``images[perm[i]]`` for one random permutation ``perm`` of the
    batch (it can be ``i`` itself, as in the reference); each hole takes the partner's pixels at
    the same location. Hole placement has the Q4 fix of :func:`cutout`.

    Args:
        images: ``(N, C, H, W)``.
        generator: random source on ``images.device``.
        num_holes: holes per image.
        half_size: ``(min, max)`` integer half size in pixels.

    Returns:
        ``(N, C, H, W)`` new tensor.
    """
    n, _, h, w = _check_images(images)
    m = _check_count("num_holes", num_holes)
    hs = _check_half_size(half_size)
    perm = _permutation(n, generator, images.device)
    mask = _random_holes(n, m, h, w, hs, generator, images.device)
    return torch.where(mask.unsqueeze(1), images[perm], images)


def _sample_gamma_log(
    alpha: float, shape: tuple[int, ...], generator: torch.Generator, device: torch.device, *, candidates: int = 32
) -> Tensor:
    """``log`` of Gamma(alpha, 1) samples using only ``generator`` draws (float64).

    Marsaglia–Tsang's squeeze method for shape ``alpha + 1`` (if ``alpha < 1``) boosted by
    ``U^(1/alpha)``, computed in log space so tiny alphas do not underflow. The rejection step is
    vectorised: ``candidates`` proposals per sample and the first accepted one is kept (acceptance
    is ≥ 95 % per proposal, so all 32 failing has probability < 1e-40; the last proposal would
    then be used).
    """
    if not alpha > 0:
        raise ValueError(f"gamma shape must be > 0, got {alpha}")
    a = alpha + 1.0 if alpha < 1.0 else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    z = torch.randn((*shape, candidates), generator=generator, device=device, dtype=torch.float64)
    u = torch.rand((*shape, candidates), generator=generator, device=device, dtype=torch.float64)
    v = (1.0 + c * z) ** 3
    log_v = torch.log(v.clamp_min(1e-300))
    accept = (v > 0) & (torch.log(u.clamp_min(1e-300)) < 0.5 * z * z + d - d * v + d * log_v)
    accept[..., -1] = True  # fallback: never taken in practice (see docstring)
    first = accept.to(torch.uint8).argmax(dim=-1, keepdim=True)  # first accepted proposal
    log_g = math.log(d) + log_v.gather(-1, first).squeeze(-1)
    if alpha < 1.0:
        u2 = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
        log_g = log_g + torch.log(u2.clamp_min(1e-300)) / alpha
    return log_g


def _sample_beta(alpha: float, beta: float, shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> Tensor:
    """Beta(alpha, beta) samples ``X / (X + Y)`` with ``X ~ Gamma(alpha)``, ``Y ~ Gamma(beta)`` (float32)."""
    log_x = _sample_gamma_log(alpha, shape, generator, device)
    log_y = _sample_gamma_log(beta, shape, generator, device)
    return torch.sigmoid(log_x - log_y).float()


def mixup(
    images: Tensor,
    *,
    generator: torch.Generator,
    alpha: float = 0.2,
    min_lambda: float = 0.75,
    per_sample: bool = False,
) -> Tensor:
    """MixUp (MU, spec §4.5): ``λ'·x + (1 − λ')·x[perm]`` with ``λ' ∈ (min_lambda, 1)``.

    ``λ ~ Beta(alpha, alpha)`` (sampled exactly from ``generator`` draws, see
    :func:`_sample_beta`) is remapped to ``λ' = 1 − (1 − min_lambda)·λ`` so the image itself
    always dominates. ``perm`` is a random permutation of the batch (fixed points keep the
    image). As in the reference one λ serves the whole batch; ``per_sample=True`` draws one per
    image instead.

    Args:
        images: ``(N, C, H, W)``.
        generator: random source on ``images.device``.
        alpha: Beta concentration (> 0).
        min_lambda: lower bound of the own-image weight, in ``[0, 1]``.
        per_sample: one λ per image instead of one per batch.

    Returns:
        ``(N, C, H, W)`` new tensor.
    """
    n, _, _, _ = _check_images(images)
    if not 0.0 <= min_lambda <= 1.0:
        raise ValueError(f"min_lambda must be in [0, 1], got {min_lambda}")
    perm = _permutation(n, generator, images.device)
    lam = _sample_beta(alpha, alpha, (n if per_sample else 1,), generator, images.device)
    lam = (1.0 - (1.0 - float(min_lambda)) * lam).to(images.dtype).view(-1, 1, 1, 1)
    return lam * images + (1.0 - lam) * images[perm]


def joint_cutout(
    images: Tensor,
    joints: Tensor,
    joint_valid: Tensor | None,
    *,
    generator: torch.Generator,
    num_joints: int = 5,
    half_size: tuple[int, int] = (10, 19),
    jitter: float = 10.0,
    fill: float = 0.0,
) -> Tensor:
    """Joint CutOut (JC, spec §4.1): fill boxes around randomly chosen valid joints.

    Per sample, ``num_joints`` joints are drawn with replacement among the valid ones (Q10 fix:
    never among invalid / unsupervised channels; a sample with no valid joint is left
    unchanged). Each centre is jittered by ``N(0, 1)·jitter`` px per axis and rounded, gets its
    own integer half sizes uniform in ``half_size``, and the box ``[c − s, c + s)`` clipped to the
    true ``H × W`` (Q4 fix) is set to ``fill``.

    Args:
        images: ``(N, C, H, W)``.
        joints: ``(N, K, 2)`` ``(x, y)`` in image pixels.
        joint_valid: ``(N, K)`` bool, or None for "all valid". Non-finite joints are never used.
        generator: random source on ``images.device``.
        num_joints: boxes per image.
        half_size: ``(min, max)`` integer half size in pixels.
        jitter: centre jitter standard deviation in pixels.
        fill: hole value.

    Returns:
        ``(N, C, H, W)`` new tensor.
    """
    n, _, h, w = _check_images(images)
    m = _check_count("num_joints", num_joints)
    hs = _check_half_size(half_size)
    joints, valid = _check_joints(images, joints, joint_valid)
    idx, ok = _choose_valid(valid, m, generator)
    centres = _jittered_centres(joints, idx, jitter, generator)
    s = _half_sizes(n, m, hs, generator, images.device)
    mask = _box_mask(centres[..., 0], centres[..., 1], s[..., 0], s[..., 1], h, w, active=ok)
    return torch.where(mask.unsqueeze(1), torch.full_like(images, float(fill)), images)


def joint_cut_occlusion(
    images: Tensor,
    joints: Tensor,
    joint_valid: Tensor | None,
    *,
    generator: torch.Generator,
    num_joints: int = 2,
    half_size: tuple[int, int] = (10, 19),
    jitter: float = 10.0,
) -> Tensor:
    """Joint Cut-Occlusion (JO, spec §4.2): paste another image's joint patches onto this image's joints.

    Per sample ``i`` one source image ``src = (i + r) mod N`` with ``r`` uniform in ``1 … N−1``
    (so always another image when ``N > 1``; the image itself when ``N == 1``). For each of
    ``num_joints`` pairs: a destination joint among the valid joints of ``i`` and a source joint
    among the valid joints of ``src`` (both with replacement, both jittered by
    ``N(0, 1)·jitter`` px and rounded), and integer half sizes ``(sx, sy)`` uniform in
    ``half_size``. The box ``[−sx, sx) × [−sy, sy)`` around the source joint is pasted so that it
    is centred on the destination joint. Content always comes from the unmodified input batch;
    later pairs overwrite earlier ones where they overlap.

    Fixes relative to the reference: patches are centred on the joints (Q5 x/y transposition),
    the last row/column are reachable, joints come only from valid ones (Q10), the source is
    never the image itself when ``N > 1``, and destination pixels whose source position falls
    outside the source image are left unchanged (no zero-fill fallback). Pairs involving an
    image without valid joints are skipped.

    Args:
        images: ``(N, C, H, W)``.
        joints: ``(N, K, 2)`` ``(x, y)`` in image pixels.
        joint_valid: ``(N, K)`` bool, or None for "all valid".
        generator: random source on ``images.device``.
        num_joints: pasted patches per image (a small constant; looped over).
        half_size: ``(min, max)`` integer half size in pixels.
        jitter: centre jitter standard deviation in pixels.

    Returns:
        ``(N, C, H, W)`` new tensor.
    """
    n, c, h, w = _check_images(images)
    m = _check_count("num_joints", num_joints)
    hs = _check_half_size(half_size)
    joints, valid = _check_joints(images, joints, joint_valid)
    device = images.device

    r = torch.randint(1, max(n, 2), (n,), generator=generator, device=device)
    src = (torch.arange(n, device=device) + r) % n  # (N,)
    src_valid = valid[src]
    dst_idx, dst_ok = _choose_valid(valid, m, generator)
    src_idx, src_ok = _choose_valid(src_valid, m, generator)
    dst = _jittered_centres(joints, dst_idx, jitter, generator)  # (N, M, 2)
    srcc = _jittered_centres(joints[src], src_idx, jitter, generator)  # (N, M, 2)
    s = _half_sizes(n, m, hs, generator, device)  # (N, M, 2)
    ok = dst_ok & src_ok

    source = images[src]  # (N, C, H, W): the unmodified partner of each image
    ys = torch.arange(h, device=device)
    xs = torch.arange(w, device=device)
    out = images
    for k in range(m):  # small constant number of joint pairs
        dx, dy = dst[:, k, 0:1], dst[:, k, 1:2]  # (N, 1)
        sx, sy = s[:, k, 0:1], s[:, k, 1:2]
        src_rows = ys + (srcc[:, k, 1:2] - dy)  # (N, H) source row for each destination row
        src_cols = xs + (srcc[:, k, 0:1] - dx)  # (N, W)
        row_ok = (ys >= dy - sy) & (ys < dy + sy) & (src_rows >= 0) & (src_rows < h) & ok[:, k : k + 1]
        col_ok = (xs >= dx - sx) & (xs < dx + sx) & (src_cols >= 0) & (src_cols < w)
        mask = row_ok.unsqueeze(-1) & col_ok.unsqueeze(-2)  # (N, H, W)
        rows_idx = src_rows.clamp(0, h - 1).view(n, 1, h, 1).expand(n, c, h, w)
        cols_idx = src_cols.clamp(0, w - 1).view(n, 1, 1, w).expand(n, c, h, w)
        patch = source.gather(2, rows_idx).gather(3, cols_idx)
        out = torch.where(mask.unsqueeze(1), patch, out)
    return out if m > 0 else images.clone()


def yoco(images: Tensor, aux: Tensor, *, generator: torch.Generator) -> Tensor:
    """YOCO (spec §4.6): per image, one half comes from ``aux``.

    With probability 0.5 the bottom rows ``[H//2, H)`` are taken from ``aux``, otherwise the
    right columns ``[W//2, W)``. Unlike the reference, ``images`` is not modified in place.

    Args:
        images: ``(N, C, H, W)`` first view.
        aux: ``(N, C, H, W)`` second view of the same crops.
        generator: random source on ``images.device``.

    Returns:
        ``(N, C, H, W)`` new tensor.
    """
    n, _, h, w = _check_images(images)
    if aux.shape != images.shape:
        raise ValueError(f"aux {tuple(aux.shape)} must have the images' shape {tuple(images.shape)}")
    device = images.device
    bottom = torch.rand((n,), generator=generator, device=device) < 0.5
    rows = (torch.arange(h, device=device) >= h // 2).view(1, h, 1)
    cols = (torch.arange(w, device=device) >= w // 2).view(1, 1, w)
    mask = torch.where(bottom.view(n, 1, 1), rows, cols)  # (N, H, W)
    return torch.where(mask.unsqueeze(1), aux, images)


# --------------------------------------------------------------------------------------------
# photometric ops in [0, 255] pixel space (x: (N, 3, H, W) float32; params broadcast per sample)
# --------------------------------------------------------------------------------------------


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
    return ((x * _const(std, x) + _const(mean, x)) * 255.0).clamp(0.0, 255.0)


def _from_pixels(pix: Tensor, mean: Sequence[float], std: Sequence[float], dtype: torch.dtype) -> Tensor:
    return ((pix / 255.0 - _const(mean, pix)) / _const(std, pix)).to(dtype)


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
    """Add ``addition`` and clip to ``[0, 255]``, then solarize at ``threshold`` (spec §2.10)."""
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
    colour = _const(_CUTOUT_ABS_COLOUR, x)
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
    """RandAugment (RA, spec §2.10): ``num_ops`` photometric ops per image, fixed magnitude.

    Each image independently picks ``num_ops`` ops uniformly *with replacement* from the 11 ops
    of :data:`RA_OPS` and applies them in sequence. Each op's value is
    ``v = magnitude/30·(max − min) + min`` with the ranges of spec §2.10:

    * Posterize: ``v ∈ [0, 4]``, keep ``max(2, 6 − int(v))`` bits (4 bits at m = 20);
    * Solarize: ``v ∈ [0, 256]``, threshold ``256 − v``;
    * SolarizeAdd: ``v ∈ [0, 110]`` added and clipped, then solarize at 128;
    * Color / Contrast / Brightness / Sharpness: factor ``1 ± v`` with ``v ∈ [0, 0.9]`` and a
      random sign per image and op;
    * CutoutAbs: ``v ∈ [0, 80]``, a ``v × v`` px square of colour (125, 123, 114) whose centre is
      uniform over the image;
    * AutoContrast, Equalize, Invert: no parameter.

    The images are de-normalised with ``mean``/``std`` to RGB pixel values in ``[0, 255]``
    (clipped), processed in float32, and re-normalised. Every op is computed for the whole
    batch and selected per image with ``torch.where``. Differences from the reference: RGB data
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
    n, _, _, _ = _check_images(images)
    _check_rgb(images)
    k = _check_count("num_ops", num_ops)
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
        table: dict[str, Callable[[Tensor], Tensor]] = {
            "AutoContrast": _auto_contrast,
            "Equalize": _equalize,
            "Invert": _invert,
            "Posterize": lambda t: _posterize(t, bits),
            "Solarize": lambda t: _solarize(t, threshold),
            "SolarizeAdd": lambda t: _solarize_add(t, addition),
            "Color": lambda t: _color(t, factor),
            "Contrast": lambda t: _contrast(t, factor),
            "Brightness": lambda t: _brightness(t, factor),
            "Sharpness": lambda t: _sharpness(t, factor),
            "CutoutAbs": lambda t: _cutout_abs(t, cut, centre[:, slot]),
        }
        x = _apply_selected(x, choice[:, slot], pool, table)
    return _from_pixels(x, mean, std, images.dtype)


def _apply_selected(x: Tensor, choice: Tensor, pool: tuple[str, ...], table: dict[str, Callable[[Tensor], Tensor]]) -> Tensor:
    """Apply op ``pool[choice[i]]`` to image ``i``: every op runs on the batch, ``torch.where`` selects."""
    out = x
    for j, name in enumerate(pool):
        out = torch.where((choice == j).view(-1, 1, 1, 1), table[name](x), out)
    return out


def trivial_augment(
    images: Tensor,
    *,
    generator: torch.Generator,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    ops: Sequence[str] | None = None,
) -> Tensor:
    """TrivialAugment (TA, spec §2.11): one random op at a random level per image.

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
    n, _, _, _ = _check_images(images)
    _check_rgb(images)
    pool = _select_ops(ops, TA_OPS, "TrivialAugment")
    device = images.device
    choice = torch.randint(0, len(pool), (n,), generator=generator, device=device)
    level = torch.randint(0, 31, (n,), generator=generator, device=device)

    threshold = (256 - level * 256 // 30).float()
    bits = (8 - level * 4 // 30).float()
    factor = level.float() * (1.8 / 30.0) + 0.1

    x = _to_pixels(images, mean, std)
    table: dict[str, Callable[[Tensor], Tensor]] = {
        "Identity": _identity,
        "AutoContrast": _auto_contrast,
        "Equalize": _equalize,
        "Solarize": lambda t: _solarize(t, threshold),
        "Color": lambda t: _color(t, factor),
        "Posterize": lambda t: _posterize(t, bits),
        "Contrast": lambda t: _contrast(t, factor),
        "Brightness": lambda t: _brightness(t, factor),
        "Sharpness": lambda t: _sharpness(t, factor),
    }
    x = _apply_selected(x, choice, pool, table)
    return _from_pixels(x, mean, std, images.dtype)


# --------------------------------------------------------------------------------------------
# composition
# --------------------------------------------------------------------------------------------


@dataclass
class AugmentParams:
    """Hyper-parameters of the batch augmentations (plain ints / floats, YAML-friendly).

    Attributes:
        co_holes: CutOut holes per image.
        cm_holes: CutMix holes per image.
        jc_joints: Joint CutOut boxes per image.
        jo_joints: Joint Cut-Occlusion patches per image.
        half_size_min, half_size_max: integer box half-size range in pixels (all box ops).
        jitter: joint-centre jitter standard deviation in pixels (JC, JO).
        mixup_alpha: MixUp Beta concentration.
        mixup_min_lambda: MixUp lower bound of the own-image weight.
        ra_num_ops: RandAugment ops per image.
        ra_magnitude: RandAugment magnitude (0–30).
        fill: hole value for CO / JC in normalised space (0 = mean colour).
    """

    co_holes: int = 5
    cm_holes: int = 2
    jc_joints: int = 5
    jo_joints: int = 2
    half_size_min: int = 10
    half_size_max: int = 19
    jitter: float = 10.0
    mixup_alpha: float = 0.2
    mixup_min_lambda: float = 0.75
    ra_num_ops: int = 2
    ra_magnitude: float = 20.0
    fill: float = 0.0

    @property
    def half_size(self) -> tuple[int, int]:
        return (int(self.half_size_min), int(self.half_size_max))


@dataclass(kw_only=True)
class AugmentContext:
    """Per-call inputs of the augmentations besides the images.

    Attributes:
        joints: ``(N, K, 2)`` ``(x, y)`` joint positions in image pixels (needed by JC / JO).
        joint_valid: ``(N, K)`` bool joints usable as centres; None = all.
        generator: random source on the images' device.
        mean, std: image normalisation (RA / TA work in pixel space).
    """

    generator: torch.Generator
    joints: Tensor | None = None
    joint_valid: Tensor | None = None
    mean: tuple[float, ...] = field(default=IMAGENET_MEAN)
    std: tuple[float, ...] = field(default=IMAGENET_STD)


#: ``(images, ctx, params) -> images``
AugmentFn = Callable[[Tensor, AugmentContext, AugmentParams], Tensor]


def _require_joints(ctx: AugmentContext, code: str) -> Tensor:
    if ctx.joints is None:
        raise ValueError(f"augmentation {code!r} is joint-driven and needs ctx.joints (N, K, 2); got None")
    return ctx.joints


def _aug_co(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    return cutout(images, generator=ctx.generator, num_holes=p.co_holes, half_size=p.half_size, fill=p.fill)


def _aug_cm(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    return cutmix(images, generator=ctx.generator, num_holes=p.cm_holes, half_size=p.half_size)


def _aug_mu(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    return mixup(images, generator=ctx.generator, alpha=p.mixup_alpha, min_lambda=p.mixup_min_lambda)


def _aug_jc(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    joints = _require_joints(ctx, "JC")
    return joint_cutout(
        images,
        joints,
        ctx.joint_valid,
        generator=ctx.generator,
        num_joints=p.jc_joints,
        half_size=p.half_size,
        jitter=p.jitter,
        fill=p.fill,
    )


def _aug_jo(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    joints = _require_joints(ctx, "JO")
    return joint_cut_occlusion(
        images, joints, ctx.joint_valid, generator=ctx.generator, num_joints=p.jo_joints, half_size=p.half_size, jitter=p.jitter
    )


def _aug_ra(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    return rand_augment(images, generator=ctx.generator, num_ops=p.ra_num_ops, magnitude=p.ra_magnitude, mean=ctx.mean, std=ctx.std)


def _aug_ta(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    return trivial_augment(images, generator=ctx.generator, mean=ctx.mean, std=ctx.std)


def _aug_yocora(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    a = _aug_ra(images, ctx, p)
    b = _aug_ra(images, ctx, p)
    return yoco(a, b, generator=ctx.generator)


def _aug_yocota(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    a = _aug_ta(images, ctx, p)
    b = _aug_ta(images, ctx, p)
    return yoco(a, b, generator=ctx.generator)


#: Augmentation codes → ``(images, ctx, params) -> images``. YOCORA / YOCOTA: YOCO over two
#: independent RA / TA views of the same images.
AUGMENTATIONS: dict[str, AugmentFn] = {
    "CO": _aug_co,
    "CM": _aug_cm,
    "MU": _aug_mu,
    "JC": _aug_jc,
    "JO": _aug_jo,
    "RA": _aug_ra,
    "TA": _aug_ta,
    "YOCORA": _aug_yocora,
    "YOCOTA": _aug_yocota,
}
#: Codes that need ``ctx.joints``.
JOINT_AUGMENTATIONS: frozenset[str] = frozenset({"JC", "JO"})
#: Named combinations (spec §4.7), expanded by :func:`parse_recipe`.
COMBOS: dict[str, tuple[str, ...]] = {"JOCO": ("JO", "CO"), "JCCM": ("JC", "CM")}


def parse_recipe(spec: str) -> tuple[str, ...]:
    """Parse an augmentation recipe into its ordered codes.

    Codes are joined with ``+`` (case and surrounding spaces ignored); combos (:data:`COMBOS`)
    are expanded in place; ``""`` or ``"none"`` is the empty recipe.

    Examples:
        ``"JO+CO"`` → ``("JO", "CO")``; ``"JOCO"`` → ``("JO", "CO")``; ``"jc+cm"`` → ``("JC", "CM")``;
        ``"none"`` → ``()``.

    Raises:
        ValueError: for an unknown code, naming it and listing the known ones.
    """
    text = spec.strip()
    if text == "" or text.lower() == "none":
        return ()
    parts: list[str] = []
    for raw in text.split("+"):
        code = raw.strip().upper()
        if code in AUGMENTATIONS:
            parts.append(code)
        elif code in COMBOS:
            parts.extend(COMBOS[code])
        else:
            known = ", ".join([*AUGMENTATIONS, *COMBOS, "none"])
            raise ValueError(f"unknown augmentation code {raw.strip()!r} in recipe {spec!r}; known codes: {known}")
    return tuple(parts)


class Recipe:
    """An ordered chain of augmentations built from a recipe string.

    ``Recipe("JO+CO", params)(images, ctx)`` applies JO then CO. The callables are looked up in
    :data:`AUGMENTATIONS` at construction time.

    Attributes:
        parts: the expanded codes, in application order.
        params: the hyper-parameters passed to every part.
    """

    def __init__(self, spec: str, params: AugmentParams | None = None) -> None:
        self.parts: tuple[str, ...] = parse_recipe(spec)
        self.params: AugmentParams = params if params is not None else AugmentParams()
        self._fns: tuple[AugmentFn, ...] = tuple(AUGMENTATIONS[p] for p in self.parts)

    @property
    def name(self) -> str:
        """Canonical name: the codes joined with ``+`` (``"none"`` when empty)."""
        return "+".join(self.parts) if self.parts else "none"

    @property
    def needs_joints(self) -> bool:
        """Whether any part is joint-driven (JC / JO) and so needs ``ctx.joints``."""
        return any(p in JOINT_AUGMENTATIONS for p in self.parts)

    def __len__(self) -> int:
        return len(self.parts)

    def __call__(self, images: Tensor, ctx: AugmentContext) -> Tensor:
        """Apply the parts in order.

        Args:
            images: ``(N, C, H, W)`` normalised images (not modified).
            ctx: joints, generator, normalisation.

        Returns:
            ``(N, C, H, W)`` new tensor (a copy for the empty recipe).

        Raises:
            ValueError: if a joint-driven part is present and ``ctx.joints`` is None.
        """
        if self.needs_joints and ctx.joints is None:
            raise ValueError(f"recipe {self.name!r} contains joint-driven augmentations and needs ctx.joints (N, K, 2); got None")
        out = images
        for fn in self._fns:
            out = fn(out, ctx, self.params)
        return out if self._fns else images.clone()

    def __repr__(self) -> str:
        return f"Recipe({self.name!r})"
