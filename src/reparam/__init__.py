"""reparam: gradients of expectations for models that sample, on PyTorch.

>>> import torch, reparam
>>> from torch.distributions import Normal
>>> scale = torch.tensor(1.0, requires_grad=True)
>>> loss = reparam.expectation(lambda y: y**2, Normal(0.0, scale), num_samples=8)
>>> loss.backward()  # scale.grad estimates d/dscale E[y^2] = 2 * scale
"""

from reparam import bounds as bounds
from reparam import data as data
from reparam import distributions as distributions
from reparam import estimators as estimators
from reparam import lab as lab
from reparam import models as models
from reparam import safety as safety
from reparam import training as training
from reparam.bounds import importance_log_weights as importance_log_weights
from reparam.bounds import iwae_bound as iwae_bound
from reparam.bounds import log_mean_exp_chunked as log_mean_exp_chunked
from reparam.distributions import detach_parameters as detach_parameters
from reparam.estimators import ControlVariate as ControlVariate
from reparam.estimators import Estimator as Estimator
from reparam.estimators import ExponentialAnnealing as ExponentialAnnealing
from reparam.estimators import LeaveOneOut as LeaveOneOut
from reparam.estimators import MovingAverage as MovingAverage
from reparam.estimators import NoBaseline as NoBaseline
from reparam.estimators import expectation as expectation
from reparam.estimators import per_sample_gradients as per_sample_gradients

# Every registered estimator class, ESTIMATORS, resolve_estimator, applicable_estimators:
from reparam.estimators.registry import *  # noqa: F403
from reparam.safety import GradientCheckError as GradientCheckError
from reparam.safety import GradientCutError as GradientCutError
from reparam.safety import check_gradients as check_gradients
from reparam.safety import strict as strict

__version__ = "0.2.0"
