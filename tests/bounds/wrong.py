"""Deliberately wrong DReG variants: the statistical and exact checks must reject them."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam import detach_parameters
from reparam.bounds._iwae import LogJoint, log_weights


def unsquared_dreg(log_joint: LogJoint, q: Distribution, num_samples: int) -> Tensor:
    """DReG with the weights not squared: ``sum_i v_i d log w_i / d z_i d z_i / d phi``."""
    z = q.rsample(torch.Size([num_samples]))
    log_w = log_weights(log_joint, detach_parameters(q), z)
    return torch.logsumexp(log_w, 0) - math.log(num_samples)


def attached_dreg(log_joint: LogJoint, q: Distribution, num_samples: int) -> Tensor:
    """DReG with ``q``'s parameters not detached: the score term comes back."""
    z = q.rsample(torch.Size([num_samples]))
    log_w = log_weights(log_joint, q, z)
    weights = torch.softmax(log_w.detach(), 0)
    z.register_hook(lambda grad: grad * weights)
    return torch.logsumexp(log_w, 0) - math.log(num_samples)


def all_squared_dreg(log_joint: LogJoint, q: Distribution, num_samples: int) -> Tensor:
    """Squared weights for every parameter, the generative model's too."""
    z = q.rsample(torch.Size([num_samples]))
    log_w = log_weights(log_joint, detach_parameters(q), z)
    weights = torch.softmax(log_w.detach(), 0)
    value = torch.logsumexp(log_w, 0) - math.log(num_samples)
    surrogate = (weights.square() * log_w).sum(0)
    return value.detach() + surrogate - surrogate.detach()
