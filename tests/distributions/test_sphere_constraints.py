"""The unit-vector constraint, its transforms, and expand/mode/device of the sphere's laws."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import biject_to, transform_to

from reparam.distributions import HypersphericalUniform, VonMisesFisher
from reparam.distributions._constraints import unit_norm_tolerance, unit_vector

F32_EPS = torch.finfo(torch.float32).eps


@pytest.mark.parametrize("dim", [2, 3, 10, 100, 1000])
def test_a_float32_normalised_vector_cast_to_float64_is_a_unit_vector(dim: int) -> None:
    generator = torch.Generator().manual_seed(dim)
    x = torch.nn.functional.normalize(torch.randn(500, dim, generator=generator), dim=-1)
    x64 = x.double()
    off = (torch.linalg.vector_norm(x64, dim=-1) - 1).abs().max().item()
    assert off > 100 * torch.finfo(torch.float64).eps  # float64's own 100 eps would refuse it
    assert bool(unit_vector.check(x64).all())
    VonMisesFisher(x64[0], torch.tensor(2.0, dtype=torch.float64), validate_args=True)


def test_vectors_off_the_sphere_are_still_refused() -> None:
    for dtype in (torch.float32, torch.float64):
        tol = unit_norm_tolerance(dtype)
        assert tol == pytest.approx(100 * F32_EPS)
        x = torch.tensor([[1.0 + 4 * tol, 0.0], [0.6, 0.8], [0.6, 0.8 + 4 * tol]], dtype=dtype)
        assert unit_vector.check(x).tolist() == [False, True, False]
        with pytest.raises(ValueError, match="loc"):
            VonMisesFisher(x[0], 2.0, validate_args=True)


def test_transform_to_normalises() -> None:
    t = transform_to(unit_vector)
    x = torch.tensor([[3.0, 4.0], [-2.0, 0.0]])
    assert torch.equal(t(x), torch.tensor([[0.6, 0.8], [-1.0, 0.0]]))
    assert not t.bijective and bool(unit_vector.check(t(torch.randn(7, 5))).all())


@pytest.mark.parametrize("dim", [2, 3, 6])
def test_biject_to_is_the_inverse_stereographic_projection(dim: int) -> None:
    t = biject_to(unit_vector)
    assert t.bijective
    y = torch.randn(50, dim - 1, dtype=torch.float64)
    x = t(y)
    assert x.shape == (50, dim) and bool(unit_vector.check(x).all())
    torch.testing.assert_close(t.inv(x), y)
    assert t.forward_shape(y.shape) == x.shape and t.inv.forward_shape(x.shape) == y.shape
    # log|det J| against the sphere's area: sqrt(det(J^T J)) of the embedding's Jacobian
    jac = torch.func.vmap(torch.func.jacrev(t))(y)
    area = 0.5 * torch.logdet(jac.transpose(-1, -2) @ jac)
    torch.testing.assert_close(t.log_abs_det_jacobian(y, x), area)


def test_biject_to_carries_a_density_on_the_sphere() -> None:
    # Pushing the uniform density on S^2 back through the bijection integrates to 1.
    t = biject_to(unit_vector)
    grid = torch.linspace(-60, 60, 2001, dtype=torch.float64)
    y = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    density = torch.exp(t.log_abs_det_jacobian(y, t(y)) - math.log(4 * math.pi))
    total = density.sum().item() * (grid[1] - grid[0]).item() ** 2
    assert total == pytest.approx(1.0, abs=2e-3)  # the grid's far corners leave ~1e-3 out


def test_hyperspherical_uniform_follows_the_default_device() -> None:
    torch.set_default_device("meta")
    try:
        dist = HypersphericalUniform(3, (2,))
        assert dist.rsample((4,)).device.type == "meta"
        assert dist.entropy().device.type == "meta"
    finally:
        # None removes the default-device mode; "cpu" would leave one on torch's
        # function-mode stack for every later test in this process.
        torch.set_default_device(None)
    assert HypersphericalUniform(3).rsample().device.type == "cpu"
    assert not torch.overrides._get_current_function_mode_stack()


def test_hyperspherical_uniform_mode_is_nan() -> None:
    mode = HypersphericalUniform(4, (2,), dtype=torch.float64).mode
    assert mode.shape == (2, 4) and mode.dtype == torch.float64 and bool(mode.isnan().all())


class _SubVMF(VonMisesFisher):
    pass


class _SubUniform(HypersphericalUniform):
    pass


def test_expand_keeps_validation_and_the_subclass() -> None:
    loc = torch.tensor([0.0, 0.0, 1.0])
    vmf = _SubVMF(loc, 2.0, validate_args=True).expand((2,))
    assert type(vmf) is _SubVMF and vmf.batch_shape == (2,) and vmf.loc.shape == (2, 3)
    with pytest.raises(ValueError, match="support"):
        vmf.log_prob(torch.tensor([0.0, 2.0, 0.0]))
    uniform = _SubUniform(3, validate_args=True).expand((2,))
    assert type(uniform) is _SubUniform and uniform.batch_shape == (2,)
    with pytest.raises(ValueError, match="support"):
        uniform.log_prob(torch.tensor([0.0, 2.0, 0.0]))
    quiet = VonMisesFisher(loc, 2.0, validate_args=False).expand((2,))
    assert quiet.log_prob(torch.tensor([0.0, 2.0, 0.0])).shape == (2,)
