"""The closed-form Gaussian-mixture path agrees with the generic construction.

``MixtureSameFamily.rsample`` takes a fused closed-form path for ``Normal`` and
``Independent(Normal, 1)`` components; the generic path differentiates the
components' ``cdf`` and ``log_prob`` by automatic differentiation. Both must give
the same per-sample gradients, to rounding (the statistical tests of
``test_mixture.py`` then cover both).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.distributions import Categorical, Independent, Normal

from reparam.distributions import MixtureSameFamily
from reparam.distributions._mixture import gaussian_mixture_sample

F64 = torch.float64


def make(
    dims: int, batch: tuple[int, ...], dtype: torch.dtype, probs: bool = False
) -> tuple[MixtureSameFamily, list[Tensor]]:
    """Three components; ``dims = 0``: univariate Normals, else diagonal in ``R^dims``."""
    gen = torch.Generator().manual_seed(dims + len(batch))
    event = () if dims == 0 else (dims,)
    logits = torch.randn(*batch, 3, generator=gen, dtype=F64)
    loc = 2 * torch.randn(*batch, 3, *event, generator=gen, dtype=F64)
    scale = 0.3 + torch.rand(*batch, 3, *event, generator=gen, dtype=F64)
    params = [p.to(dtype).requires_grad_(True) for p in (logits, loc, scale)]
    normal = Normal(params[1], params[2])
    mixing = (
        Categorical(probs=torch.softmax(params[0], -1)) if probs else Categorical(logits=params[0])
    )
    return MixtureSameFamily(mixing, normal if dims == 0 else Independent(normal, 1)), params


def generic(mix: MixtureSameFamily, x: Tensor) -> Tensor:
    if mix._event_ndims == 0:
        return mix._univariate(x)
    return mix._sequential(x, mix.component_distribution.base_dist)  # type: ignore[attr-defined]


def marginal(mix: MixtureSameFamily, x: Tensor) -> Tensor:
    """A wrong transport: each coordinate through its marginal mixture CDF."""
    base = mix.component_distribution.base_dist  # type: ignore[attr-defined]
    weights = torch.softmax(mix.mixture_distribution.logits, -1).unsqueeze(-1)
    points = x.unsqueeze(-2)
    cdf = (weights * base.cdf(points)).sum(-2)
    density = (weights * base.log_prob(points).exp()).sum(-2)
    return x - (cdf - cdf.detach()) / density.detach()


def grads_of(x: Tensor, weights: Tensor, params: list[Tensor]) -> tuple[Tensor, ...]:
    return torch.autograd.grad((weights * x).sum(), params, retain_graph=True)


@pytest.mark.parametrize("dims", [0, 1, 4])
@pytest.mark.parametrize("batch", [(), (2,)])
@pytest.mark.parametrize("sample_shape", [(), (7, 5)])
def test_fast_path_matches_the_generic_construction(
    dims: int, batch: tuple[int, ...], sample_shape: tuple[int, ...]
) -> None:
    torch.manual_seed(dims)
    mix, params = make(dims, batch, F64, probs=bool(batch))
    assert mix._normal_components() is not None
    fast = mix.rsample(sample_shape)
    weights = torch.randn_like(fast)
    reference = generic(mix, fast.detach())
    assert torch.equal(fast.detach(), reference.detach())
    for got, want in zip(
        grads_of(fast, weights, params), grads_of(reference, weights, params), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_the_comparison_rejects_a_wrong_transport() -> None:
    torch.manual_seed(1)
    mix, params = make(3, (), F64)
    x = mix.sample((50,))
    weights = torch.ones_like(x)
    wrong = grads_of(marginal(mix, x), weights, params)[1]
    right = grads_of(generic(mix, x), weights, params)[1]
    with pytest.raises(AssertionError):
        torch.testing.assert_close(wrong, right, rtol=1e-10, atol=1e-12)


def test_float32_agrees_with_float64() -> None:
    torch.manual_seed(0)
    (mix32, params32), (mix64, params64) = make(3, (), torch.float32), make(3, (), F64)
    x = mix64.sample((200,))
    torch.manual_seed(0)
    weights = torch.randn_like(x)
    got = grads_of(gaussian_mixture_sample(x.float(), *_args(mix32)), weights.float(), params32)
    want = grads_of(generic(mix64, x), weights, params64)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g.double(), w, rtol=1e-4, atol=1e-3)


def _args(mix: MixtureSameFamily) -> tuple[Tensor, Tensor, Tensor]:
    normal = mix._normal_components()
    assert normal is not None
    return mix.mixture_distribution.logits, normal[0], normal[1]


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_far_tails_give_finite_gradients(dtype: torch.dtype) -> None:
    mix, params = make(2, (), dtype)
    x = torch.tensor([[-60.0, 0.0], [-12.0, 3.0], [0.0, 0.0], [15.0, -20.0], [60.0, 60.0]])
    y = gaussian_mixture_sample(x.to(dtype), *_args(mix))
    grads = torch.autograd.grad(y.sum(), params)
    assert all(bool(torch.isfinite(g).all()) for g in grads)
