"""Control variates with a known expectation, for score-function estimators.

A control variate is a function ``g`` whose expectation ``mu(theta) = E_q[g]``
is known in closed form. For any coefficient ``c`` independent of ``z``,

    f~(z) = f(z) - c (g(z) - mu(theta))

has the same expectation as ``f`` for every ``theta``, so

    grad E_q[f] = E_q[(f~(z) - b) grad log q(z)] + c grad mu(theta).

The variance is smallest near ``c* = Cov(f, g) / Var(g)``. When no coefficient
is given it is estimated per sample from the *other* samples (leave one out), so
it stays independent of the sample it multiplies and the estimator stays unbiased.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators._errors import EstimatorError


class ControlVariate:
    """A function ``fn(z) -> [S, *batch]`` with known mean ``mean(dist) -> [*batch]``.

    ``mean`` must be differentiable in the distribution's parameters: its
    gradient is added back to keep the estimator unbiased.

    Args:
        fn: the control variate ``g``, called on samples like the cost.
        mean: ``E_q[g]`` as a function of the distribution.
        coefficient: a fixed ``c``; ``None`` estimates ``Cov(f, g) / Var(g)`` per
            sample from the other samples (needs ``num_samples >= 3``).

    >>> from torch.distributions import Normal
    >>> cv = ControlVariate(lambda z: z, mean=lambda d: d.mean)
    >>> cv.min_samples
    3
    """

    def __init__(
        self,
        fn: Callable[[Tensor], Tensor],
        mean: Callable[[Distribution], Tensor],
        coefficient: float | None = None,
    ) -> None:
        self.fn = fn
        self.mean = mean
        self.coefficient = coefficient

    @property
    def min_samples(self) -> int:
        return 3 if self.coefficient is None else 1

    def coefficients(self, costs: Tensor, values: Tensor) -> Tensor:
        """``c`` per sample and batch element, ``[S, *batch]`` (or a scalar if fixed)."""
        if self.coefficient is not None:
            return costs.new_tensor(self.coefficient)
        return leave_one_out_regression(costs, values)

    def __repr__(self) -> str:
        return f"ControlVariate(coefficient={self.coefficient})"


def leave_one_out_regression(y: Tensor, x: Tensor) -> Tensor:
    """For each ``s``, the slope ``Cov(y, x) / Var(x)`` over the samples ``j != s``.

    ``y`` and ``x`` have shape ``[S, *batch]``; the result has the same shape. A
    zero variance (up to rounding) gives a zero slope.

    >>> x = torch.tensor([0.0, 1.0, 2.0, 3.0])
    >>> leave_one_out_regression(3 * x + 1, x).round(decimals=4)
    tensor([3., 3., 3., 3.])
    >>> leave_one_out_regression(x, torch.full((4,), 0.1))  # x constant: no slope
    tensor([0., 0., 0., 0.])
    """
    num = y.shape[0]
    if num < 3:
        raise EstimatorError(
            "estimating a control-variate coefficient needs num_samples >= 3 (a slope "
            f"from the other samples), got num_samples={num}; pass coefficient=... instead"
        )
    n = num - 1
    sum_x = x.sum(0, keepdim=True) - x
    sum_y = y.sum(0, keepdim=True) - y
    sum_xy = (x * y).sum(0, keepdim=True) - x * y
    sum_xx = (x * x).sum(0, keepdim=True) - x * x
    cov = sum_xy - sum_x * sum_y / n
    var = sum_xx - sum_x * sum_x / n
    # A variance within rounding of zero (x constant over the other samples) has no
    # slope; dividing by the rounding error would give an arbitrary, huge one.
    resolved = var > 8 * n * torch.finfo(var.dtype).eps * sum_xx
    return torch.where(resolved, cov / var.clamp_min(torch.finfo(var.dtype).tiny), 0.0)
