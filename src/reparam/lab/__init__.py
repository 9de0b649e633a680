"""The gradient lab: measure and compare estimators against exact gradients.

``compare(f, dist, estimators)`` measures each estimator's gradient estimates
of ``grad E_{z ~ dist}[f(z)]`` over many independent trials and reports their
mean, bias (against an exact gradient, where known), variance, signal-to-noise
ratio, time per estimate and variance x time; ``compare_problem(name)`` does
the same for a built-in problem (see ``PROBLEMS``), whose exact gradients and,
where they are known, exact per-sample variances (by numerical integration)
come with it. ``iwae_study`` measures the gradients of the importance-weighted
bound against its number of samples ``k`` (``plot_iwae_snr`` draws their SNR).
``compare_model(loss_fn, module, batch, estimators)`` compares estimators on
one's own model and batch: the variance of the gradient with respect to the
model's weights, per parameter tensor, from replicate gradients with bootstrap
intervals. ``plot_comparison`` draws variance against samples and the
estimates' spread (matplotlib is imported only when it is called).
``gradient_estimates(problem, estimator)`` gives the raw per-trial estimates
behind a comparison, for statistical tests of one's own.

>>> import torch
>>> from torch.distributions import Normal
>>> from reparam import lab
>>> result = lab.compare(lambda z: (z - 3) ** 2, Normal(torch.tensor(1.0), 1.0),
...                      ["pathwise", "score"], num_samples=[1, 4], trials=2000,
...                      exact_gradient={"loc": -4.0, "scale": 2.0})
>>> row = result.row("pathwise", 1, "loc")
>>> row.exact, abs(row.bias) < 5 * row.bias_se, row.unbiased
(-4.0, True, True)
>>> result.recommendation.estimator
'pathwise'
"""

from reparam.lab._compare import DEFAULT_SAMPLES as DEFAULT_SAMPLES
from reparam.lab._compare import DEFAULT_TRAIN_STEPS as DEFAULT_TRAIN_STEPS
from reparam.lab._compare import applicable as applicable
from reparam.lab._compare import compare as compare
from reparam.lab._compare import compare_problem as compare_problem
from reparam.lab._comparison import Comparison as Comparison
from reparam.lab._comparison import Recommendation as Recommendation
from reparam.lab._iwae_model import LinearGaussian as LinearGaussian
from reparam.lab._iwae_study import DEFAULT_K as DEFAULT_K
from reparam.lab._iwae_study import DEFAULT_TRIALS as DEFAULT_TRIALS
from reparam.lab._iwae_study import IWAEStudy as IWAEStudy
from reparam.lab._iwae_study import iwae_study as iwae_study
from reparam.lab._measurement import NotApplicableError as NotApplicableError
from reparam.lab._measurement import gradient_estimates as gradient_estimates
from reparam.lab._memory import TooLargeError as TooLargeError
from reparam.lab._model import compare_model as compare_model
from reparam.lab._model_results import ModelComparison as ModelComparison
from reparam.lab._model_results import ModelRecommendation as ModelRecommendation
from reparam.lab._model_results import ModelRow as ModelRow
from reparam.lab._problem import Problem as Problem
from reparam.lab._problems import PROBLEMS as PROBLEMS
from reparam.lab._problems import get_problem as get_problem
from reparam.lab._problems import takes_k as takes_k
from reparam.lab._results import Row as Row
from reparam.lab.iwae_plots import plot_iwae_snr as plot_iwae_snr
from reparam.lab.plots import plot_comparison as plot_comparison
