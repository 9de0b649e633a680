"""Bad inputs get clear errors; shapes, temperatures and schedules behave as documented."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Independent, Normal, OneHotCategorical

import reparam
from reparam.estimators import EstimatorError, UnsupportedDistributionError

DISCRETE = [  # the registered estimators for discrete variables only
    name
    for name, factory in reparam.ESTIMATORS.items()
    if factory().supports(Bernoulli(logits=torch.zeros(2)))
    and not factory().supports(Normal(torch.zeros(2), 1.0))
]


def test_the_discrete_estimators_are_found_in_the_registry() -> None:
    assert {"gumbel-softmax", "straight-through", "arm", "relax"} <= set(DISCRETE)


@pytest.mark.parametrize("name", DISCRETE)
def test_unsupported_distribution_names_what_is_supported(name: str) -> None:
    with pytest.raises(UnsupportedDistributionError, match="supports Bernoulli"):
        reparam.expectation(lambda z: z, Normal(torch.zeros(2), 1.0), name)
    assert not reparam.ESTIMATORS[name]().supports(Normal(0.0, 1.0))


@pytest.mark.parametrize("name", ["arm", "disarm"])
def test_antithetic_estimators_refuse_categorical(name: str) -> None:
    dist = OneHotCategorical(logits=torch.zeros(3))
    with pytest.raises(UnsupportedDistributionError, match="'relax'"):
        reparam.expectation(lambda z: z.sum(-1), dist, name)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperature(bad: float) -> None:
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        reparam.GumbelSoftmax(bad)
    with pytest.raises(ValueError, match="temperature"):
        reparam.ConcreteControlVariate(temperature=bad)


def test_schedule_returning_a_bad_temperature_fails_at_sampling() -> None:
    values = iter([1.0, 0.0])
    estimator = reparam.GumbelSoftmax(lambda: next(values))
    estimator.surrogate(lambda z: z, Bernoulli(logits=torch.zeros(2)), 1)  # reads 1.0
    with pytest.raises(ValueError, match=r"got 0\.0"):
        estimator.surrogate(lambda z: z, Bernoulli(logits=torch.zeros(2)), 1)


def test_annealing_schedule_is_explicit_state() -> None:
    schedule = reparam.ExponentialAnnealing(initial=1.0, rate=0.1, minimum=0.3)
    estimator = reparam.GumbelSoftmax(schedule)
    assert schedule() == 1.0
    schedule.advance(5)
    assert schedule() == pytest.approx(0.60653, abs=1e-5)
    schedule.advance(100)
    assert schedule() == 0.3
    assert estimator.temperature is schedule
    with pytest.raises(ValueError, match="rate"):
        reparam.ExponentialAnnealing(rate=-1.0)


def test_leave_one_out_needs_two_samples() -> None:
    with pytest.raises(EstimatorError, match="num_samples >= 2"):
        reparam.expectation(lambda z: z, Bernoulli(logits=torch.zeros(2)), "score-loo", 1)


def test_categorical_gives_f_one_hot_vectors() -> None:
    logits = torch.zeros(5, 4, requires_grad=True)
    for name in ["gumbel-softmax", "st-gumbel-softmax", "straight-through", "relax"]:
        shapes = []

        def f(z: torch.Tensor, shapes: list[torch.Size] = shapes) -> torch.Tensor:
            shapes.append(z.shape)
            return z[..., 1]

        value = reparam.expectation(f, Categorical(logits=logits), name, 3)
        assert value.shape == (5,)
        assert shapes[0] == (3, 5, 4), name


def test_shapes_of_independent_and_paired_samples() -> None:
    logits = torch.zeros(7, 200, requires_grad=True)
    dist = Independent(Bernoulli(logits=logits), 1)
    seen: list[torch.Size] = []

    def f(z: torch.Tensor) -> torch.Tensor:
        seen.append(z.shape)
        return z.sum(-1)

    for name in ["arm", "disarm"]:
        assert reparam.expectation(f, dist, name, 3).shape == (7,)
    assert seen == [(6, 7, 200), (6, 7, 200)]  # 3 antithetic pairs, 2 calls of f each
    categorical = Independent(OneHotCategorical(logits=torch.zeros(7, 20, 10)), 1)
    value = reparam.expectation(lambda z: z[..., 0].sum(-1), categorical, "relax", 2)
    assert value.shape == (7,)


def test_straight_through_values_are_exact_samples() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1000, requires_grad=True)
    for name in ["straight-through", "st-gumbel-softmax"]:
        h = reparam.expectation(lambda z: z, Bernoulli(logits=logits), name, 1)
        assert set(h.detach().unique().tolist()) <= {0.0, 1.0}


def test_relax_gradients_reduce_variance_of_the_toy() -> None:
    """A few steps on d/dpsi E[g^2] lower the variance of RELAX on the toy."""
    torch.manual_seed(0)
    estimator = reparam.RELAX()

    def variance() -> float:
        logits = torch.full((20_000,), 1.0, requires_grad=True)
        value = reparam.expectation(lambda z: (z - 0.45) ** 2, Bernoulli(logits=logits), estimator)
        (grad,) = torch.autograd.grad(value.sum(), logits)
        return grad.var().item()

    before = variance()
    optimizer = torch.optim.Adam(estimator.control_variate.parameters(), lr=0.1)
    for _ in range(40):
        logits = torch.full((256,), 1.0, requires_grad=True)
        objective = reparam.expectation(
            lambda z: (z - 0.45) ** 2, Bernoulli(logits=logits), estimator
        ).sum()
        _, loss = estimator.gradients(objective, [logits])
        optimizer.zero_grad()
        loss.backward(inputs=list(estimator.control_variate.parameters()))
        optimizer.step()
    after = variance()
    assert after < 0.8 * before
