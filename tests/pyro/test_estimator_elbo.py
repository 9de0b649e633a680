"""``EstimatorELBO``: reparam's estimators at a Pyro guide's Bernoulli site, unbiased.

On the model of ``tests/pyro/bernoulli_model.py`` (three bits in a plate and a
reparameterized Gaussian), the ELBO gradient with each estimator, over the
guide's logits and mean and the model's weights, passes a z-test against the
exact gradient by enumeration, and the ELBO estimate against the exact ELBO, at
a false-failure rate of 1e-4 (``tests/stats.py``, Bonferroni over the eight
values); a deliberately wrong version of each goes through the same check and
fails it. The bits are a plate, so score-loo and DisARM get per-bit costs with
the shared terms spread (``EstimatorELBO``'s docstring), and RELAX the whole site.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from reparam import RELAX, DisARM, Estimator, ScoreFunction
from reparam.estimators import Cost, evaluate_cost, magic_box
from reparam.estimators._discrete import discrete_view
from reparam.estimators._gumbel_softmax import harden, perturbed_logits
from reparam.pyro import EstimatorELBO
from tests.pyro.bernoulli_model import exact_elbo, flat_gradient, guide, model, values
from tests.stats import assert_unbiased

TRIALS = 500
NUM_SAMPLES = 2


class SelfBaseline:
    """Wrong: a baseline that depends on the sample it multiplies (here, its own cost)."""

    min_samples = 1

    def __call__(self, costs: Tensor) -> Tensor:
        return costs


class DisARMWithoutWeight(DisARM):
    """Wrong: DisARM without its ``sigmoid(|phi|)`` factor."""

    name = "disarm-without-weight"

    def coefficient(
        self, diff: Tensor, u: Tensor, b: Tensor, b_anti: Tensor, phi: Tensor
    ) -> Tensor:
        return 0.5 * diff * (1.0 - 2.0 * b_anti) * (b != b_anti).to(phi.dtype)


class RELAXUnconditional(RELAX):
    """Wrong: RELAX with ``z~`` set to ``z`` instead of drawn from ``p(z | b)``."""

    name = "relax-unconditional"

    def surrogate(
        self, f: Cost, dist: torch.distributions.Distribution, num_samples: int
    ) -> Tensor:
        view = discrete_view(dist, self.name)
        z = perturbed_logits(view, num_samples)
        b = harden(view, z.detach())
        costs = evaluate_cost(f, b, dist)
        c = self.control_variate(torch.cat([z, z.detach()]), f, False)
        _, c_stopped = c.split(num_samples)
        box = magic_box(view.log_prob(b))
        return box * costs + (1.0 - box) * c_stopped


def estimates(estimator: str | Estimator, seed: int) -> Tensor:
    """``[TRIALS, 8]``: the ELBO estimate, then its gradient in ``(phi, m, w)``."""
    torch.manual_seed(seed)
    elbo = EstimatorELBO(estimator, num_samples=NUM_SAMPLES)
    rows = []
    for _ in range(TRIALS):
        p = values()
        value = -elbo.differentiable_loss(model, guide, p)
        rows.append(torch.cat([value.detach().reshape(1), flat_gradient(value, p)]))
    return torch.stack(rows)


def exact() -> Tensor:
    p = values()
    value = exact_elbo(p)
    return torch.cat([value.detach().reshape(1), flat_gradient(value, p)])


@pytest.mark.parametrize("estimator", ["score-loo", "disarm", "relax"])
def test_elbo_gradient_is_unbiased(estimator: str) -> None:
    assert_unbiased(estimates(estimator, seed=0), exact())


@pytest.mark.parametrize(
    "wrong",
    [ScoreFunction(baseline=SelfBaseline()), DisARMWithoutWeight(), RELAXUnconditional()],
    ids=["score-self-baseline", "disarm-without-weight", "relax-unconditional"],
)
def test_a_wrong_estimator_fails_the_same_check(wrong: Estimator) -> None:
    with pytest.raises(AssertionError, match="gradient off by"):
        assert_unbiased(estimates(wrong, seed=0), exact())
