"""The fused placement of a von Mises-Fisher sample against automatic differentiation."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from reparam.distributions._von_mises_fisher import place_sample, reflect_from_first_axis

F64 = torch.float64


def unfused(theta: Tensor, tangent: Tensor, direction: Tensor) -> Tensor:
    local = torch.cat([theta.cos().unsqueeze(-1), theta.sin().unsqueeze(-1) * tangent], -1)
    return reflect_from_first_axis(local, direction)


@pytest.mark.parametrize(
    ("direction_shape", "sample_shape"),
    [((5,), (7,)), ((5,), ()), ((100,), (3, 4)), ((3, 5), (4, 3)), ((2, 1, 5), (3, 2, 4))],
)
def test_gradients_match_autograd_through_the_reflection(
    direction_shape: tuple[int, ...], sample_shape: tuple[int, ...]
) -> None:
    gen = torch.Generator().manual_seed(len(sample_shape) + direction_shape[-1])
    d = direction_shape[-1]
    raw = torch.randn(direction_shape, generator=gen, dtype=F64)
    raw[..., 0] = torch.where(torch.rand(raw.shape[:-1], generator=gen) < 0.5, -1.0, 1.0).to(raw)
    direction = torch.nn.functional.normalize(raw, dim=-1).requires_grad_(True)
    theta = (3.1 * torch.rand(sample_shape, generator=gen, dtype=F64)).requires_grad_(True)
    tangent = torch.randn(*sample_shape, d - 1, generator=gen, dtype=F64)
    tangent = torch.nn.functional.normalize(tangent, dim=-1)
    weights = torch.randn(*torch.broadcast_shapes(theta.shape, raw.shape[:-1]), d, generator=gen)
    fused, reference = place_sample(theta, tangent, direction), unfused(theta, tangent, direction)
    torch.testing.assert_close(fused, reference, rtol=0, atol=1e-14)
    for got, want in zip(
        torch.autograd.grad((weights.to(F64) * fused).sum(), [theta, direction]),
        torch.autograd.grad((weights.to(F64) * reference).sum(), [theta, direction]),
        strict=True,
    ):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_the_comparison_rejects_a_wrong_direction_gradient() -> None:
    # Dropping the dependence of c = 2 / |u|^2 on the direction is a plausible slip;
    # the comparison above must see it.
    gen = torch.Generator().manual_seed(0)
    raw = torch.tensor([0.7, -0.2, 0.5, 0.4], dtype=F64)  # first coordinate > 0: s = 1
    direction = torch.nn.functional.normalize(raw, dim=0).requires_grad_(True)
    theta = torch.rand(6, generator=gen, dtype=F64)
    tangent = torch.nn.functional.normalize(torch.randn(6, 3, generator=gen, dtype=F64), dim=-1)
    local = torch.cat([theta.cos().unsqueeze(-1), theta.sin().unsqueeze(-1) * tangent], -1)
    u = torch.cat([direction[:1] + 1.0, direction[1:]])
    c = 2.0 / (u * u).sum().detach()
    wrong = torch.autograd.grad((-(local - c * (local @ u).unsqueeze(-1) * u)).sum(), direction)
    right = torch.autograd.grad(place_sample(theta, tangent, direction).sum(), direction)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(wrong[0], right[0], rtol=1e-12, atol=1e-12)
