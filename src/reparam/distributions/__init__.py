"""Reparameterized samplers that PyTorch lacks.

Each is a ``torch.distributions.Distribution`` with ``has_rsample = True``, so it
works with every estimator of the library (pathwise through ``rsample``, score
function through ``log_prob``):

* :class:`VonMises` on the circle and :class:`VonMisesFisher` on the sphere in any
  dimension, with implicit reparameterization gradients (Figurnov, Mohamed and
  Mnih, 2018); :class:`HypersphericalUniform` and a registered
  ``kl_divergence(VonMisesFisher, HypersphericalUniform)``;
* :class:`MixtureSameFamily` with ``rsample``;
* :class:`TruncatedNormal`, accurate for any finite scale (the uniform limit) and
  any interval, narrow or far in the tails.

``transform_to`` and ``biject_to`` know the unit sphere, the support of
:class:`VonMisesFisher` and :class:`HypersphericalUniform` (normalisation, and
the inverse stereographic projection; see ``_sphere_transforms``).

Every concentration must be positive and finite, and any finite size is valid:
past ``1e4`` (more in high dimensions) the von Mises(-Fisher) angle comes from its
Gamma limit law, so samples sit at the mean direction within rounding as it
grows.

No host reads: with ``validate_args=False``, ``rsample``, ``sample``, ``log_prob``,
``entropy`` and the registered KL of every distribution here run without reading
a tensor on the host (on a GPU: without a synchronisation). Branches that depend
on a concentration are taken on the device (``torch.where``); the rejection
samplers draw a fixed number of proposal rounds, and a sample not accepted within
them (probability below ``1e-12``) is ``NaN`` rather than biased, so it shows as a
non-finite loss (see ``reparam.distributions._special.rejection``). A concentration that
is not positive and finite (0, negative, NaN, inf) gives ``NaN`` samples, in both
von Mises families alike. Validation (``validate_args=True``, PyTorch's default)
reads the host: it refuses such parameters with a ``ValueError`` naming them, and
raises :class:`RejectionLimitError` for a sample that was never accepted.

``torch.compile(fullgraph=True)``: ``rsample`` of :class:`TruncatedNormal`,
:class:`MixtureSameFamily` (univariate and diagonal-Gaussian components) and
:class:`HypersphericalUniform` compiles, with eager's values and gradients;
``rsample`` of :class:`VonMises` and :class:`VonMisesFisher` and the KL trace into
one graph as well, without host reads (tested with Dynamo's graph).

:func:`detach_parameters` rebuilds a distribution with its parameters' gradients
stopped, for ``log q(z)`` as a function of ``z`` alone.
"""

# Imported for its registrations: transform_to and biject_to of the unit sphere.
from reparam.distributions import _sphere_transforms  # noqa: F401
from reparam.distributions._detach import NotDetachableError as NotDetachableError
from reparam.distributions._detach import detach_parameters as detach_parameters
from reparam.distributions._hyperspherical_uniform import (
    HypersphericalUniform as HypersphericalUniform,
)
from reparam.distributions._mixture import MixtureSameFamily as MixtureSameFamily
from reparam.distributions._special.rejection import RejectionLimitError as RejectionLimitError
from reparam.distributions._truncated_normal import TruncatedNormal as TruncatedNormal
from reparam.distributions._von_mises import VonMises as VonMises
from reparam.distributions._von_mises_fisher import VonMisesFisher as VonMisesFisher
from reparam.distributions._von_mises_fisher import kl_vmf_uniform as kl_vmf_uniform

__all__ = [
    "HypersphericalUniform",
    "MixtureSameFamily",
    "NotDetachableError",
    "RejectionLimitError",
    "TruncatedNormal",
    "VonMises",
    "VonMisesFisher",
    "detach_parameters",
    "kl_vmf_uniform",
]
