"""reparam's distributions as Pyro distributions, for ``pyro.sample`` in models and guides.

Each class here is reparam's distribution with Pyro's ``TorchDistributionMixin``
mixed in, which is how Pyro itself wraps ``torch.distributions`` (its
``pyro.distributions.Normal`` is ``torch.distributions.Normal`` with the mixin):
the sampler, ``log_prob`` and gradients are reparam's, unchanged; the mixin adds
what Pyro needs (``dist()`` draws, ``rsample`` when the class has it, so
``pyro.sample`` keeps the pathwise gradient), ``to_event``, ``mask``,
``expand_by``, shapes). ``expand`` returns the same Pyro class, as torch's
``expand`` does (Pyro's mixin would return its ``ExpandedDistribution``), so
``pyro.plate`` and ``to_event`` compose in any order.

>>> import torch, pyro
>>> import reparam.pyro.distributions as rdist
>>> def guide(mu, kappa):
...     with pyro.plate("data", 4):
...         return pyro.sample("z", rdist.VonMisesFisher(mu, kappa))
>>> mu = torch.nn.functional.normalize(torch.randn(3), dim=0)
>>> guide(mu, torch.tensor(5.0)).shape
torch.Size([4, 3])
"""

from __future__ import annotations

from pyro.distributions.torch_distribution import TorchDistributionMixin
from torch import Size
from torch.distributions import Distribution

from reparam import distributions as _reparam
from reparam.distributions._shapes import SampleShape

__all__ = [
    "HypersphericalUniform",
    "MixtureSameFamily",
    "TruncatedNormal",
    "VonMises",
    "VonMisesFisher",
]


class VonMisesFisher(_reparam.VonMisesFisher, TorchDistributionMixin):
    """:class:`reparam.distributions.VonMisesFisher` for Pyro (reparameterized)."""

    def expand(
        self, batch_shape: SampleShape, _instance: Distribution | None = None
    ) -> VonMisesFisher:
        base = _reparam.VonMisesFisher.expand(self, batch_shape)
        return type(self)(base.loc, base.concentration, validate_args=False)


class VonMises(_reparam.VonMises, TorchDistributionMixin):
    """:class:`reparam.distributions.VonMises` for Pyro (reparameterized)."""


class HypersphericalUniform(_reparam.HypersphericalUniform, TorchDistributionMixin):
    """:class:`reparam.distributions.HypersphericalUniform` for Pyro."""

    def expand(
        self, batch_shape: SampleShape, _instance: Distribution | None = None
    ) -> HypersphericalUniform:
        return type(self)(self.dim, Size(batch_shape), self._dtype, self._device, False)


class TruncatedNormal(_reparam.TruncatedNormal, TorchDistributionMixin):
    """:class:`reparam.distributions.TruncatedNormal` for Pyro (reparameterized)."""

    def expand(
        self, batch_shape: SampleShape, _instance: Distribution | None = None
    ) -> TruncatedNormal:
        base = _reparam.TruncatedNormal.expand(self, batch_shape)
        return type(self)(base.loc, base.scale, base.low, base.high, validate_args=False)


class MixtureSameFamily(_reparam.MixtureSameFamily, TorchDistributionMixin):
    """:class:`reparam.distributions.MixtureSameFamily` (with ``rsample``) for Pyro."""
