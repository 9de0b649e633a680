"""Gradient estimators for ``grad E_q[f]`` over ``torch.distributions`` objects.

Every estimator follows one contract (see ``reparam.estimators._base``): it
returns a per-sample surrogate whose value is ``f`` at the samples and whose
gradient is the estimator's per-sample gradient term. Reference: Mohamed, Rosca,
Figurnov and Mnih (2020), "Monte Carlo Gradient Estimation in Machine Learning".

No estimator synchronises with the host, so they run inside
``torch.compile(fullgraph=True)``; costs are checked for nan and inf where that is
free (eagerly on the CPU) or where asked (``check_finite=True``,
:func:`finite_check`, ``reparam.strict()``).
"""

from reparam.estimators._arm import ARM as ARM
from reparam.estimators._arm import DisARM as DisARM
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
from reparam.estimators._gumbel_softmax import GumbelSoftmax as GumbelSoftmax
from reparam.estimators._gumbel_softmax import (
    StraightThroughGumbelSoftmax as StraightThroughGumbelSoftmax,
)
from reparam.estimators._measure_valued import MeasureValued as MeasureValued
from reparam.estimators._pathwise import Pathwise as Pathwise
from reparam.estimators._registry import ESTIMATORS as ESTIMATORS
from reparam.estimators._registry import applicable_estimators as applicable_estimators
from reparam.estimators._registry import resolve_estimator as resolve_estimator
from reparam.estimators._relax import RELAX as RELAX
from reparam.estimators._relax import ConcreteControlVariate as ConcreteControlVariate
from reparam.estimators._score import ScoreFunction as ScoreFunction
from reparam.estimators._straight_through import StraightThrough as StraightThrough
from reparam.estimators._temperature import ExponentialAnnealing as ExponentialAnnealing
