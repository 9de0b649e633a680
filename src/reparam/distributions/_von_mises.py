"""The von Mises distribution on the circle, with reparameterized samples.

``torch.distributions.VonMises`` samples with the Best-Fisher (1979) rejection
sampler and has no ``rsample``. This subclass keeps that sampler, with a fixed
number of rounds (``reparam.distributions._best_fisher``) and, from ``kappa = 1e4``, hands
over to the limit law ``1 - cos z ~ Gamma(1/2, rate kappa - 1/4)`` with a random
sign (``reparam.distributions._concentrated``; the parent hangs from about
``1e16``). It adds pathwise gradients by implicit reparameterization (Figurnov,
Mohamed and Mnih, 2018): for the centred sample ``x = z - loc`` in ``[-pi, pi)``,

    dx/dkappa = -(dF(x; kappa)/dkappa) / p(x; kappa),   dz/dloc = 1,

where ``F`` is the CDF of ``x``: by its Fourier series for ``kappa <= 4``
(``reparam.distributions._von_mises_series``), by quadrature of
``dx/dkappa = sign(x) d|x|/dkappa`` beyond (``reparam.distributions._angular``),
stable for ``kappa`` from 1e-3 to 1e4, and by the limit law's ``-sign(x) tan(|x|/2) /
(kappa - 1/4)`` beyond. The ``loc`` derivative is that of a rotation: it is
the exact gradient of ``E[f(z)]`` for costs that are continuous on the circle
(functions of ``cos z`` and ``sin z``); a cost with a jump at ``+-pi`` would
need a boundary term that no pathwise estimator supplies.

It also replaces the parent's polynomial Bessel approximations (about 1e-7
relative) in ``log_prob`` and ``variance`` with ``torch.special.i0e``/``i1e``.
"""

from __future__ import annotations

import math

import torch
import torch.distributions
from torch import Tensor
from torch.distributions import constraints

from reparam.distributions._angular import angle_dtheta_dkappa, angle_survival
from reparam.distributions._best_fisher import best_fisher
from reparam.distributions._concentrated import (
    by_concentration,
    concentrated_angle,
    concentrated_dtheta_dkappa,
)
from reparam.distributions._constraints import positive_finite, valid_concentration
from reparam.distributions._implicit import attach_gradient
from reparam.distributions._rejection import raise_if_rejected
from reparam.distributions._shapes import SampleShape
from reparam.safety import deliberately_cut


class VonMises(torch.distributions.VonMises):
    """Von Mises distribution with ``rsample`` and ``cdf``; angles in ``[-pi, pi)``.

    Args:
        loc: the mean direction, an angle in radians (any real).
        concentration: ``kappa > 0`` and finite (an infinite one is refused by validation).
        validate_args: check the parameters on the host. Without it nothing is
            read on the host: a concentration of 0, below 0, NaN or inf gives
            ``NaN`` samples (as :class:`VonMisesFisher` does) and no error.

    ``sample`` uses the same bounded sampler as ``rsample`` (PyTorch's own loops
    until acceptance and never returns from ``kappa`` near ``1e16``).

    >>> import torch
    >>> from reparam.distributions import VonMises
    >>> kappa = torch.tensor(4.0, requires_grad=True)
    >>> z = VonMises(torch.tensor(0.0), kappa).rsample((1000,))
    >>> z.shape, bool(z.abs().max() <= torch.pi)
    (torch.Size([1000]), True)
    >>> z.cos().mean().backward()  # kappa.grad estimates d/dk I1(k)/I0(k) = 0.0...
    """

    arg_constraints = {"loc": constraints.real, "concentration": positive_finite}  # noqa: RUF012
    has_rsample = True

    @torch.no_grad()
    def sample(self, sample_shape: SampleShape = ()) -> Tensor:
        """Samples without gradients: :meth:`rsample`'s sampler (bounded, any ``kappa``)."""
        return self.rsample(sample_shape)

    def rsample(self, sample_shape: SampleShape = ()) -> Tensor:
        """Best-Fisher samples with implicit gradients in ``loc`` and ``concentration``."""
        shape = self._extended_shape(torch.Size(sample_shape))
        kappa64 = self._concentration.detach()
        with torch.no_grad(), deliberately_cut():
            centred = _centred_sample(kappa64, shape)
            centred = torch.where(valid_concentration(kappa64), centred, math.nan)
        if self._validate_args:
            raise_if_rejected(centred, self.concentration, "Best and Fisher's von Mises sampler")
        x = centred.to(self.loc.dtype)
        if torch.is_grad_enabled() and self.concentration.requires_grad:
            with torch.no_grad():
                slope = _dz_dkappa(centred, kappa64)
            x = attach_gradient(x, [(slope.to(x.dtype), self.concentration.expand(shape))])
        return torch.remainder(x + self.loc + math.pi, 2 * math.pi) - math.pi

    def cdf(self, value: Tensor) -> Tensor:
        """``P(-pi <= Z <= value)`` for ``value`` in ``[-pi, pi)``, ``Z`` wrapped to ``[-pi, pi)``.

        Differentiable in ``value``, ``loc`` and ``concentration``. Beyond
        ``[-pi, pi)`` it continues cumulatively (it grows by 1 every ``2 pi``).
        """
        if self._validate_args:
            self._validate_sample(value)
        return self._cumulative(value - self.loc) - self._cumulative(-math.pi - self.loc)

    def _cumulative(self, x: Tensor) -> Tensor:
        """``G(x)``: the centred CDF on ``[-pi, pi)``, extended by ``G(x + 2 pi) = G(x) + 1``."""
        turns = torch.floor((x + math.pi) / (2 * math.pi))
        y = x - 2 * math.pi * turns.detach()
        survival = angle_survival(y.abs(), self.concentration, 2)
        return turns + torch.where(y < 0, 0.5 * survival, 1.0 - 0.5 * survival)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        kappa = self.concentration
        log_i0 = torch.log(torch.special.i0e(kappa)) + kappa
        return kappa * torch.cos(value - self.loc) - math.log(2 * math.pi) - log_i0

    @property
    def variance(self) -> Tensor:
        """The circular variance ``1 - I1(kappa) / I0(kappa)``."""
        kappa = self.concentration
        return 1.0 - torch.special.i1e(kappa) / torch.special.i0e(kappa)


def _centred_sample(kappa: Tensor, shape: torch.Size) -> Tensor:
    """Float64 samples of ``VonMises(0, kappa)``: Best-Fisher, then the limit law.

    The limit law's ``Gamma(1/2, 1)`` draw is ``n^2 / 2`` for a standard normal
    ``n``, whose sign is the sample's: one normal draw gives both.
    """

    def limit(k: Tensor) -> Tensor:
        normal = torch.randn(shape, dtype=k.dtype, device=k.device)
        angle = concentrated_angle(k, 2, shape, gamma=0.5 * normal.square())
        return torch.where(normal < 0, -angle, angle)

    return by_concentration(kappa, 2, lambda k: best_fisher(k, shape), limit)


def _dz_dkappa(centred: Tensor, kappa: Tensor) -> Tensor:
    """``dz/dkappa`` for centred float64 samples of the sampler of :func:`_centred_sample`."""
    return by_concentration(
        kappa,
        2,
        lambda k: _exact_dz_dkappa(centred, k),
        lambda k: torch.sign(centred) * concentrated_dtheta_dkappa(centred.abs(), k, 2),
    )


def _exact_dz_dkappa(centred: Tensor, kappa: Tensor) -> Tensor:
    """``dz/dkappa`` for centred float64 samples: series for small, quadrature for large kappa.

    Both on every element, chosen by ``torch.where`` (no host read).
    """
    return torch.sign(centred) * angle_dtheta_dkappa(centred.abs(), kappa, 2)
