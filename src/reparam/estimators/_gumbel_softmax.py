"""Gumbel-softmax / Concrete relaxations and their straight-through variant (biased).

A categorical sample is ``onehot(argmax_k (log p_k + G_k))`` with ``G_k`` standard
Gumbel noise (the Gumbel-max trick). Replacing the argmax by a softmax at
temperature ``tau`` gives a *relaxed* one-hot sample,

    y = softmax((log p + G) / tau),

differentiable in ``log p`` (Jang, Gu and Poole, 2017; Maddison, Mnih and Teh,
2017). For a Bernoulli with logits ``phi`` the same construction with logistic
noise ``L = log u - log(1 - u)`` is the binary Concrete (RelaxedBernoulli)
sample ``y = sigmoid((phi + L) / tau)``.

:class:`GumbelSoftmax` differentiates ``f(y)``: an unbiased estimator of the
gradient of the *relaxed* objective ``E[f(y)]``, hence a **biased** estimator of
``grad E[f(z)]`` (the bias vanishes as ``tau -> 0`` while the variance grows).
Its surrogate's value follows the package's contract: ``f`` at the exact sample
``z = H(y)`` of the same noise (a second call of ``f``, without gradient), so
``stop(f(z)) + (f(y) - stop(f(y)))``; :meth:`GumbelSoftmax.relaxed_surrogate`
gives the relaxed objective itself, value ``f(y)``, with the same gradient.
:class:`StraightThroughGumbelSoftmax` evaluates ``f`` only at ``z`` and takes the
gradient as if ``z`` were ``y``: also **biased**.

Shapes: ``f`` receives ``[S, *logits.shape]``: values in ``(0, 1)`` for
Bernoulli, relaxed one-hot vectors over the last axis (``K`` classes) for
``OneHotCategorical`` *and* ``Categorical`` (see ``reparam.estimators._discrete``),
and the exact samples (0/1, one-hot) of the same shape.
Everything is computed from logits and log-uniforms with PyTorch's stable
sigmoid and softmax, so samples and gradients stay finite for logits in
``[-50, 50]`` and temperatures down to 0.01 in float32.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators._base import Cost, Estimator, evaluate_cost
from reparam.estimators._discrete import DiscreteView, discrete_view, gumbel, logistic, uniform
from reparam.estimators._temperature import Temperature, check_temperature, current_temperature

__all__ = ["GumbelSoftmax", "StraightThroughGumbelSoftmax"]
"""What ``registry.py`` star-imports, and so ``reparam.estimators`` and ``reparam`` export."""


def perturbed_logits(view: DiscreteView, num_samples: int) -> Tensor:
    """``logits + noise``: logistic noise for Bernoulli, Gumbel for categorical.

    Its sign (Bernoulli) or argmax (categorical) is an exact sample of ``q``.
    """
    u = uniform(view.sample_shape(num_samples), view.logits)
    noise = logistic(u) if view.kind == "bernoulli" else gumbel(u)
    return view.logits + noise


def relax(view: DiscreteView, perturbed: Tensor, temperature: float | Tensor) -> Tensor:
    """The relaxed sample: ``sigmoid(perturbed / tau)`` or ``softmax(perturbed / tau)``."""
    if view.kind == "bernoulli":
        return torch.sigmoid(perturbed / temperature)
    return torch.softmax(perturbed / temperature, dim=-1)


def harden(view: DiscreteView, perturbed: Tensor) -> Tensor:
    """The exact discrete sample: ``perturbed > 0`` or ``onehot(argmax perturbed)``."""
    if view.kind == "bernoulli":
        return (perturbed > 0).to(perturbed.dtype)
    # A comparison rather than F.one_hot, which checks the classes' range by
    # reading the indices on the host (on the CPU; CUDA relies on device asserts).
    classes = torch.arange(perturbed.shape[-1], device=perturbed.device)
    return (perturbed.argmax(-1, keepdim=True) == classes).to(perturbed.dtype)


class GumbelSoftmax(Estimator):
    """Gumbel-softmax / Concrete: the gradient of ``f`` at relaxed samples, the value at exact ones.

    **Biased** for ``grad E_q[f(z)]``: the gradient is the pathwise gradient of
    the relaxed objective ``E[f(y)]``. The surrogate's value is ``f(z_s)`` at the
    exact sample ``z_s = H(y_s)``, as for every estimator; ``f`` is called twice,
    at ``y`` (with gradient), then at ``z`` (without).

    Args:
        temperature: ``tau > 0``, a number or a 0-dim tensor (checked here), or a
            callable returning one (e.g. :class:`~reparam.estimators.ExponentialAnnealing`),
            read at every call; a number it returns is checked there, a tensor is
            not (see ``reparam.estimators._temperature``).

    >>> import torch
    >>> from torch.distributions import OneHotCategorical
    >>> logits = torch.zeros(2, 3, requires_grad=True)
    >>> dist = OneHotCategorical(logits=logits)
    >>> h = GumbelSoftmax(0.5).surrogate(lambda y: y[..., 0], dist, 4)
    >>> h.shape, bool(((h == 0) | (h == 1)).all())  # values of f at one-hot samples
    (torch.Size([4, 2]), True)
    >>> relaxed = GumbelSoftmax(0.5).relaxed_surrogate(lambda y: y[..., 0], dist, 4)
    >>> bool(((relaxed > 0) & (relaxed < 1)).all())  # f at relaxed samples
    True
    """

    name = "gumbel-softmax"
    unbiased = False

    def __init__(self, temperature: Temperature = 1.0) -> None:
        if not callable(temperature):  # a schedule's numbers are checked each time read
            check_temperature(temperature)
        self.temperature: Temperature = temperature

    def check_supports(self, dist: Distribution) -> None:
        discrete_view(dist, self.name)

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        view = discrete_view(dist, self.name)
        perturbed = perturbed_logits(view, num_samples)
        relaxed = evaluate_cost(f, relax(view, perturbed, self._tau()), dist)
        with torch.no_grad():
            exact = evaluate_cost(f, harden(view, perturbed), dist)
        return exact + (relaxed - relaxed.detach())

    def relaxed_surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        """The relaxed objective: value ``f(y_s)``, gradient as :meth:`surrogate`'s.

        ``h.mean(0)`` estimates ``E[f(y)]`` (e.g. the relaxed ELBO of Maddison,
        Mnih and Teh, 2017), not ``E_q[f(z)]``; one call of ``f``.
        """
        view = discrete_view(dist, self.name)
        y = relax(view, perturbed_logits(view, num_samples), self._tau())
        return evaluate_cost(f, y, dist)

    def _tau(self) -> float | Tensor:
        return current_temperature(self.temperature)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(temperature={self.temperature!r})"


class StraightThroughGumbelSoftmax(GumbelSoftmax):
    """Straight-through Gumbel-softmax: ``f`` at the hard sample, gradient of the relaxed one.

    The sample passed to ``f`` is ``z + (y - stop(y))``: its value is the exact
    discrete sample ``z = H(y)`` (so the surrogate's value is ``f(z_s)``), its
    derivative that of the relaxed ``y``. **Biased** (Jang, Gu and Poole, 2017,
    "ST Gumbel-Softmax"; Bengio, Leonard and Courville, 2013).

    >>> import torch
    >>> from torch.distributions import Bernoulli
    >>> est = StraightThroughGumbelSoftmax(0.5)
    >>> h = est.surrogate(lambda z: z, Bernoulli(logits=torch.zeros(3)), 2)
    >>> bool(((h == 0) | (h == 1)).all())  # f saw exact 0/1 samples
    True
    """

    name = "st-gumbel-softmax"

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        view = discrete_view(dist, self.name)
        perturbed = perturbed_logits(view, num_samples)
        y = relax(view, perturbed, self._tau())
        z = harden(view, perturbed.detach()) + (y - y.detach())
        return evaluate_cost(f, z, dist)
