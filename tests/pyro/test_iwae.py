"""``ImportanceWeightedELBO``: reparam's IWAE bound and gradients inside Pyro's SVI.

On the linear-Gaussian model (``tests/pyro/linear_gaussian.py``): the Pyro
objective's value and gradients equal :func:`reparam.iwae_bound`'s on the same
draws, and the DReG and standard gradients are unbiased for the exact
``grad L_3`` (Gauss-Hermite quadrature) in a z-test at a false-failure rate of
1e-4 (``tests/stats.py``, Bonferroni over the five parameters). Two wrong
versions go through the same checks and fail them: STL (DReG without the
squared weights, biased for ``k > 1``) and DReG with ``log q``'s parameters
left attached.
"""

from __future__ import annotations

import functools

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI
from torch import Tensor

from reparam import iwae_bound
from reparam.bounds import Gradient
from reparam.lab import LinearGaussian
from reparam.pyro import ImportanceWeightedELBO
from reparam.pyro._sites import Site
from tests.pyro.linear_gaussian import exact_bound_gradient, gradient, guide, leaves, model
from tests.stats import assert_unbiased

PROBLEM = LinearGaussian()
X = torch.tensor(PROBLEM.x, dtype=torch.float64)
K = 3
TRIALS = 2000


class AttachedDReG(ImportanceWeightedELBO):
    """Wrong on purpose: DReG's squared weights, with ``log q`` keeping its parameters."""

    def _log_q(self, site: Site) -> Tensor:
        return site["log_prob"]


@pytest.mark.parametrize("k", [1, 5])
@pytest.mark.parametrize("choice", ["standard", "stl", "dreg"])
def test_value_and_gradients_equal_iwae_bound_on_the_same_draws(choice: Gradient, k: int) -> None:
    p = leaves(PROBLEM)
    torch.manual_seed(k)
    elbo = ImportanceWeightedELBO(k, choice, max_plate_nesting=0)
    loss = elbo.differentiable_loss(model, guide, X, p)
    torch.manual_seed(k)
    q = leaves(PROBLEM)
    bound = PROBLEM.bound(q, k, choice)
    torch.testing.assert_close(-loss, bound, rtol=0, atol=1e-12)
    torch.testing.assert_close(gradient(-loss, p), gradient(bound, q), rtol=0, atol=1e-12)


def test_attached_dreg_differs_from_iwae_bound_on_the_same_draws() -> None:
    p, q = leaves(PROBLEM), leaves(PROBLEM)
    torch.manual_seed(5)
    loss = AttachedDReG(5, "dreg", max_plate_nesting=0).differentiable_loss(model, guide, X, p)
    torch.manual_seed(5)
    expected = gradient(PROBLEM.bound(q, 5, "dreg"), q)
    assert (gradient(-loss, p) - expected).abs().max() > 1e-3


@functools.cache
def exact() -> Tensor:
    return exact_bound_gradient(PROBLEM, K)


def estimates(elbo: ImportanceWeightedELBO, trials: int, seed: int) -> Tensor:
    torch.manual_seed(seed)
    rows = []
    for _ in range(trials):
        p = leaves(PROBLEM)
        rows.append(gradient(-elbo.differentiable_loss(model, guide, X, p), p))
    return torch.stack(rows)


@pytest.mark.parametrize("choice", ["standard", "dreg"])
def test_gradient_is_unbiased_for_the_exact_bound_gradient(choice: Gradient) -> None:
    elbo = ImportanceWeightedELBO(K, choice, max_plate_nesting=0)
    assert_unbiased(estimates(elbo, TRIALS, seed=1), exact())


def test_dreg_without_vectorized_particles_is_unbiased_too() -> None:
    elbo = ImportanceWeightedELBO(K, "dreg", max_plate_nesting=0, vectorize_particles=False)
    assert_unbiased(estimates(elbo, TRIALS // 2, seed=2), exact())


@pytest.mark.parametrize(
    "wrong",
    [
        ImportanceWeightedELBO(K, "stl", max_plate_nesting=0),
        AttachedDReG(K, "dreg", max_plate_nesting=0),
    ],
    ids=["stl", "attached-dreg"],
)
def test_a_wrong_gradient_fails_the_same_check(wrong: ImportanceWeightedELBO) -> None:
    with pytest.raises(AssertionError, match="gradient off by"):
        assert_unbiased(estimates(wrong, TRIALS, seed=1), exact())


def test_svi_trains_with_it_unchanged() -> None:
    pyro.clear_param_store()
    torch.manual_seed(0)

    def param_guide(x: Tensor) -> None:
        loc = pyro.param("loc", torch.tensor(-2.0, dtype=torch.float64))
        positive = dist.constraints.positive
        scale = pyro.param("scale", torch.tensor(0.3, dtype=torch.float64), positive)
        pyro.sample("z", dist.Normal(loc, scale))

    def fixed_model(x: Tensor) -> None:
        z = pyro.sample("z", dist.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    svi = SVI(fixed_model, param_guide, pyro.optim.Adam({"lr": 0.1}), ImportanceWeightedELBO(8))
    for _ in range(800):
        svi.step(X)
    # q reaches the posterior N(x / 2, 1/2), where L_8 = log p(x) (the DReG gradient is 0)
    assert abs(pyro.param("loc").item() - PROBLEM.x / 2) < 0.2
    assert abs(pyro.param("scale").item() - 0.5**0.5) < 0.2
    pyro.clear_param_store()


def test_a_non_reparameterizable_guide_site_is_refused_with_the_alternative() -> None:
    def bernoulli_guide() -> None:
        pyro.sample("b", dist.Bernoulli(torch.tensor(0.3)))

    def bernoulli_model() -> None:
        pyro.sample("b", dist.Bernoulli(torch.tensor(0.5)))

    with pytest.raises(ValueError, match=r"site 'b'.*EstimatorELBO"):
        ImportanceWeightedELBO(2, max_plate_nesting=0).loss(bernoulli_model, bernoulli_guide)


def test_a_site_computed_from_an_earlier_one_is_refused_for_stl_and_dreg() -> None:
    loc = torch.tensor(0.5, requires_grad=True)

    def chain_guide() -> None:
        z1 = pyro.sample("z1", dist.Normal(loc, 1.0))
        pyro.sample("z2", dist.Normal(z1, 1.0))

    def chain_model() -> None:
        z1 = pyro.sample("z1", dist.Normal(0.0, 1.0))
        pyro.sample("z2", dist.Normal(z1, 1.0))

    elbo = ImportanceWeightedELBO(2, "dreg", max_plate_nesting=0)
    with pytest.raises(ValueError, match=r"site 'z2'.*gradient='standard'"):
        elbo.differentiable_loss(chain_model, chain_guide)
    standard = ImportanceWeightedELBO(2, "standard", max_plate_nesting=0)
    assert standard.differentiable_loss(chain_model, chain_guide).requires_grad


def test_an_unknown_gradient_is_refused() -> None:
    with pytest.raises(ValueError, match="gradient must be one of"):
        ImportanceWeightedELBO(2, "sticking")  # type: ignore[arg-type]


XS = torch.tensor([1.5, -0.4, 0.7], dtype=torch.float64)


def plated_model(x: Tensor, p: dict[str, Tensor]) -> None:
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(p["mu"], torch.ones_like(p["mu"])))
        pyro.sample("x", dist.Normal(z, p["s"]), obs=x)


def plated_guide(x: Tensor, p: dict[str, Tensor]) -> None:
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(p["a"] * x + p["b"], p["c"]))


def per_point_bound(p: dict[str, Tensor], k: int, choice: Gradient) -> Tensor:
    q = dist.Normal(p["a"] * XS + p["b"], p["c"])

    def log_joint(z: Tensor) -> Tensor:
        return dist.Normal(p["mu"], 1.0).log_prob(z) + dist.Normal(z, p["s"]).log_prob(XS)

    return iwae_bound(log_joint, q, k, choice).sum()


@pytest.mark.parametrize("vectorize", [True, False], ids=["vectorized", "sequential"])
@pytest.mark.parametrize("choice", ["standard", "stl", "dreg"])
def test_one_bound_per_data_point_as_iwae_bound_gives(choice: Gradient, vectorize: bool) -> None:
    p, q = leaves(PROBLEM), leaves(PROBLEM)
    torch.manual_seed(7)
    elbo = ImportanceWeightedELBO(5, choice, max_plate_nesting=1, vectorize_particles=vectorize)
    loss = elbo.differentiable_loss(plated_model, plated_guide, XS, p)
    torch.manual_seed(7)
    bound = per_point_bound(q, 5, choice)
    torch.testing.assert_close(-loss, bound, rtol=0, atol=1e-12)
    torch.testing.assert_close(gradient(-loss, p), gradient(bound, q), rtol=0, atol=1e-12)
