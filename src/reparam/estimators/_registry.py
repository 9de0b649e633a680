"""Short names for the estimators, as used on the command line.

Adding an estimator means adding its module and one entry here (the exact
steps are in the package docstring, ``reparam.estimators``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from torch.distributions import Distribution

from reparam.estimators._arm import ARM, DisARM
from reparam.estimators._base import Estimator
from reparam.estimators._baselines import LeaveOneOut
from reparam.estimators._gumbel_softmax import GumbelSoftmax, StraightThroughGumbelSoftmax
from reparam.estimators._measure_valued import MeasureValued
from reparam.estimators._pathwise import Pathwise
from reparam.estimators._relax import RELAX
from reparam.estimators._score import ScoreFunction
from reparam.estimators._straight_through import StraightThrough

ESTIMATORS: Mapping[str, Callable[[], Estimator]] = MappingProxyType(
    {
        "pathwise": Pathwise,
        "score": ScoreFunction,
        "score-loo": lambda: ScoreFunction(baseline=LeaveOneOut()),
        "mvd": MeasureValued,
        "mvd-uncoupled": lambda: MeasureValued(coupled=False),
        # Discrete latent variables. 'score-loo' above is REINFORCE with the
        # leave-one-out baseline (Kool et al. 2019), unbiased, num_samples >= 2.
        "gumbel-softmax": GumbelSoftmax,  # biased; temperature 1
        "st-gumbel-softmax": StraightThroughGumbelSoftmax,  # biased; temperature 1
        "straight-through": StraightThrough,  # biased
        "arm": ARM,  # num_samples = antithetic pairs, 2 calls of f each
        "disarm": DisARM,  # num_samples = antithetic pairs, 2 calls of f each
        "relax": RELAX,  # a fresh, untrained ConcreteControlVariate
    }
)
"""Factories of the public estimators by short name, with their default settings."""


def resolve_estimator(estimator: str | Estimator) -> Estimator:
    """An estimator object from itself or its short name.

    >>> resolve_estimator("pathwise")
    Pathwise()
    """
    if isinstance(estimator, Estimator):
        return estimator
    if isinstance(estimator, str):
        try:
            return ESTIMATORS[estimator]()
        except KeyError:
            raise ValueError(
                f"unknown estimator {estimator!r}; choose one of: {', '.join(ESTIMATORS)}"
            ) from None
    raise TypeError(
        f"estimator must be an Estimator or one of {', '.join(ESTIMATORS)}, "
        f"got {type(estimator).__name__}"
    )


def applicable_estimators(dist: Distribution) -> list[str]:
    """The short names of the registered estimators that support ``dist``.

    >>> import torch
    >>> from torch.distributions import Bernoulli
    >>> "score" in applicable_estimators(Bernoulli(torch.tensor(0.3)))
    True
    """
    return [name for name, factory in ESTIMATORS.items() if factory().supports(dist)]
