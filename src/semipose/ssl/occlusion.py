"""Occlusion and mixing augmentations of the hard views: CutOut, CutMix, MixUp, Joint CutOut,
Joint Cut-Occlusion and YOCO, batched over ``(N, C, H, W)`` normalised images.

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

Differences from the reference implementation (``docs/differences.md``), all deliberate:

* CO/CM hole centres are uniform over the real image (x in ``[0, W)``, y in ``[0, H)``) and
  JC boxes are clipped to the real ``H × W``, so holes reach every part of a non-square image,
  including the bottom ``H − W`` rows the reference never touches.
* JO patches are centred on the joints (x is a column, y a row), the last row and column are
  reachable, and the source image is always *another* image of the batch (when ``N > 1``).
  Destination pixels whose source position falls outside the source image are left unchanged
  instead of the reference's zero-fill fallback.
* JC/JO centres are drawn (with replacement, like the reference) only among the valid joints;
  a sample without a valid joint gets no box.
* Jittered centres are rounded to the nearest pixel (the reference truncates toward zero).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._batch import check_batch, check_count, permutation

__all__ = ["cutout", "cutmix", "mixup", "joint_cutout", "joint_cut_occlusion", "yoco"]


def _check_half_size(half_size: tuple[int, int]) -> tuple[int, int]:
    lo, hi = int(half_size[0]), int(half_size[1])
    if lo < 0 or hi < lo:
        raise ValueError(f"half_size must be (min, max) with 0 <= min <= max, got {tuple(half_size)}")
    return lo, hi




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


def _half_sizes(n: int, m: int, half_size: tuple[int, int], generator: torch.Generator, device: torch.device,
                scale: Tensor | None = None) -> Tensor:
    """``(n, m, 2)`` integer half sizes ``(sx, sy)``, each uniform in ``[min, max]`` — times the
    sample's ``scale`` ``(n,)`` in (0, 1] when given (the same draws; rounded, at least 1)."""
    lo, hi = half_size
    s = torch.randint(lo, hi + 1, (n, m, 2), generator=generator, device=device)
    if scale is None:
        return s
    return torch.floor(s * scale.to(device=device, dtype=torch.float32).view(n, 1, 1) + 0.5).clamp(min=1).long()


def _check_scale(scale: Tensor | None, n: int) -> Tensor | None:
    """``size_scale``: None, or ``(N,)`` factors in (0, 1] (boxes never outgrow ``half_size``'s max)."""
    if scale is None:
        return None
    if tuple(scale.shape) != (n,):
        raise ValueError(f"size_scale must be ({n},), got shape {tuple(scale.shape)}")
    return scale.float().clamp(1e-3, 1.0)


def _box_cells(cx: Tensor, cy: Tensor, sx: Tensor, sy: Tensor, side: int, height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """The pixels of boxes ``[cx − sx, cx + sx) × [cy − sy, cy + sy)`` on a ``side × side`` grid
    per box (``side`` ≥ the largest box side), so the work grows with the box area, not the image's.

    Args:
        cx, cy, sx, sy: ``(N, M)`` integer centres / half sizes (x = column, y = row).

    Returns:
        ``rows (N, M, side, 1)``, ``cols (N, M, 1, side)`` (long, possibly outside the image) and
        ``inside (N, M, side, side)`` bool: the cell belongs to the box and lies in the image.
    """
    p = torch.arange(side, device=cx.device)
    rows = (cy - sy).unsqueeze(-1) + p  # (N, M, side)
    cols = (cx - sx).unsqueeze(-1) + p
    row_in = (p < 2 * sy.unsqueeze(-1)) & (rows >= 0) & (rows < height)
    col_in = (p < 2 * sx.unsqueeze(-1)) & (cols >= 0) & (cols < width)
    return rows.unsqueeze(-1), cols.unsqueeze(-2), row_in.unsqueeze(-1) & col_in.unsqueeze(-2)


class _Canvas:
    """A copy of ``(N, C, H, W)`` images as rows of pixels, ``(N·H·W + 1, C)``, with one spare
    row at the end, into which boxes of cells are written with one ``index_fill_`` /
    ``index_copy_`` over pixels (no mask over the whole image, no host sync). Cells outside
    their box or the image go to the spare row. The result is a channels_last tensor.

    With ``inplace``, images that are themselves a canvas's result (channels_last, with the
    spare row in their storage) are written in place: a recipe's chain of box augmentations
    copies the batch once."""

    def __init__(self, images: Tensor, inplace: bool = False) -> None:
        self.n, self.c, self.h, self.w = images.shape
        self.hw = self.h * self.w
        self.spare = self.n * self.hw
        storage = images.untyped_storage()
        if inplace and images.storage_offset() == 0 and images.is_contiguous(memory_format=torch.channels_last) and (
            storage.nbytes() == (self.spare + 1) * self.c * images.element_size()
        ):
            self.rows = images.new_empty(0).set_(storage, 0, (self.spare + 1, self.c), (self.c, 1))
        else:
            self.rows = images.new_empty(self.spare + 1, self.c)
            self.image().copy_(images)

    def image(self) -> Tensor:
        """The images, ``(N, C, H, W)`` in channels_last memory."""
        return self.rows[: self.spare].view(self.n, self.h, self.w, self.c).permute(0, 3, 1, 2)


    def index(self, image: Tensor, rows: Tensor, cols: Tensor, inside: Tensor) -> Tensor:
        """Pixel-row index of every cell: ``(N, cells)`` long for cells of image ``image`` (``(N,)``)
        at ``rows`` / ``cols`` (the spare row where not ``inside``)."""
        pix = (rows * self.w + cols).reshape(self.n, -1)
        flat = image.reshape(self.n, 1) * self.hw + pix
        return torch.where(inside.reshape(self.n, -1), flat, self.spare)

    def fill(self, index: Tensor, value: float) -> None:
        self.rows.index_fill_(0, index.reshape(-1), value)

    def gather(self, index: Tensor) -> Tensor:
        """The pixel rows at ``index`` as they are now (a copy: later writes do not change it)."""
        return self.rows.index_select(0, index.reshape(-1))

    def copy(self, index: Tensor, values: Tensor) -> None:
        """Write pixel rows ``values`` (from :meth:`gather`) at ``index``."""
        self.rows.index_copy_(0, index.reshape(-1), values)



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


def _jittered_centres(joints: Tensor, idx: Tensor, jitter: float, generator: torch.Generator, scale: Tensor | None = None) -> Tensor:
    """``(N, M, 2)`` long pixel centres: chosen joints + N(0, 1)·jitter (× the sample's ``scale``),
    rounded to the nearest pixel."""
    n, m = idx.shape
    picked = joints.gather(1, idx.unsqueeze(-1).expand(n, m, 2))
    noise = torch.randn((n, m, 2), generator=generator, device=joints.device)
    if scale is not None:
        noise = noise * scale.to(noise.device).view(n, 1, 1)
    centres = torch.floor(picked + noise * float(jitter) + 0.5)
    # keep far-away / huge coordinates representable; boxes are clipped to the image anyway
    return centres.clamp(-(2**30), 2**30).long()




def cutout(
    images: Tensor,
    *,
    generator: torch.Generator,
    num_holes: int = 5,
    half_size: tuple[int, int] = (10, 19),
    fill: float = 0.0,
    inplace: bool = False,
    size_scale: Tensor | None = None,
) -> Tensor:
    """CutOut (CO): fill ``num_holes`` random boxes per image with ``fill``.

    Hole centres are uniform over the whole image (x in ``[0, W)``, y in ``[0, H)``), half sizes
    are independent integers uniform in ``half_size`` per axis, and the box
    ``[c − s, c + s)`` is clipped to the image. Unlike the reference (``docs/differences.md``) the holes reach every
    part of a non-square image, including its bottom rows.

    Args:
        images: ``(N, C, H, W)`` normalised images.
        generator: random source on ``images.device``.
        num_holes: holes per image.
        half_size: ``(min, max)`` integer half size in pixels.
        fill: value written into the holes (``0`` = the mean colour in normalised space).
        inplace: see :class:`_Canvas` (a recipe's later parts); otherwise ``images`` is never modified.
        size_scale: ``(N,)`` factors in (0, 1] on each image's half sizes (instance-relative
            views, ``ssl.augment.size_relative_to: instance``); None: as given.

    Returns:
        ``(N, C, H, W)`` channels_last tensor.
    """
    n, _, h, w = check_batch(images)
    m = check_count("num_holes", num_holes)
    hs = _check_half_size(half_size)
    canvas = _Canvas(images, inplace)
    rows, cols, inside = _random_holes(n, m, h, w, hs, generator, images.device, _check_scale(size_scale, n))
    canvas.fill(canvas.index(torch.arange(n, device=images.device), rows, cols, inside), float(fill))
    return canvas.image()


def _random_holes(
    n: int, m: int, h: int, w: int, half_size: tuple[int, int], generator: torch.Generator, device: torch.device,
    scale: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The cells of ``m`` uniformly placed boxes per image (see :func:`_box_cells`)."""
    cx = torch.randint(0, w, (n, m), generator=generator, device=device)
    cy = torch.randint(0, h, (n, m), generator=generator, device=device)
    s = _half_sizes(n, m, half_size, generator, device, scale)
    return _box_cells(cx, cy, s[..., 0], s[..., 1], 2 * half_size[1], h, w)


def cutmix(
    images: Tensor,
    *,
    generator: torch.Generator,
    num_holes: int = 2,
    half_size: tuple[int, int] = (10, 19),
    inplace: bool = False,
    size_scale: Tensor | None = None,
) -> Tensor:
    """CutMix (CM): holes as in :func:`cutout`, filled from a partner image.

    The partner of image ``i`` is ``images[perm[i]]`` for one random permutation ``perm`` of the
    batch (it can be ``i`` itself, as in the reference); each hole takes the partner's pixels at
    the same location. Hole placement has the same fix as :func:`cutout`.

    Args:
        images: ``(N, C, H, W)``.
        generator: random source on ``images.device``.
        num_holes: holes per image.
        half_size: ``(min, max)`` integer half size in pixels.
        inplace: see :class:`_Canvas` (a recipe's later parts); otherwise ``images`` is never modified.

    Returns:
        ``(N, C, H, W)`` channels_last tensor.
    """
    n, _, h, w = check_batch(images)
    m = check_count("num_holes", num_holes)
    hs = _check_half_size(half_size)
    perm = permutation(n, generator, images.device)
    rows, cols, inside = _random_holes(n, m, h, w, hs, generator, images.device, _check_scale(size_scale, n))
    canvas = _Canvas(images, inplace)
    dst = canvas.index(torch.arange(n, device=images.device), rows, cols, inside)
    src = canvas.index(perm, rows, cols, inside)  # the partner's pixels at the same place
    canvas.copy(dst, canvas.gather(src))  # read before any write: the unmodified partner
    return canvas.image()


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
    """MixUp (MU): ``λ'·x + (1 − λ')·x[perm]`` with ``λ' ∈ (min_lambda, 1)``.

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
    n, _, _, _ = check_batch(images)
    if not 0.0 <= min_lambda <= 1.0:
        raise ValueError(f"min_lambda must be in [0, 1], got {min_lambda}")
    perm = permutation(n, generator, images.device)
    lam = _sample_beta(alpha, alpha, (n if per_sample else 1,), generator, images.device)
    lam = (1.0 - (1.0 - float(min_lambda)) * lam).to(images.dtype).view(-1, 1, 1, 1)
    # λ'·x + (1 − λ')·x[perm] as one gather and one in-place lerp (two passes over the batch)
    return images.index_select(0, perm).lerp_(images, lam)


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
    inplace: bool = False,
    size_scale: Tensor | None = None,
) -> Tensor:
    """Joint CutOut (JC): fill boxes around randomly chosen valid joints.

    Per sample, ``num_joints`` joints are drawn with replacement among the valid ones (fixed, see ``docs/differences.md``:
    never among invalid / unsupervised channels; a sample with no valid joint is left
    unchanged). Each centre is jittered by ``N(0, 1)·jitter`` px per axis and rounded, gets its
    own integer half sizes uniform in ``half_size``, and the box ``[c − s, c + s)`` clipped to the
    true ``H × W`` (fixed, ``docs/differences.md``) is set to ``fill``.

    Args:
        images: ``(N, C, H, W)``.
        joints: ``(N, K, 2)`` ``(x, y)`` in image pixels.
        joint_valid: ``(N, K)`` bool, or None for "all valid". Non-finite joints are never used.
        generator: random source on ``images.device``.
        num_joints: boxes per image.
        half_size: ``(min, max)`` integer half size in pixels.
        jitter: centre jitter standard deviation in pixels.
        fill: hole value.
        inplace: see :class:`_Canvas` (a recipe's later parts); otherwise ``images`` is never modified.

    Returns:
        ``(N, C, H, W)`` channels_last tensor.
    """
    n, _, h, w = check_batch(images)
    m = check_count("num_joints", num_joints)
    hs = _check_half_size(half_size)
    joints, valid = _check_joints(images, joints, joint_valid)
    scale = _check_scale(size_scale, n)
    idx, ok = _choose_valid(valid, m, generator)
    centres = _jittered_centres(joints, idx, jitter, generator, scale)
    s = _half_sizes(n, m, hs, generator, images.device, scale)
    rows, cols, inside = _box_cells(centres[..., 0], centres[..., 1], s[..., 0], s[..., 1], 2 * hs[1], h, w)
    canvas = _Canvas(images, inplace)
    canvas.fill(canvas.index(torch.arange(n, device=images.device), rows, cols, inside & ok[..., None, None]), float(fill))
    return canvas.image()


def joint_cut_occlusion(
    images: Tensor,
    joints: Tensor,
    joint_valid: Tensor | None,
    *,
    generator: torch.Generator,
    num_joints: int = 2,
    half_size: tuple[int, int] = (10, 19),
    jitter: float = 10.0,
    inplace: bool = False,
    size_scale: Tensor | None = None,
) -> Tensor:
    """Joint Cut-Occlusion (JO): paste another image's joint patches onto this image's joints.

    Per sample ``i`` one source image ``src = (i + r) mod N`` with ``r`` uniform in ``1 … N−1``
    (so always another image when ``N > 1``; the image itself when ``N == 1``). For each of
    ``num_joints`` pairs: a destination joint among the valid joints of ``i`` and a source joint
    among the valid joints of ``src`` (both with replacement, both jittered by
    ``N(0, 1)·jitter`` px and rounded), and integer half sizes ``(sx, sy)`` uniform in
    ``half_size``. The box ``[−sx, sx) × [−sy, sy)`` around the source joint is pasted so that it
    is centred on the destination joint. Content always comes from the unmodified input batch;
    later pairs overwrite earlier ones where they overlap.

    Fixes relative to the reference: patches are centred on the joints (the reference transposed x and y),
    the last row/column are reachable, joints come only from valid ones (``docs/differences.md``), the source is
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
        inplace: see :class:`_Canvas` (a recipe's later parts); otherwise ``images`` is never modified.

    Returns:
        ``(N, C, H, W)`` channels_last tensor.
    """
    n, c, h, w = check_batch(images)
    m = check_count("num_joints", num_joints)
    hs = _check_half_size(half_size)
    joints, valid = _check_joints(images, joints, joint_valid)
    device = images.device

    r = torch.randint(1, max(n, 2), (n,), generator=generator, device=device)
    src = (torch.arange(n, device=device) + r) % n  # (N,)
    src_valid = valid[src]
    dst_idx, dst_ok = _choose_valid(valid, m, generator)
    src_idx, src_ok = _choose_valid(src_valid, m, generator)
    scale = _check_scale(size_scale, n)  # of the destination image: the patch fits the instance it occludes
    dst = _jittered_centres(joints, dst_idx, jitter, generator, scale)  # (N, M, 2)
    srcc = _jittered_centres(joints[src], src_idx, jitter, generator, None if scale is None else scale[src])  # (N, M, 2)
    s = _half_sizes(n, m, hs, generator, device, scale)  # (N, M, 2)
    ok = dst_ok & src_ok

    canvas = _Canvas(images, inplace)
    rows, cols, inside = _box_cells(dst[..., 0], dst[..., 1], s[..., 0], s[..., 1], 2 * hs[1], h, w)
    off = srcc - dst  # (N, M, 2): source position − destination position
    src_rows = rows + off[..., 1, None, None]
    src_cols = cols + off[..., 0, None, None]
    inside = inside & ok[..., None, None] & (src_rows >= 0) & (src_rows < h) & (src_cols >= 0) & (src_cols < w)
    here = torch.arange(n, device=device)
    to = [canvas.index(here, rows[:, k], cols[:, k], inside[:, k]) for k in range(m)]
    # every patch is read from the unmodified batch before any is written
    patches = [canvas.gather(canvas.index(src, src_rows[:, k], src_cols[:, k], inside[:, k])) for k in range(m)]
    for t, patch in zip(to, patches):  # a small constant number of pairs; a later one overwrites an earlier one
        canvas.copy(t, patch)
    return canvas.image()


def yoco(images: Tensor, aux: Tensor, *, generator: torch.Generator) -> Tensor:
    """YOCO: per image, one half comes from ``aux``.

    With probability 0.5 the bottom rows ``[H//2, H)`` are taken from ``aux``, otherwise the
    right columns ``[W//2, W)``. Unlike the reference, ``images`` is not modified in place.

    Args:
        images: ``(N, C, H, W)`` first view.
        aux: ``(N, C, H, W)`` second view of the same crops.
        generator: random source on ``images.device``.

    Returns:
        ``(N, C, H, W)`` new tensor.
    """
    n, _, h, w = check_batch(images)
    if aux.shape != images.shape:
        raise ValueError(f"aux {tuple(aux.shape)} must have the images' shape {tuple(images.shape)}")
    device = images.device
    bottom = torch.rand((n,), generator=generator, device=device) < 0.5
    rows = (torch.arange(h, device=device) >= h // 2).view(1, h, 1)
    cols = (torch.arange(w, device=device) >= w // 2).view(1, 1, w)
    mask = torch.where(bottom.view(n, 1, 1), rows, cols)  # (N, H, W)
    return torch.where(mask.unsqueeze(1), aux, images)
