"""Hard-view recipes: augmentation codes (``"JO+CO"``, ``"JOCO"``, ``"RA"`` …) bound to the
batched functions of :mod:`~semipose.ssl.occlusion` and :mod:`~semipose.ssl.photometric`.

The grammar and the code names are torch-free (:mod:`semipose.params`, which configs are
checked against); this module maps each code to its function and chains them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..image import IMAGENET_MEAN, IMAGENET_STD
from ..params import AUGMENT_CODES, JOINT_AUGMENTATIONS, AugmentParams, parse_recipe
from .occlusion import cutmix, cutout, joint_cut_occlusion, joint_cutout, mixup, yoco
from .photometric import rand_augment, trivial_augment

__all__ = ["instance_scale", "AugmentContext", "AugmentFn", "AUGMENTATIONS", "Recipe"]


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
    #: the recipe's own intermediate result, which box augmentations may write into (set by
    #: :class:`Recipe` for its second and later parts)
    owned: Tensor | None = None
    #: ``(N,)`` factors in (0, 1] on the box sizes and jitter of each sample (instance-relative
    #: hard views: :func:`instance_scale`); None: the sizes as configured
    size_scale: Tensor | None = None


#: ``(images, ctx, params) -> images``
AugmentFn = Callable[[Tensor, AugmentContext, AugmentParams], Tensor]


def instance_scale(joints: Tensor, valid: Tensor, extent_px: float) -> Tensor:
    """``(N,)`` size factors of instance-relative hard views: each sample's keypoint extent (the
    longer side of its valid joints' bounding box, image pixels) over ``extent_px``, the extent
    the box sizes were chosen for, in (0, 1] (samples with fewer than two valid joints: 1).

    Args:
        joints: ``(N, K, 2)`` image pixels; valid: ``(N, K)`` bool.
    """
    big = torch.finfo(joints.dtype).max
    v = valid[..., None] & torch.isfinite(joints)
    lo = torch.where(v, joints, torch.full_like(joints, big)).amin(dim=1)
    hi = torch.where(v, joints, torch.full_like(joints, -big)).amax(dim=1)
    extent = (hi - lo).amax(dim=1)
    enough = valid.sum(dim=1) >= 2
    return torch.where(enough, (extent / float(extent_px)).clamp(1e-3, 1.0), torch.ones_like(extent))


def _require_joints(ctx: AugmentContext, code: str) -> Tensor:
    if ctx.joints is None:
        raise ValueError(f"augmentation {code!r} is joint-driven and needs ctx.joints (N, K, 2); got None")
    return ctx.joints


def _aug_co(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    return cutout(images, generator=ctx.generator, num_holes=p.co_holes, half_size=p.half_size, fill=p.fill, inplace=ctx.owned is images,
                  size_scale=ctx.size_scale)


def _aug_cm(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    return cutmix(images, generator=ctx.generator, num_holes=p.cm_holes, half_size=p.half_size, inplace=ctx.owned is images,
                  size_scale=ctx.size_scale)


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
        inplace=ctx.owned is images,
        size_scale=ctx.size_scale,
    )


def _aug_jo(images: Tensor, ctx: AugmentContext, p: AugmentParams) -> Tensor:
    joints = _require_joints(ctx, "JO")
    return joint_cut_occlusion(
        images, joints, ctx.joint_valid, generator=ctx.generator, num_joints=p.jo_joints, half_size=p.half_size, jitter=p.jitter,
        inplace=ctx.owned is images, size_scale=ctx.size_scale,
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
assert tuple(AUGMENTATIONS) == AUGMENT_CODES, "every code of semipose.params has one implementation"


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
        for i, fn in enumerate(self._fns):
            # every part after the first gets the recipe's own intermediate result: box
            # augmentations may write into it instead of copying the batch again
            ctx.owned = out if i > 0 else None
            out = fn(out, ctx, self.params)
        ctx.owned = None
        return out if self._fns else images.clone()

    def __repr__(self) -> str:
        return f"Recipe({self.name!r})"
