"""The contract every gradient estimator follows.

The estimand is the gradient of an expectation,

    grad_theta E_{z ~ q_theta}[f(z)],

with respect to every tensor ``theta`` that the distribution's parameters were
computed from, and to the parameters of ``f`` itself (Mohamed, Rosca, Figurnov
and Mnih, 2020, "Monte Carlo Gradient Estimation in Machine Learning", JMLR 21).

An estimator draws ``S`` samples and returns a *per-sample surrogate*: a tensor
``h`` of shape ``[S, *batch_shape]`` with

* value ``h[s] = f(z_s)`` at an *exact* sample ``z_s ~ q`` (for the antithetic
  estimators, the mean of ``f`` over the ``s``-th pair of exact samples), so
  ``h.mean(0)`` is an unbiased Monte Carlo estimate of ``E[f]`` whatever the
  estimator, and
* gradient ``grad h[s]`` equal to the estimator's ``s``-th gradient term, so
  ``grad h.mean(0)`` is the estimator itself and the individual terms are
  available for measuring variance.

This holds for the biased estimators too. One whose gradient comes from ``f``
at other points (a relaxation, ``GumbelSoftmax``) evaluates ``f`` at the exact
samples as well and returns ``stop(f(z_s)) + (g_s - stop(g_s))``; the other
objective, where it is wanted, is a separate method (``relaxed_surrogate``).
Callers such as the models therefore never need to know which estimator they
hold: the value is always an honest estimate.

Batch elements are independent problems: the cost of batch element ``b`` must
depend on the samples only through ``z[:, b]`` (``f`` may mix event dimensions,
not batch elements). Then ``h[:, b]`` is an estimate for batch element ``b``
alone, and ``h.mean(0).sum()`` gives one independent gradient estimate per
element.

Estimators build ``h`` with the DiCE "magic box" (Foerster et al., 2018) where a
score appears, so that second and higher derivatives are estimated correctly too.

No estimator synchronises with the host: none reads a tensor's value in Python,
so a call queues its work on the device and returns, and a function calling
``expectation`` compiles with ``torch.compile(fullgraph=True)``. Costs go through
:func:`evaluate_cost`, which checks their shape always and their finiteness
where that costs no synchronisation (eagerly on the CPU) or where asked; a
non-finite cost it does not check still makes ``h`` non-finite at its sample.
The choice and its reasons are in ``reparam.estimators._finite``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators._errors import CostError, UnsupportedDistributionError
from reparam.estimators._finite import check_costs_finite
from reparam.estimators._temperature import Temperature

Cost = Callable[[Tensor], Tensor]
"""A cost function: samples ``[S, *batch_shape, *event_shape]`` to costs ``[S, *batch_shape]``."""


def magic_box(x: Tensor) -> Tensor:
    """DiCE's magic box: ``exp(x - stop_gradient(x))``.

    Its value is exactly one and its derivative is ``magic_box(x) * dx``, so
    ``magic_box(log q(z)) * f(z)`` has value ``f(z)`` and, to every order, the
    derivatives of the score-function estimator.

    >>> x = torch.tensor(0.3, requires_grad=True)
    >>> y = magic_box(2 * x)
    >>> (dy,) = torch.autograd.grad(y, x, create_graph=True)
    >>> y.item(), dy.item(), torch.autograd.grad(dy, x)[0].item()
    (1.0, 2.0, 4.0)
    """
    return torch.exp(x - x.detach())


_FUSED_FROM = 4096
"""Size from which :func:`magic_box_times` uses its fused node (measured crossover)."""


def magic_box_times(log_prob: Tensor, values: Tensor) -> Tensor:
    """``magic_box(log_prob) * values`` (same shapes): value ``values``, DiCE derivatives.

    Small tensors use the composition of primitive operations. From
    ``_FUSED_FROM`` elements on, one autograd node does it: its forward pass
    computes no ``exp`` and its first-order backward is the single product of a
    hand-written ``log_prob * values`` (the box's value is exactly one), while a
    ``create_graph=True`` backward goes through :func:`magic_box`, so higher
    derivatives are the same either way.

    >>> x = torch.tensor([0.3] * 5000, requires_grad=True)
    >>> y = magic_box_times(2 * x, torch.full((5000,), 5.0))
    >>> (dy,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    >>> y[0].item(), dy[0].item(), torch.autograd.grad(dy.sum(), x)[0][0].item()
    (5.0, 10.0, 20.0)
    """
    if log_prob.shape != values.shape:
        raise ValueError(
            f"magic_box_times needs equal shapes, got {list(log_prob.shape)} "
            f"and {list(values.shape)}"
        )
    if values.numel() < _FUSED_FROM:
        return magic_box(log_prob) * values
    dtype = torch.promote_types(log_prob.dtype, values.dtype)
    return _MagicBoxTimes.apply(log_prob.to(dtype), values.to(dtype))


class _MagicBoxTimes(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, log_prob: Tensor, values: Tensor
    ) -> Tensor:
        ctx.save_for_backward(log_prob, values)
        return values.clone()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor, Tensor]:
        log_prob, values = ctx.saved_tensors  # type: ignore[attr-defined]
        if not torch.is_grad_enabled():  # first order: the box's value is exactly one
            return grad * values, grad
        box = magic_box(log_prob)
        return grad * box * values, grad * box


class Estimator(abc.ABC):
    """A gradient estimator for ``E_q[f]``: subclasses implement :meth:`surrogate`.

    Class facts:

    * ``name``: the short name used on the command line and in the registry;
    * ``unbiased``: whether the gradient estimate is unbiased for ``grad E_q[f]``
      (relaxations and straight-through estimators are knowingly biased);
    * ``min_samples``: the least ``num_samples`` the estimator works with.

    Two optional capabilities, with defaults meaning "none", so that code
    holding an estimator asks it instead of testing its type:

    * ``temperature``: the relaxation temperature (a number, a 0-dim tensor, or
      a callable read at every call that returns one), settable; ``None`` for
      estimators that relax nothing;
    * :meth:`trainable` and :meth:`training_term`: the estimator's own learned
      part (RELAX's control variate) and how one ``backward`` trains it.
    """

    name: ClassVar[str]
    unbiased: ClassVar[bool]
    min_samples: ClassVar[int] = 1
    temperature: Temperature | None = None

    def check_supports(self, dist: Distribution) -> None:  # noqa: B027 - optional hook
        """Raise :class:`UnsupportedDistributionError` when ``dist`` is not supported."""

    def supports(self, dist: Distribution) -> bool:
        """Whether this estimator applies to ``dist``."""
        try:
            self.check_supports(dist)
        except UnsupportedDistributionError:
            return False
        return True

    @abc.abstractmethod
    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        """The per-sample surrogate ``h`` of shape ``[num_samples, *dist.batch_shape]``."""

    def trainable(self) -> torch.nn.Module | None:
        """The estimator's own learned part, or ``None`` (the default: nothing to learn).

        A model that owns the estimator registers it as a submodule, so that its
        optimizer and checkpoints include it, and adds :meth:`training_term` to
        its loss.
        """
        return None

    def training_term(self, objective: Tensor, wrt: Sequence[Tensor]) -> Tensor:
        """A zero-valued scalar that, added to ``objective``, also trains :meth:`trainable`.

        ``objective`` is a scalar built with this estimator and ``wrt`` the
        tensors whose gradient estimate it is about (e.g. a posterior's logits).
        The default, for estimators with nothing to learn, is a constant zero.
        """
        return objective.new_zeros(())

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def evaluate_cost(f: Cost, z: Tensor, dist: Distribution) -> Tensor:
    """Call ``f`` on samples ``z`` and check the costs' shape and finiteness.

    The shape is always checked (it needs no data). Finiteness is checked where
    that needs no synchronisation, or where asked: see
    ``reparam.estimators._finite``.
    """
    costs = f(z)
    expected = z.shape[:1] + dist.batch_shape
    if not isinstance(costs, Tensor):
        raise CostError(f"f must return a tensor of costs, got {type(costs).__name__}")
    if costs.is_complex():
        raise CostError(
            f"f must return real costs, got dtype {costs.dtype}: an expectation to "
            "differentiate is of a real number. Return a real tensor from f, e.g. "
            "cost.abs() ** 2 or cost.real"
        )
    if costs.shape != expected:
        raise CostError(
            f"f must return costs of shape [num_samples, *batch_shape] = {list(expected)} "
            f"for samples of shape {list(z.shape)}, got {list(costs.shape)}. "
            "Reduce over the event dimensions, not over samples or batch."
        )
    check_costs_finite(costs)
    return costs
