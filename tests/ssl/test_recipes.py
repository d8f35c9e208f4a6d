"""Recipes (semipose.ssl.recipes, semipose.params): parsing, order, purity, seeding, argument checks."""

from __future__ import annotations

import pytest
import torch
from _augment_helpers import H, W, _single_thread, coded_images, gen, rand_images, random_joints, run_code, to_norm, to_pix  # noqa: F401 - _single_thread is an autouse fixture

from semipose.params import COMBOS, AugmentParams, parse_recipe
from semipose.ssl.occlusion import cutmix, cutout, joint_cut_occlusion, joint_cutout, mixup, yoco
from semipose.ssl.recipes import AUGMENTATIONS, AugmentContext, Recipe


def test_parse_recipe():
    assert parse_recipe("JO+CO") == ("JO", "CO")
    assert parse_recipe("JOCO") == ("JO", "CO")
    assert parse_recipe("jc+cm") == ("JC", "CM")
    assert parse_recipe(" jccm + MU ") == ("JC", "CM", "MU")
    assert parse_recipe("none") == () and parse_recipe("") == () and parse_recipe("None") == ()
    assert parse_recipe("yocora") == ("YOCORA",)
    assert COMBOS == {"JOCO": ("JO", "CO"), "JCCM": ("JC", "CM")}
    with pytest.raises(ValueError, match=r"'XX'.*known codes: CO, CM, MU, JC, JO"):
        parse_recipe("JO+XX")


def test_recipe_applies_parts_in_order(monkeypatch):
    calls = []

    def make(code):
        def fn(images, ctx, params):
            calls.append(code)
            return images + 1

        return fn

    for code in ("JO", "CO", "MU"):
        monkeypatch.setitem(AUGMENTATIONS, code, make(code))
    r = Recipe("MU+JOCO")
    out = r(torch.zeros((1, 3, 2, 2)), AugmentContext(generator=gen(0), joints=torch.zeros((1, 1, 2))))
    assert calls == ["MU", "JO", "CO"] and torch.all(out == 3)
    assert r.name == "MU+JO+CO" and r.needs_joints and len(r) == 3


def test_recipe_order_is_observable_with_real_ops():
    x = rand_images(4, seed=3)
    p = AugmentParams(fill=7.0, co_holes=3)
    co_then_mu = Recipe("CO+MU", p)(x, AugmentContext(generator=gen(1)))
    mu_then_co = Recipe("MU+CO", p)(x, AugmentContext(generator=gen(1)))
    # filling last leaves exact fill values; mixing after the fill blurs them (except fixed points)
    assert (mu_then_co == 7.0).sum() > 0
    assert (co_then_mu == 7.0).sum() < (mu_then_co == 7.0).sum()


def test_recipe_joint_checks_and_empty_recipe():
    x = rand_images(2)
    ctx = AugmentContext(generator=gen(0))
    for spec in ("JC", "JO", "JOCO", "JCCM"):
        r = Recipe(spec)
        assert r.needs_joints
        with pytest.raises(ValueError, match="joints"):
            r(x, ctx)
        with pytest.raises(ValueError, match="joints"):
            AUGMENTATIONS[r.parts[0]](x, ctx, AugmentParams())
    assert not Recipe("CO+CM+MU+RA+TA+YOCORA+YOCOTA").needs_joints
    empty = Recipe("none")
    out = empty(x, ctx)
    assert torch.equal(out, x) and out is not x and empty.name == "none"


def test_augment_params_are_plain_yaml_types():
    import dataclasses

    p = AugmentParams()
    for f in dataclasses.fields(p):
        assert type(getattr(p, f.name)) in (int, float, str)  # numbers, and the name of what sizes are relative to
    assert p.half_size == (10, 19)


# ------------------------------------------------------------------------------------------
# every code: determinism, purity, N = 1, no_grad, non-square
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(AUGMENTATIONS))
def test_every_augmentation_is_seeded_pure_and_shape_preserving(code):
    x = rand_images(4, 40, 28, seed=5)
    before = x.clone()
    with torch.no_grad():
        a = run_code(code, x, seed=1)
        b = run_code(code, x, seed=1)
        c = run_code(code, x, seed=2)
    assert torch.equal(x, before)  # input untouched
    assert a.shape == x.shape and a.dtype == x.dtype and torch.isfinite(a).all()
    assert torch.equal(a, b)  # same seed → same output
    assert not torch.equal(a, c)  # different seed → different output
    assert not torch.equal(a, x)
    torch.manual_seed(123)  # the global RNG plays no part: only the explicit generator
    assert torch.equal(run_code(code, x, seed=1), a)
    one = run_code(code, x[:1].clone(), seed=3)  # N = 1
    assert one.shape == (1, 3, 40, 28) and torch.isfinite(one).all()


def test_requires_grad_inputs_stay_untouched():
    x = rand_images(2).requires_grad_(True)
    out = cutout(x, generator=gen(0))
    assert out.requires_grad and x.grad is None
    out.sum().backward()
    assert x.grad is not None and (x.grad == 0).any()


def test_functions_need_an_explicit_generator_and_validate_arguments():
    x = rand_images(2)
    with pytest.raises(TypeError):
        cutout(x)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="half_size"):
        cutout(x, generator=gen(0), half_size=(5, 2))
    with pytest.raises(ValueError, match="joints"):
        joint_cutout(x, torch.zeros((3, 2, 2)), None, generator=gen(0))
    with pytest.raises(ValueError, match="aux"):
        yoco(x, x[:1], generator=gen(0))
    assert torch.equal(cutout(x, generator=gen(0), num_holes=0), x)
    assert torch.allclose(mixup(x[:1], generator=gen(0)), x[:1], atol=1e-6)
    assert torch.equal(cutmix(x[:1], generator=gen(0)), x[:1])


def test_a_recipe_chains_box_augmentations_in_place_without_touching_its_input():
    """JO+CO+CM through a recipe (the later parts write into the recipe's own intermediate
    result) equals the functions applied one after another, and the easy view is unchanged."""
    x = rand_images(6)
    before = x.clone()
    joints = random_joints(6, 5)
    p = AugmentParams()
    chained = Recipe("JO+CO+CM", p)(x, AugmentContext(generator=gen(4), joints=joints))
    g = gen(4)
    step = joint_cut_occlusion(x, joints, None, generator=g, num_joints=p.jo_joints, half_size=p.half_size, jitter=p.jitter)
    step = cutout(step, generator=g, num_holes=p.co_holes, half_size=p.half_size, fill=p.fill)
    step = cutmix(step, generator=g, num_holes=p.cm_holes, half_size=p.half_size)
    assert torch.equal(chained, step) and torch.equal(x, before)
    # called directly, a box augmentation never writes into its argument, even its own result
    once = cutout(x, generator=gen(1))
    again = cutout(once, generator=gen(2))
    assert not torch.equal(once, again) and torch.equal(once, cutout(x, generator=gen(1)))
