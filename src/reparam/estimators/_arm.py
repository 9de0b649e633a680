"""ARM and DisARM: unbiased antithetic estimators for Bernoulli latent variables.

Both draw one uniform vector ``u`` per sample and evaluate ``f`` at the
antithetic pair

    b = 1[u < sigmoid(phi)],      b~ = 1[1 - u < sigmoid(phi)],

two exact (dependent) samples of ``q``, elementwise over the logits ``phi``. The
surrogate's value is ``(f(b) + f(b~)) / 2``, an unbiased estimate of ``E[f]``.

* ARM (Yin and Zhou, 2019, "ARM: Augment-REINFORCE-Merge Gradient for
  Stochastic Binary Networks"): ``g_d = (f(b~) - f(b)) (u_d - 1/2)``.
* DisARM (Dong, Mnih and Tucker, 2020, "DisARM: An Antithetic Gradient Estimator
  for Binary Latent Variables") integrates ``u`` out given the pair:
  ``g_d = 1/2 (f(b) - f(b~)) (-1)^{b~_d} 1[b_d != b~_d] sigmoid(|phi_d|)``,
  never of higher variance than ARM.

Both are unbiased for ``grad_phi E[f(z)]`` and need ``f`` only at discrete
points. **Sample count**: ``num_samples = S`` means ``S`` antithetic *pairs*,
so ``f`` is called once on ``2 S`` samples (``[2S, *logits.shape]``: the ``b``
of every pair, then the ``b~``); the surrogate has ``S`` rows, one per pair.
Parameters of ``f`` itself get the gradient of ``(f(b) + f(b~)) / 2``.

Only first derivatives are estimated (the surrogate is linear in ``phi``). The
categorical extensions (ARSM, Yin et al. 2019) are not provided: they need a
number of evaluations of ``f`` that grows with the number of classes; use
'relax' or 'score-loo' for categorical variables.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators._base import Cost, Estimator, evaluate_cost
from reparam.estimators._discrete import discrete_view, logistic, uniform

__all__ = ["ARM", "DisARM"]
"""What ``registry.py`` star-imports, and so ``reparam.estimators`` and ``reparam`` export."""


class _Antithetic(Estimator):
    """Shared sampling and surrogate for ARM and DisARM."""

    unbiased = True

    def check_supports(self, dist: Distribution) -> None:
        discrete_view(dist, self.name, categorical=False)

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        view = discrete_view(dist, self.name, categorical=False)
        phi = view.logits.detach()
        u = uniform(view.sample_shape(num_samples), phi)
        noise = logistic(u)  # u < sigmoid(phi)  <=>  logistic(u) < phi
        b = (noise < phi).to(phi.dtype)
        b_anti = (noise > -phi).to(phi.dtype)
        costs = evaluate_cost(f, torch.cat([b, b_anti]), dist)
        f_b, f_anti = costs[:num_samples], costs[num_samples:]
        diff = (f_b - f_anti).detach()
        diff = diff.reshape(diff.shape + (1,) * (b.dim() - diff.dim()))
        coefficient = self.coefficient(diff, u, b, b_anti, phi)
        logits = view.logits
        linear = view.sum_event(coefficient * (logits - logits.detach()))
        return 0.5 * (f_b + f_anti) + linear

    @abc.abstractmethod
    def coefficient(
        self, diff: Tensor, u: Tensor, b: Tensor, b_anti: Tensor, phi: Tensor
    ) -> Tensor:
        """The per-logit gradient term from ``diff = f(b) - f(b~)`` (broadcast)."""


class ARM(_Antithetic):
    """Augment-REINFORCE-Merge for Bernoulli logits: unbiased, ``2 S`` calls of ``f``.

    >>> import torch
    >>> from torch.distributions import Bernoulli
    >>> logits = torch.zeros(3, requires_grad=True)
    >>> ARM().surrogate(lambda z: (z - 0.49) ** 2, Bernoulli(logits=logits), 4).shape
    torch.Size([4, 3])
    """

    name = "arm"

    def coefficient(
        self, diff: Tensor, u: Tensor, b: Tensor, b_anti: Tensor, phi: Tensor
    ) -> Tensor:
        return -diff * (u - 0.5)


class DisARM(_Antithetic):
    """DisARM for Bernoulli logits: ARM with ``u`` integrated out; unbiased, ``2 S`` calls.

    >>> import torch
    >>> from torch.distributions import Bernoulli, Independent
    >>> logits = torch.zeros(5, 3, requires_grad=True)
    >>> dist = Independent(Bernoulli(logits=logits), 1)
    >>> DisARM().surrogate(lambda z: z.sum(-1), dist, 4).shape
    torch.Size([4, 5])
    """

    name = "disarm"

    def coefficient(
        self, diff: Tensor, u: Tensor, b: Tensor, b_anti: Tensor, phi: Tensor
    ) -> Tensor:
        sign = 1.0 - 2.0 * b_anti  # (-1)^{b~}
        return 0.5 * diff * sign * (b != b_anti).to(phi.dtype) * torch.sigmoid(phi.abs())
