"""Baselines for score-function estimators, as values.

A baseline ``b`` is subtracted from the costs in the score-function estimator,

    grad E_q[f] = E_q[(f(z) - b) grad log q(z)],

which leaves the estimator unbiased as long as ``b`` does not depend on the
sample ``z`` it multiplies. Each baseline is a small object with one method,
``__call__(costs) -> baseline``, mapping detached costs of shape
``[S, *batch_shape]`` to baseline values broadcastable to that shape. State, where
a baseline has any, is a public attribute of the object the caller owns.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from reparam.estimators._errors import EstimatorError


@runtime_checkable
class Baseline(Protocol):
    """Maps detached costs ``[S, *batch]`` to baselines broadcastable to them."""

    min_samples: int

    def __call__(self, costs: Tensor) -> Tensor: ...


class NoBaseline:
    """The plain score-function estimator (REINFORCE): ``b = 0``."""

    min_samples = 1

    def __call__(self, costs: Tensor) -> Tensor:
        return costs.new_zeros(())

    def __repr__(self) -> str:
        return "NoBaseline()"


class LeaveOneOut:
    """The mean of the *other* samples' costs: ``b_s = (sum_j f_j - f_s) / (S - 1)``.

    Independent of ``z_s`` by construction, so the estimator stays unbiased
    (Kool, van Hoof and Welling, 2019, "Buy 4 REINFORCE samples, get a baseline for
    free!"). Needs at least two samples.

    >>> LeaveOneOut()(torch.tensor([1.0, 2.0, 6.0]))
    tensor([4.0000, 3.5000, 1.5000])
    """

    min_samples = 2

    def __call__(self, costs: Tensor) -> Tensor:
        num_samples = costs.shape[0]
        if num_samples < 2:
            raise EstimatorError(
                "the leave-one-out baseline needs num_samples >= 2 (each sample's baseline "
                f"is the mean of the others), got num_samples={num_samples}"
            )
        return (costs.sum(0, keepdim=True) - costs) / (num_samples - 1)

    def __repr__(self) -> str:
        return "LeaveOneOut()"


class MovingAverage:
    """An exponential moving average of past mean costs.

    The baseline for the current call is the average *before* this call's costs
    are folded in, so it is independent of the current samples. The running value
    is the public attribute ``average`` (``None`` before the first call); it is
    the only state, owned by whoever owns this object, and can be saved, restored
    or reset like any tensor.

    ``b_t = average_{t-1}``, ``average_t = decay * average_{t-1} + (1 - decay) * mean_s f_s``
    (per batch element). The average is kept in the dtype and on the device of the
    latest costs.
    """

    min_samples = 1

    def __init__(self, decay: float = 0.9) -> None:
        if not 0.0 <= decay < 1.0:
            raise EstimatorError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.average: Tensor | None = None

    def __call__(self, costs: Tensor) -> Tensor:
        current = costs.detach().mean(0)
        if self.average is None:
            self.average = current.clone()
            return costs.new_zeros(())
        if self.average.shape != current.shape:
            raise EstimatorError(
                "MovingAverage keeps one average per batch element: it holds shape "
                f"{list(self.average.shape)} but got costs for batch shape {list(current.shape)}; "
                "call reset() or use one MovingAverage per batch shape"
            )
        # Costs may come in another dtype or on another device than the last ones
        # (a model moved to float64 or to a GPU): the average follows them.
        baseline = self.average.to(current)
        self.average = torch.lerp(current, baseline, self.decay)
        return baseline

    def reset(self) -> None:
        """Forget the running average."""
        self.average = None

    def __repr__(self) -> str:
        return f"MovingAverage(decay={self.decay})"
