"""Measure-valued estimator: only what needs a gradient is estimated, and the chain rule.

Its unbiasedness for Normal with independent dimensions (batch dimensions,
``Normal``, and event dimensions, ``Independent(Normal)``; gradients in the
mean and the scale, coupled and uncoupled; constant, linear, quadratic and
non-polynomial costs) is checked by the registry's suite, ``test_unbiased.py``.
z-tests at false-failure rate 1e-4 per check.
"""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

from reparam import MeasureValued, expectation
from tests.estimators import cases
from tests.stats import assert_unbiased

TRIALS = 4000


def test_the_measure_valued_families_are_the_independent_normals() -> None:
    """``supports`` finds ``Normal`` and ``Independent(Normal)``, and no other family."""
    found = [f.name for f in cases.ALL if MeasureValued().supports(f.trial_distribution(1)[1])]
    assert found == [f.name for f in cases.NORMALS]


@pytest.mark.parametrize("coupled", [True, False])
def test_only_the_parameters_that_need_grad_are_estimated(coupled: bool) -> None:
    """A fixed scale costs no evaluations and gets no gradient; the mean's is unbiased.

    ``f = z^2`` with ``z ~ N(mu, s)``: ``d/dmu = 2 mu``.
    """
    torch.manual_seed(32)
    calls: list[int] = []

    def f(z: torch.Tensor) -> torch.Tensor:
        calls.append(z.shape[0])
        return z**2

    mu = torch.full((TRIALS,), 0.7, dtype=cases.DTYPE, requires_grad=True)
    scale = torch.full((TRIALS,), 1.3, dtype=cases.DTYPE)
    expectation(f, Normal(mu, scale), MeasureValued(coupled=coupled), 3).sum().backward()
    assert calls == [3, 2 * 3]  # the samples, then the mean's two parts
    assert mu.grad is not None
    assert_unbiased(mu.grad.unsqueeze(1), torch.tensor([1.4], dtype=cases.DTYPE))


def test_gradient_reaches_what_loc_and_scale_were_computed_from() -> None:
    """``loc = 2 w``, ``scale = exp(v)``: the chain rule carries on past the distribution.

    ``E z^2 = 4 w^2 + exp(2 v)``: ``d/dw = 8 w``, ``d/dv = 2 exp(2 v)``.
    """
    torch.manual_seed(33)
    w = torch.full((TRIALS,), 0.4, dtype=cases.DTYPE, requires_grad=True)
    v = torch.full((TRIALS,), 0.1, dtype=cases.DTYPE, requires_grad=True)
    expectation(lambda z: z**2, Normal(2 * w, v.exp()), "mvd", 2).sum().backward()
    assert w.grad is not None and v.grad is not None
    exact = torch.tensor([8 * 0.4, 2 * torch.e**0.2], dtype=cases.DTYPE)
    assert_unbiased(torch.stack([w.grad, v.grad], dim=1), exact)
