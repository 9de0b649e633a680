"""A linear-Gaussian model where the importance-weighted bound's answers are known.

``p(z) = N(mu, 1)``, ``p(x | z) = N(z, s^2)`` and ``q(z | x) = N(a x + b, c^2)``
(Rainforth et al., 2018, section 5, and Tucker et al., 2019, section 6.1, study
this model with ``mu`` the generative parameter). Then

* ``log p(x) = log N(x; mu, 1 + s^2)``, the limit of ``L_k`` as ``k -> infinity``;
* the exact posterior is ``N(mu + (x - mu) / (1 + s^2), s^2 / (1 + s^2))``, i.e.
  ``a = 1 / (1 + s^2)``, ``b = mu s^2 / (1 + s^2)``, ``c = s / sqrt(1 + s^2)``;
* the ELBO ``L_1`` has a closed form (so its exact gradient is known):
  ``E_q[log p(z)] + E_q[log p(x | z)] + H[q]`` with ``m = a x + b``,
  ``-(1/2) log 2 pi - ((m - mu)^2 + c^2) / 2 - (1/2) log 2 pi - log s
  - ((x - m)^2 + c^2) / (2 s^2) + (1/2) log (2 pi e c^2)``.

The inference network's parameters are ``a, b, c``, the generative model's
``mu, s``. Each trial is one batch element with its own leaf copy of all five.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor
from torch.distributions import Normal

from reparam.bounds import Gradient, iwae_bound
from reparam.lab._problem import Params, gradient_of

INFERENCE = ("a", "b", "c")
"""The inference network's parameters (``q``'s)."""
GENERATIVE = ("mu", "s")
"""The generative model's parameters (``log p(x, z)``'s)."""


@dataclasses.dataclass(frozen=True)
class LinearGaussian:
    """The model at one observation ``x`` and one parameter setting.

    The default ``q`` is off the exact posterior (``a = 0.5, b = 0, c = 0.707``
    for ``s = 1, mu = 0``), so every gradient is nonzero.
    """

    x: float = 1.5
    mu: float = 0.0
    s: float = 1.0
    a: float = 0.6
    b: float = 0.1
    c: float = 0.9

    @property
    def summary(self) -> str:
        return (
            f"p(z) = N(mu={self.mu:g}, 1), p(x | z) = N(z, s={self.s:g}^2), x = {self.x:g}, "
            f"q(z | x) = N(a={self.a:g} x + b={self.b:g}, c={self.c:g}^2)"
        )

    def values(self) -> dict[str, Tensor]:
        """Parameter name -> float64 scalar, inference network's first."""
        names = INFERENCE + GENERATIVE
        return {n: torch.tensor(float(getattr(self, n)), dtype=torch.float64) for n in names}

    def log_evidence(self) -> float:
        """``log p(x) = log N(x; mu, 1 + s^2)``."""
        scale = torch.tensor(1.0 + self.s**2, dtype=torch.float64).sqrt()
        return float(Normal(self.mu, scale).log_prob(torch.tensor(self.x, dtype=torch.float64)))

    def exact_posterior(self) -> LinearGaussian:
        """The same model with ``q`` equal to the exact posterior ``p(z | x)``."""
        s2 = self.s**2
        a, b, c = 1 / (1 + s2), self.mu * s2 / (1 + s2), self.s / math.sqrt(1 + s2)
        return dataclasses.replace(self, a=a, b=b, c=c)

    def elbo_gradient(self) -> dict[str, Tensor]:
        """The exact gradient of the ELBO ``L_1`` in all five parameters."""
        return gradient_of(lambda p: elbo(p, self.x), self.values())

    def bound(self, leaves: Params, num_samples: int, gradient: Gradient) -> Tensor:
        """:func:`reparam.iwae_bound` with the parameters ``leaves`` (any batch shape)."""
        x = torch.as_tensor(self.x, dtype=leaves["a"].dtype)
        q = Normal(leaves["a"] * x + leaves["b"], leaves["c"])

        def log_joint(z: Tensor) -> Tensor:
            prior = Normal(leaves["mu"], torch.ones_like(leaves["mu"]))
            return prior.log_prob(z) + Normal(z, leaves["s"]).log_prob(x)

        return iwae_bound(log_joint, q, num_samples=num_samples, gradient=gradient)

    def estimates(self, gradient: Gradient, num_samples: int, trials: int) -> tuple[Tensor, Tensor]:
        """``trials`` independent bound estimates ``[trials]`` and gradients ``[trials, 5]``.

        Gradient columns in the order of :meth:`values`; float64. Draws come from
        torch's global generator: seed it (``torch.manual_seed``) to repeat them.
        """
        leaves = {
            n: v.expand(trials).clone().requires_grad_(True) for n, v in self.values().items()
        }
        with torch.enable_grad():
            bounds = self.bound(leaves, num_samples, gradient)
            grads = torch.autograd.grad(bounds.sum(), list(leaves.values()))
        return bounds.detach(), torch.stack(grads, dim=1).detach()


def elbo(p: Params, x: float) -> Tensor:
    """The closed-form ELBO of the module docstring."""
    m = p["a"] * x + p["b"]
    c2, s2 = p["c"].square(), p["s"].square()
    log_prior = -0.5 * math.log(2 * math.pi) - ((m - p["mu"]).square() + c2) / 2
    log_lik = -0.5 * math.log(2 * math.pi) - p["s"].log() - ((x - m).square() + c2) / (2 * s2)
    entropy = 0.5 * torch.log(2 * math.pi * math.e * c2)
    return log_prior + log_lik + entropy
