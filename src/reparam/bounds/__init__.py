"""Importance-weighted bounds on ``log p(x)`` and their gradients.

``iwae_bound(log_joint, q, num_samples=k, gradient=...)`` is the ``k``-sample
bound of Burda et al. (2016) with the standard, sticking-the-landing or doubly
reparameterized gradient for the inference network; ``log_mean_exp_chunked``
with ``importance_log_weights`` evaluates the bound for ``k`` in the millions in
bounded memory.
"""

from reparam.bounds._chunked import importance_log_weights as importance_log_weights
from reparam.bounds._chunked import log_mean_exp_chunked as log_mean_exp_chunked
from reparam.bounds._iwae import GRADIENTS as GRADIENTS
from reparam.bounds._iwae import Gradient as Gradient
from reparam.bounds._iwae import iwae_bound as iwae_bound
