"""Pathwise (reparameterization) gradients.

If ``z = g(eps, theta)`` with ``eps`` drawn from a fixed distribution, then

    grad_theta E_q[f(z)] = E_eps[ grad_z f(g(eps, theta)) * grad_theta g(eps, theta) ],

estimated by differentiating ``f`` through ``dist.rsample()``. The same call
covers *implicit* reparameterization (Figurnov, Mohamed and Mnih, 2018), which
PyTorch uses for Gamma, Beta, Dirichlet, StudentT, Chi2 and their relatives: the
sample's derivative ``dz/dtheta = -(dF/dtheta) / q(z)`` comes from the CDF ``F``
without inverting it.

Requires ``f`` to be differentiable in ``z`` and ``dist.has_rsample``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators._base import Cost, Estimator, evaluate_cost
from reparam.estimators._errors import UnsupportedDistributionError
from reparam.safety import check_cost_path, is_strict

__all__ = ["Pathwise"]
"""What ``registry.py`` star-imports, and so ``reparam.estimators`` and ``reparam`` export."""


class Pathwise(Estimator):
    """The reparameterization trick: differentiate ``f`` through ``dist.rsample()``.

    Unbiased, and usually the lowest-variance choice when it applies.

    >>> import torch
    >>> from torch.distributions import Normal
    >>> mu = torch.tensor(1.0, requires_grad=True)
    >>> h = Pathwise().surrogate(lambda z: z**2, Normal(mu, 1.0), num_samples=4)
    >>> h.shape
    torch.Size([4])
    """

    name = "pathwise"
    unbiased = True

    def check_supports(self, dist: Distribution) -> None:
        if not dist.has_rsample:
            raise UnsupportedDistributionError(
                f"{type(dist).__name__} has no reparameterized sampler (rsample), so the "
                "pathwise estimator cannot differentiate through its samples; the "
                "score-function estimator (estimator='score') needs only log_prob."
            )

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        self.check_supports(dist)
        z = dist.rsample(torch.Size([num_samples]))
        costs = evaluate_cost(f, z, dist)
        if is_strict():  # a graph walk, only when asked for
            check_cost_path(costs, z, dist, self.name)
        return costs
