"""The estimators by short name, as used on the command line, and their classes.

Adding an estimator means adding its module, one star import, one entry here
and its name in :data:`EstimatorName` (the exact steps are in the package
docstring, ``reparam.estimators``).

This module's public names are exactly what ``reparam.estimators`` and ``reparam``
take from it with ``from reparam.estimators.registry import *``: :data:`ESTIMATORS`,
:data:`EstimatorName`, :func:`resolve_estimator`, :func:`applicable_estimators`
and every class that an estimator module lists in its ``__all__`` (star-imported
below; a star import re-exports, also for type checkers). So a class that is
registered here is public in both packages, typed, without a line of its own.
Everything else this module uses is imported under a private name (and there is
no ``from __future__`` import, which would bind the public name ``annotations``).
"""

from collections.abc import Callable as _Callable
from collections.abc import Mapping as _Mapping
from types import MappingProxyType as _MappingProxyType
from typing import Literal as _Literal

from torch.distributions import Distribution as _Distribution

from reparam.estimators._arm import *
from reparam.estimators._base import Estimator as _Estimator
from reparam.estimators._baselines import LeaveOneOut as _LeaveOneOut
from reparam.estimators._gumbel_softmax import *
from reparam.estimators._measure_valued import *
from reparam.estimators._pathwise import *
from reparam.estimators._relax import *
from reparam.estimators._score import *
from reparam.estimators._straight_through import *

ESTIMATORS: _Mapping[str, _Callable[[], _Estimator]] = _MappingProxyType(
    {
        "pathwise": Pathwise,
        "score": ScoreFunction,
        "score-loo": lambda: ScoreFunction(baseline=_LeaveOneOut()),
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

EstimatorName = _Literal[
    "pathwise",
    "score",
    "score-loo",
    "mvd",
    "mvd-uncoupled",
    "gumbel-softmax",
    "st-gumbel-softmax",
    "straight-through",
    "arm",
    "disarm",
    "relax",
]
"""The keys of :data:`ESTIMATORS` as a type, for IDE completion in public signatures.

``tests/estimators/test_registry.py`` checks that the two list the same names.
"""


def resolve_estimator(estimator: EstimatorName | str | _Estimator) -> _Estimator:
    """An estimator object from itself or its short name.

    >>> resolve_estimator("pathwise")
    Pathwise()
    """
    if isinstance(estimator, _Estimator):
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


def applicable_estimators(dist: _Distribution) -> list[str]:
    """The short names of the registered estimators that support ``dist``.

    >>> import torch
    >>> from torch.distributions import Bernoulli
    >>> "score" in applicable_estimators(Bernoulli(torch.tensor(0.3)))
    True
    """
    return [name for name, factory in ESTIMATORS.items() if factory().supports(dist)]
