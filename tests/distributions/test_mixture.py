"""MixtureSameFamily.rsample: univariate and diagonal-Gaussian components, and refusals."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Beta, Categorical, Independent, MultivariateNormal, Normal

import reparam
from reparam.distributions import MixtureSameFamily, TruncatedNormal, VonMises
from tests.distributions.helpers import exact_gradients, gradient_terms
from tests.stats import (
    assert_ks,
    assert_mean,
    ks_statistics,
    ks_threshold,
    mean_z_scores,
    z_threshold,
)

F64 = torch.float64
LOGITS = torch.tensor([0.3, -0.5, 0.1], dtype=F64)
LOCS = torch.tensor([-2.0, 0.5, 3.0], dtype=F64)
SCALES = torch.tensor([0.7, 1.2, 0.4], dtype=F64)


def normal_mixture(
    logits: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor
) -> MixtureSameFamily:
    return MixtureSameFamily(Categorical(logits=logits), Normal(locs, scales))


def second_moment(logits: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``E[x + x^2 / 4]`` from the closed-form mixture mean and variance."""
    mix = normal_mixture(logits, locs, scales)
    return mix.mean + 0.25 * (mix.variance + mix.mean**2)


def test_univariate_pathwise_gradient_is_unbiased() -> None:
    torch.manual_seed(0)
    params = [LOGITS, LOCS, SCALES]
    terms = gradient_terms(lambda x: x + 0.25 * x**2, normal_mixture, params, num=10_000)
    for term, exact in zip(terms, exact_gradients(second_moment, params), strict=True):
        assert_mean(term, exact)


def test_score_function_estimator_works_with_log_prob() -> None:
    torch.manual_seed(1)
    params = [LOGITS, LOCS, SCALES]
    terms = gradient_terms(lambda x: x + 0.25 * x**2, normal_mixture, params, 20_000, "score")
    for term, exact in zip(terms, exact_gradients(second_moment, params), strict=True):
        assert_mean(term, exact)


def test_reparameterizing_only_the_chosen_component_fails_the_z_test() -> None:
    # The common shortcut: pick k, return loc_k + scale_k * eps. It gives the
    # mixture weights no gradient at all.
    torch.manual_seed(2)
    logits = LOGITS.expand(10_000, 3).clone().requires_grad_(True)
    k = Categorical(logits=logits).sample()
    x = LOCS[k] + SCALES[k] * torch.randn(10_000, dtype=F64) + 0.0 * logits.sum(-1)
    (wrong,) = torch.autograd.grad((x + 0.25 * x**2).sum(), logits)
    exact = exact_gradients(second_moment, [LOGITS, LOCS, SCALES])[0]
    assert mean_z_scores(wrong, exact).abs().max() > z_threshold()


def diagonal_mixture(
    logits: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor
) -> MixtureSameFamily:
    return MixtureSameFamily(Categorical(logits=logits), Independent(Normal(locs, scales), 1))


DIAG = [
    torch.tensor([0.2, -0.4], dtype=F64),
    torch.tensor([[-1.0, 0.5, 0.0], [1.0, 2.0, -1.0]], dtype=F64),
    torch.tensor([[1.0, 0.5, 0.8], [0.7, 1.5, 0.6]], dtype=F64),
]


def cross_moment(logits: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``E[sum_j x_j^2 + x_1 x_2 x_3]`` in closed form: per component, then mixed."""
    per_component = (locs**2 + scales**2).sum(-1) + locs.prod(-1)
    return (torch.softmax(logits, -1) * per_component).sum(-1)


def cost(x: torch.Tensor) -> torch.Tensor:
    return (x**2).sum(-1) + x.prod(-1)


def test_diagonal_gaussian_mixture_gradient_is_unbiased() -> None:
    torch.manual_seed(3)
    terms = gradient_terms(cost, diagonal_mixture, DIAG, num=10_000)
    for term, exact in zip(terms, exact_gradients(cross_moment, DIAG), strict=True):
        assert_mean(term, exact)


def test_sequential_construction_without_the_coupling_fails_the_z_test() -> None:
    # Reparameterizing each coordinate through its *marginal* mixture CDF (ignoring
    # the earlier coordinates) is a different, wrong transport.
    torch.manual_seed(4)
    logits, locs, scales = (p.expand(10_000, *p.shape).clone().requires_grad_(True) for p in DIAG)
    mix = diagonal_mixture(logits, locs, scales)
    with torch.no_grad():
        x = mix.sample((1,))
    columns = []
    for j in range(3):
        marginal = normal_mixture(logits, locs[..., j], scales[..., j])
        xj = x[..., j]
        columns.append(
            xj
            - (marginal.cdf(xj) - marginal.cdf(xj).detach()) / marginal.log_prob(xj).exp().detach()
        )
    wrong = torch.autograd.grad(cost(torch.stack(columns, -1)).sum(), locs)[0]
    exact = exact_gradients(cross_moment, DIAG)[1]
    assert mean_z_scores(wrong, exact).abs().max() > z_threshold()


def test_univariate_samples_pass_a_ks_test() -> None:
    torch.manual_seed(5)
    mix = normal_mixture(LOGITS, LOCS, SCALES)
    assert_ks(mix.cdf(mix.rsample((5000,))))
    wrong = normal_mixture(LOGITS, LOCS, 1.3 * SCALES).rsample((5000,))
    assert ks_statistics(mix.cdf(wrong)) > ks_threshold(5000)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_other_components_with_a_cdf_and_no_nan(dtype: torch.dtype) -> None:
    torch.manual_seed(6)
    logits = torch.zeros(2, dtype=dtype, requires_grad=True)
    loc = torch.tensor([0.0, 8.5], dtype=dtype, requires_grad=True)
    components = [
        # Disjoint supports: each component must accept the other's samples.
        TruncatedNormal(loc, torch.ones(2, dtype=dtype), loc - 1, loc + 1, validate_args=False),
        VonMises(loc, torch.tensor([1e-3, 1e3], dtype=dtype)),
        Normal(loc, torch.tensor([1e-3, 10.0], dtype=dtype)),
    ]
    for component in components:
        x = MixtureSameFamily(Categorical(logits=logits), component).rsample((500,))
        grads = torch.autograd.grad(torch.sin(x).sum(), [logits, loc])
        assert bool(torch.isfinite(x).all()) and all(bool(torch.isfinite(g).all()) for g in grads)


def test_unsupported_components_raise_clear_errors() -> None:
    mvn = MultivariateNormal(torch.zeros(2, 3), torch.eye(3))
    mix = MixtureSameFamily(Categorical(logits=torch.zeros(2)), mvn)
    with pytest.raises(NotImplementedError, match=r"Independent\(Normal"):
        mix.rsample()
    beta = MixtureSameFamily(Categorical(logits=torch.zeros(2)), Beta(torch.ones(2), 1.0))
    with pytest.raises(NotImplementedError, match="Beta has none"):
        reparam.expectation(lambda x: x, beta)


def test_mismatched_weights_are_rejected_naming_them() -> None:
    with pytest.raises(ValueError, match="mixture_distribution"):
        MixtureSameFamily(Categorical(logits=torch.zeros(3)), Normal(torch.zeros(2), 1.0))


def test_components_with_disjoint_supports_under_validation() -> None:
    # The mixture's support is the union of its components': each sample lies in one.
    torch.manual_seed(0)
    loc = torch.tensor([-1.5, 1.5], requires_grad=True)
    components = TruncatedNormal(loc, 1.0, torch.tensor([-2.0, 1.0]), torch.tensor([-1.0, 2.0]))
    mix = MixtureSameFamily(Categorical(torch.ones(2)), components, validate_args=True)
    x = mix.rsample((400,))
    assert bool((((x >= -2) & (x <= -1)) | ((x >= 1) & (x <= 2))).all())
    assert bool(mix.log_prob(x).isfinite().all())
    assert bool(((mix.cdf(x) >= 0) & (mix.cdf(x) <= 1)).all())
    x.sum().backward()
    assert loc.grad is not None and bool(loc.grad.isfinite().all())
    with pytest.raises(ValueError, match="support"):
        mix.log_prob(torch.tensor(0.0))  # in neither interval


def test_components_without_expand_still_work() -> None:
    class NoExpand(Normal):
        def expand(self, batch_shape: object, _instance: object = None) -> Normal:
            raise NotImplementedError

    torch.manual_seed(1)
    mix = MixtureSameFamily(
        Categorical(torch.ones(2)), NoExpand(torch.tensor([-1.0, 1.0]), 1.0), validate_args=True
    )
    x = torch.tensor([0.3, -2.0])
    expected = Normal(torch.tensor([-1.0, 1.0]), 1.0).log_prob(x.unsqueeze(-1)).exp().mean(-1)
    torch.testing.assert_close(mix.log_prob(x).exp(), expected)
