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

import itertools

import pyro
import pyro.distributions as pdist
import pytest
import torch
from pyro.infer import SVI
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


def nested_values() -> dict[str, Tensor]:
    return {
        name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
        for name, value in {"phi1": 0.3, "phi2": -0.4, "c": 0.8}.items()
    }


def nested_model(p: dict[str, Tensor]) -> None:
    b1 = pyro.sample("b1", pdist.Bernoulli(torch.tensor(0.4, dtype=torch.float64)))
    b2 = pyro.sample("b2", pdist.Bernoulli(logits=1.0 * b1 - 0.5))
    pyro.sample("x", pdist.Normal(b1 + 2.0 * b2, 1.0), obs=torch.tensor(1.2, dtype=torch.float64))


def nested_guide(p: dict[str, Tensor]) -> None:
    b1 = pyro.sample("b1", pdist.Bernoulli(logits=p["phi1"]))
    pyro.sample("b2", pdist.Bernoulli(logits=p["phi2"] + p["c"] * b1))


def nested_exact(p: dict[str, Tensor]) -> Tensor:
    total = torch.zeros((), dtype=torch.float64)
    for b1, b2 in itertools.product((0.0, 1.0), repeat=2):
        v1, v2 = torch.tensor(b1, dtype=torch.float64), torch.tensor(b2, dtype=torch.float64)
        q1 = pdist.Bernoulli(logits=p["phi1"]).log_prob(v1)
        q2 = pdist.Bernoulli(logits=p["phi2"] + p["c"] * v1).log_prob(v2)
        log_p = (
            pdist.Bernoulli(torch.tensor(0.4, dtype=torch.float64)).log_prob(v1)
            + pdist.Bernoulli(logits=v1 - 0.5).log_prob(v2)
            + pdist.Normal(v1 + 2.0 * v2, 1.0).log_prob(torch.tensor(1.2, dtype=torch.float64))
        )
        total = total + (q1 + q2).exp() * (log_p - q1 - q2)
    return total


def test_a_site_inside_another_sites_cost_nests_and_stays_unbiased() -> None:
    torch.manual_seed(0)
    elbo = EstimatorELBO("score-loo", site_estimators={"b1": "disarm"}, num_samples=2)
    rows = []
    for _ in range(TRIALS):
        p = nested_values()
        value = -elbo.differentiable_loss(nested_model, nested_guide, p)
        grads = torch.autograd.grad(value, list(p.values()))
        rows.append(torch.cat([value.detach().reshape(1), torch.stack(grads)]))
    p = nested_values()
    value = nested_exact(p)
    exact_row = torch.cat(
        [value.detach().reshape(1), torch.stack(torch.autograd.grad(value, list(p.values())))]
    )
    assert isinstance(elbo.estimator_for("b1"), DisARM)
    assert isinstance(elbo.estimator_for("b2"), ScoreFunction)
    assert_unbiased(torch.stack(rows), exact_row)


def test_svi_trains_a_bernoulli_guide_with_it() -> None:
    pyro.clear_param_store()
    torch.manual_seed(0)

    def model() -> None:
        b = pyro.sample("b", pdist.Bernoulli(torch.tensor(0.5)))
        pyro.sample("x", pdist.Normal(3.0 * b, 1.0), obs=torch.tensor(3.0))

    def guide() -> None:
        logit = pyro.param("logit", torch.tensor(0.0))
        pyro.sample("b", pdist.Bernoulli(logits=logit))

    svi = SVI(
        model, guide, pyro.optim.Adam({"lr": 0.1}), loss=EstimatorELBO("disarm", num_samples=4)
    )
    for _ in range(100):
        svi.step()
    # the posterior puts p(b = 1 | x) = 1 / (1 + exp(-4.5)) on b = 1
    assert pyro.param("logit").item() > 2.0
    pyro.clear_param_store()
