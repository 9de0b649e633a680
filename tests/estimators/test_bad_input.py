"""Bad input gives a clear error (type and message), never a silent wrong gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Categorical,
    Distribution,
    Gamma,
    Independent,
    MultivariateNormal,
    Normal,
    Uniform,
)

from reparam import (
    ControlVariate,
    LeaveOneOut,
    MeasureValued,
    MovingAverage,
    Pathwise,
    ScoreFunction,
    expectation,
    per_sample_gradients,
)
from reparam.estimators import CostError, EstimatorError, UnsupportedDistributionError

MU = torch.zeros(3, requires_grad=True)


def square(z: torch.Tensor) -> torch.Tensor:
    return z**2


@pytest.mark.parametrize("num_samples", [0, -2])
def test_num_samples_below_one(num_samples: int) -> None:
    with pytest.raises(EstimatorError, match="num_samples must be >= 1"):
        expectation(square, Normal(MU, 1.0), num_samples=num_samples)


@pytest.mark.parametrize("num_samples", [2.0, "4", True, None])
def test_num_samples_not_an_int(num_samples: object) -> None:
    with pytest.raises(TypeError, match="num_samples must be an int"):
        expectation(square, Normal(MU, 1.0), num_samples=num_samples)


def test_num_samples_may_be_any_integer_type() -> None:
    assert expectation(square, Normal(MU, 1.0), num_samples=np.int64(3)).shape == (3,)


@pytest.mark.parametrize("estimator", ["pathwise", "score", "mvd"])
def test_cost_of_the_wrong_shape_names_the_shapes(estimator: str) -> None:
    with pytest.raises(CostError, match=r"\[4, 3\].*got \[4\]"):
        expectation(lambda z: z.sum(-1), Normal(MU, 1.0), estimator, num_samples=4)


def test_cost_that_is_not_a_tensor() -> None:
    with pytest.raises(CostError, match="got float"):
        expectation(lambda z: 1.0, Normal(MU, 1.0))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("estimator", ["pathwise", "score", "mvd"])
def test_non_finite_costs(bad: float, estimator: str) -> None:
    def f(z: torch.Tensor) -> torch.Tensor:
        return torch.where(z > 0, bad, z) + 0 * z

    torch.manual_seed(0)
    with pytest.raises(CostError, match="non-finite"):
        expectation(f, Normal(torch.zeros(50), 1.0), estimator, num_samples=4)


def test_finite_costs_whose_sum_overflows_pass() -> None:
    """The cheap finiteness check falls back to the exact one when the sum overflows."""
    big = torch.finfo(torch.float32).max
    h = Pathwise().surrogate(lambda z: z * 0 + big, Normal(MU, 1.0), num_samples=2)
    assert bool(torch.isfinite(h).all()) and not torch.isfinite(h.sum())


def test_invalid_distribution_parameters_are_rejected_by_torch() -> None:
    with pytest.raises(ValueError, match="scale"):
        Normal(0.0, -1.0)


def test_unvalidated_bad_parameters_surface_as_non_finite_costs() -> None:
    dist = Normal(torch.tensor([0.0, float("nan")]), 1.0, validate_args=False)
    with pytest.raises(CostError, match="non-finite"):
        expectation(square, dist)


def test_pathwise_on_a_discrete_distribution_names_what_applies() -> None:
    with pytest.raises(UnsupportedDistributionError) as caught:
        expectation(square, Bernoulli(logits=MU), "pathwise")
    message = str(caught.value)
    assert "Bernoulli has no reparameterized sampler" in message
    assert "Estimators that apply to Bernoulli: 'score', 'score-loo'" in message
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "dist",
    [
        Gamma(torch.ones(2), 1.0),
        MultivariateNormal(torch.zeros(2), torch.eye(2)),
        Categorical(logits=torch.zeros(3)),
    ],
    ids=lambda d: type(d).__name__,
)
def test_measure_valued_names_the_supported_distributions(dist: Distribution) -> None:
    with pytest.raises(UnsupportedDistributionError, match=r"supports Normal and Independent"):
        expectation(lambda z: z.reshape(z.shape[0], -1).sum(-1) * 0 + 1, dist, "mvd")


def test_measure_valued_accepts_independent_normal() -> None:
    assert MeasureValued().supports(Independent(Normal(torch.zeros(2, 3), 1.0), 1))
    assert not MeasureValued().supports(Independent(Gamma(torch.ones(2, 3), 1.0), 1))


def test_score_function_refuses_a_support_that_depends_on_a_parameter() -> None:
    high = torch.tensor(2.0, requires_grad=True)
    with pytest.raises(UnsupportedDistributionError, match=r"upper bound.*pathwise"):
        expectation(square, Uniform(0.0, high), "score")
    assert ScoreFunction().supports(Uniform(0.0, high.detach()))


def test_leave_one_out_with_one_sample() -> None:
    with pytest.raises(EstimatorError, match="needs num_samples >= 2"):
        expectation(square, Normal(MU, 1.0), "score-loo", num_samples=1)
    with pytest.raises(EstimatorError, match="num_samples >= 2"):
        LeaveOneOut()(torch.ones(1, 3))


def test_estimated_control_variate_coefficient_with_two_samples() -> None:
    cv = ControlVariate(lambda z: z, mean=lambda d: d.mean)
    with pytest.raises(EstimatorError, match="num_samples >= 3"):
        expectation(square, Normal(MU, 1.0), ScoreFunction(control_variates=[cv]), 2)


def test_moving_average_refuses_a_changed_batch_shape() -> None:
    estimator = ScoreFunction(baseline=MovingAverage())
    expectation(square, Normal(MU, 1.0), estimator)
    with pytest.raises(EstimatorError, match=r"batch shape \[5\].*reset\(\)"):
        expectation(square, Normal(torch.zeros(5), 1.0), estimator)


def test_moving_average_decay_must_be_in_range() -> None:
    with pytest.raises(EstimatorError, match="decay"):
        MovingAverage(decay=1.0)


def test_unknown_estimator_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown estimator 'reinforce'.*pathwise"):
        expectation(square, Normal(MU, 1.0), "reinforce")
    with pytest.raises(TypeError, match="estimator must be an Estimator"):
        expectation(square, Normal(MU, 1.0), 3)


def test_dist_must_be_a_distribution() -> None:
    with pytest.raises(TypeError, match=r"torch\.distributions\.Distribution, got Tensor"):
        expectation(square, MU)
    with pytest.raises(TypeError, match="Distribution"):
        per_sample_gradients(square, MU, [MU])


def test_num_samples_that_cannot_fit_is_refused_with_an_estimate() -> None:
    with pytest.raises(EstimatorError, match=r"num_samples=1000000000000 would need 12 TB"):
        expectation(square, Normal(MU, 1.0), num_samples=10**12)
    with pytest.raises(EstimatorError, match=r"\[1000000000000, 3, 2\] of torch.float64"):
        dist = Independent(Normal(torch.zeros(3, 2, dtype=torch.float64), 1.0), 1)
        per_sample_gradients(square, dist, [MU], num_samples=10**12)


def test_moving_average_follows_the_costs_dtype() -> None:
    baseline = MovingAverage(decay=0.5)
    mu = torch.zeros(3, requires_grad=True)
    estimator = ScoreFunction(baseline=baseline)
    expectation(square, Normal(mu, 1.0), estimator, 4)
    assert baseline.average is not None and baseline.average.dtype == torch.float32
    mu64 = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    expectation(square, Normal(mu64, 1.0), estimator, 4).sum().backward()
    assert baseline.average.dtype == torch.float64 and mu64.grad is not None


def test_moving_average_blends_the_previous_average_in_the_new_dtype() -> None:
    baseline = MovingAverage(decay=0.5)
    assert baseline(torch.tensor([[2.0]])).item() == 0.0
    assert baseline(torch.tensor([[4.0]], dtype=torch.float64)).dtype == torch.float64
    assert baseline.average is not None and baseline.average.item() == 3.0


def test_complex_costs_are_refused_naming_the_cost() -> None:
    with pytest.raises(CostError, match=r"f must return real costs, got dtype torch\.complex64"):
        expectation(lambda z: z * 1j, Normal(MU, 1.0))
