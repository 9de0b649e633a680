"""Gradient estimators for ``grad E_q[f]`` over ``torch.distributions`` objects.

Every estimator follows one contract (see ``reparam.estimators._base``): it
returns a per-sample surrogate whose value is ``f`` at exact samples of ``q``
(an honest Monte Carlo estimate of ``E_q[f]``, also for the biased estimators)
and whose gradient is the estimator's per-sample gradient term. What an
estimator can do beyond that, it says itself: class facts (``name``,
``unbiased``, ``min_samples``), a ``temperature`` (``None`` unless it relaxes)
and a learned part (``trainable()``, ``training_term()``; ``None`` and zero
unless it learns). Reference: Mohamed, Rosca, Figurnov and Mnih (2020), "Monte
Carlo Gradient Estimation in Machine Learning".

Adding an estimator, exactly (a module, its import and entry in the registry, a test file):

1. Write one module ``reparam/estimators/_<family>.py`` with a subclass of
   :class:`Estimator`: the class facts, ``check_supports`` raising
   :class:`UnsupportedDistributionError` (with the estimators that do apply in
   mind), and ``surrogate`` keeping the contract above. A relaxation sets
   ``self.temperature``; an estimator with parameters of its own overrides
   ``trainable`` and ``training_term``. The module's ``__all__`` names its
   public classes: ``__all__ = ["X"]``.
2. In ``registry.py``, import the module with a star,
   ``from reparam.estimators._<family> import *``, add one entry, short
   name -> factory with default settings, to ``ESTIMATORS``, and the short name
   to ``EstimatorName`` (the ``Literal`` type that lets an IDE complete names;
   ``tests/estimators/test_registry.py`` checks that the two agree).
3. Its test file: an unbiased entry is tested by the registry's unbiasedness
   suite (``tests/estimators/suite.py``) on every family it supports, and only
   an estimator for a distribution no family has needs one added there; a
   biased one needs a theory of its mean in ``BIAS_THEORY``
   (``tests/estimators/discrete/theory.py``). ``tests/estimators/test_registry.py``
   fails until one of them applies.

There is no re-export to write: ``reparam.estimators`` and ``reparam`` each
take the registry's public names with one ``from reparam.estimators.registry
import *``, and a star import re-exports what the module's ``__all__`` lists,
for mypy and IDEs as at run time. So step 2's star import makes ``X`` both
``reparam.estimators.X`` and ``reparam.X``, typed. That import is the one line
beyond the entry that a static mechanism needs: type checkers cannot follow
names gathered at run time (a loop over modules, ``globals()``), nor, for mypy,
``__all__ += module.__all__``. ``tests/estimators/test_registry.py`` fails when
a registered class is missing from either package.

Nothing else names estimators by hand: ``expectation``'s error messages, the
lab's default list and ``reparam lab --estimators``, the discrete VAE's
``--estimator`` choices and its tests, and the temperature options all follow
from the registry (``applicable_estimators``) and from the estimator's own
answers, never from its type.

No estimator synchronises with the host, so they run inside
``torch.compile(fullgraph=True)``; costs are checked for nan and inf where that is
free (eagerly on the CPU) or where asked (``check_finite=True``,
:func:`finite_check`, ``reparam.strict()``).
"""

from reparam.estimators._base import Cost as Cost
from reparam.estimators._base import Estimator as Estimator
from reparam.estimators._base import evaluate_cost as evaluate_cost
from reparam.estimators._base import magic_box as magic_box
from reparam.estimators._base import magic_box_times as magic_box_times
from reparam.estimators._baselines import Baseline as Baseline
from reparam.estimators._baselines import LeaveOneOut as LeaveOneOut
from reparam.estimators._baselines import MovingAverage as MovingAverage
from reparam.estimators._baselines import NoBaseline as NoBaseline
from reparam.estimators._control_variates import ControlVariate as ControlVariate
from reparam.estimators._errors import CostError as CostError
from reparam.estimators._errors import EstimatorError as EstimatorError
from reparam.estimators._errors import UnsupportedDistributionError as UnsupportedDistributionError
from reparam.estimators._expectation import expectation as expectation
from reparam.estimators._expectation import per_sample_gradients as per_sample_gradients
from reparam.estimators._finite import finite_check as finite_check
from reparam.estimators._temperature import ExponentialAnnealing as ExponentialAnnealing
from reparam.estimators._temperature import check_temperature as check_temperature

# Every registered estimator class, ESTIMATORS, resolve_estimator, applicable_estimators:
from reparam.estimators.registry import *  # noqa: F403
