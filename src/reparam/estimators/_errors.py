"""Errors raised by the estimators: each says what went wrong and what to do."""

from __future__ import annotations


class EstimatorError(ValueError):
    """Base class for the estimators' errors about their inputs."""


class UnsupportedDistributionError(EstimatorError, TypeError):
    """An estimator was applied to a distribution it cannot handle."""


class CostError(EstimatorError):
    """The cost function returned something an estimator cannot use."""
