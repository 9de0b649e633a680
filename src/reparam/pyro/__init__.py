"""reparam beside Pyro: its distributions in Pyro programs, and ELBOs Pyro lacks.

Needs Pyro (``pip install "reparam[pyro]"``); nothing else in reparam imports
this package, so without Pyro every other part works unchanged. It is a
top-level subpackage, ``reparam.pyro``, rather than under a ``contrib`` folder:
it is the one integration, kept as its users name it, and it sits above the
core (it imports the distributions, bounds and estimators; they never import
it). ``reparam.strict`` knows Pyro without importing it (``reparam.safety._pyro``).

* :mod:`reparam.pyro.distributions`: every distribution of
  :mod:`reparam.distributions` as a Pyro distribution, for ``pyro.sample`` in
  models and guides (shapes, ``expand``, ``to_event``, ``pyro.plate``).
* :class:`ImportanceWeightedELBO`: the ``num_particles``-sample bound of Burda
  et al. (2016) with the ``"standard"``, ``"stl"`` or ``"dreg"`` gradient of
  :func:`reparam.iwae_bound`, for guides whose sites are all reparameterizable.
* :class:`EstimatorELBO`: the ELBO whose non-reparameterizable guide sites get
  reparam's estimators (``"score-loo"``, ``"disarm"``, ``"relax"``, ...), chosen
  per site or for all.

Both follow Pyro's ``ELBO`` interface, so ``SVI(model, guide, optim, loss=...)``
works unchanged. What :func:`reparam.strict` sees inside Pyro is documented in
:mod:`reparam.safety`'s ``strict`` and in the guide "reparam with Pyro".
"""

from __future__ import annotations

try:
    import pyro as _pyro  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "reparam.pyro needs Pyro, which is not installed; install it with "
        'pip install "reparam[pyro]" (pyro-ppl 1.9)'
    ) from error

from reparam.pyro import distributions as distributions
from reparam.pyro._estimator_elbo import EstimatorELBO as EstimatorELBO
from reparam.pyro._iwae import ImportanceWeightedELBO as ImportanceWeightedELBO
