"""Score-function gradients (REINFORCE, the likelihood-ratio method).

    grad_theta E_q[f(z)] = E_q[(f(z) - b) grad_theta log q(z)] + E_q[grad_theta f(z)]

for any baseline ``b`` independent of ``z`` (Williams, 1992; Glynn, 1990). It
needs only ``log_prob``: it works for discrete distributions and never
differentiates ``f`` with respect to the samples (they are drawn without a
gradient path), while parameters of ``f`` itself still get their gradient.
Baselines and control variates reduce its variance without adding bias.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints

from reparam._sampling import draw
from reparam.estimators._base import Cost, Estimator, evaluate_cost, magic_box, magic_box_times
from reparam.estimators._baselines import Baseline, NoBaseline
from reparam.estimators._control_variates import ControlVariate
from reparam.estimators._errors import UnsupportedDistributionError

__all__ = ["ScoreFunction"]
"""What ``registry.py`` star-imports, and so ``reparam.estimators`` and ``reparam`` export."""


class ScoreFunction(Estimator):
    """The score-function estimator with an optional baseline and control variates.

    The per-sample surrogate is the DiCE form

        h_s = box_s * f(z_s) + (1 - box_s) * beta_s + sum_j c_j (mu_j - stop(mu_j)),

    with ``box_s = magic_box(log q(z_s))`` and ``beta_s`` the baseline plus the
    control variates' offsets (all detached): its value is ``f(z_s)`` and its
    derivatives of every order are the estimator's.

    >>> import torch
    >>> from torch.distributions import Bernoulli
    >>> from reparam.estimators import LeaveOneOut
    >>> logits = torch.zeros(3, requires_grad=True)
    >>> est = ScoreFunction(baseline=LeaveOneOut())
    >>> est.surrogate(lambda z: z, Bernoulli(logits=logits), num_samples=8).shape
    torch.Size([8, 3])
    """

    name = "score"
    unbiased = True

    def __init__(
        self,
        baseline: Baseline | None = None,
        control_variates: Sequence[ControlVariate] = (),
    ) -> None:
        self.baseline: Baseline = NoBaseline() if baseline is None else baseline
        self.control_variates = tuple(control_variates)

    @property
    def min_samples(self) -> int:  # type: ignore[override]
        needs = [self.baseline.min_samples, *(cv.min_samples for cv in self.control_variates)]
        return max(needs)

    def check_supports(self, dist: Distribution) -> None:
        try:
            support = dist.support
        except NotImplementedError:  # a distribution that does not declare its support
            return
        bound = None if support is None else _parameter_in_support(support)
        if bound is not None:
            raise UnsupportedDistributionError(
                f"the support of {type(dist).__name__} has a {bound} that requires grad; the "
                "score-function estimator misses the boundary term of such a gradient. Use "
                "estimator='pathwise' or keep the support's bounds fixed."
            )

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        self.check_supports(dist)
        z = draw(dist, torch.Size([num_samples]))
        costs = evaluate_cost(f, z, dist)
        log_prob = dist.log_prob(z)
        surrogate = magic_box_times(log_prob, costs)
        if isinstance(self.baseline, NoBaseline) and not self.control_variates:
            return surrogate  # b = 0: skip a term that is exactly zero in every order
        detached = costs.detach()
        offsets = detached.new_zeros(())
        correction = detached.new_zeros(())
        for cv in self.control_variates:
            values = cv.fn(z).detach()
            mean = cv.mean(dist)
            coefficient = cv.coefficients(detached, values)
            offsets = offsets + coefficient * (values - mean.detach())
            correction = correction + coefficient * (mean - mean.detach())
        # The baseline sees the raw costs: a baseline of the residuals would let
        # z_s leak into b_s through the other samples' estimated coefficients.
        baseline = self.baseline(detached) + offsets
        return surrogate + (1.0 - magic_box(log_prob)) * baseline + correction

    def __repr__(self) -> str:
        cvs = f", control_variates={list(self.control_variates)}" if self.control_variates else ""
        return f"ScoreFunction(baseline={self.baseline!r}{cvs})"


def _parameter_in_support(support: constraints.Constraint) -> str | None:
    """The name of a bound of ``support`` that requires grad (Uniform's, Pareto's), if any."""
    if isinstance(support, constraints.independent):
        return _parameter_in_support(support.base_constraint)
    for name in ("lower_bound", "upper_bound"):
        value = getattr(support, name, None)
        if isinstance(value, Tensor) and value.requires_grad:
            return name.replace("_", " ")
    return None
