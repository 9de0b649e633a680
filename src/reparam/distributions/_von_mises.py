"""The von Mises distribution on the circle, with reparameterized samples.

``torch.distributions.VonMises`` samples with the Best-Fisher (1979) rejection
sampler and has no ``rsample``. This subclass keeps that sampler, with a fixed
number of rounds (below) and, from ``kappa = 1e4``, hands
over to the limit law ``1 - cos z ~ Gamma(1/2, rate kappa - 1/4)`` with a random
sign (``reparam.distributions._special.limit_law``; the parent hangs from about
``1e16``). It adds pathwise gradients by implicit reparameterization (Figurnov,
Mohamed and Mnih, 2018): for the centred sample ``x = z - loc`` in ``[-pi, pi)``,

    dx/dkappa = -(dF(x; kappa)/dkappa) / p(x; kappa),   dz/dloc = 1,

where ``F`` is the CDF of ``x``: by its Fourier series for ``kappa <= 4``
(``reparam.distributions._special.von_mises_series``), by quadrature of
``dx/dkappa = sign(x) d|x|/dkappa`` beyond (``reparam.distributions._special.angle``),
stable for ``kappa`` from 1e-3 to 1e4, and by the limit law's ``-sign(x) tan(|x|/2) /
(kappa - 1/4)`` beyond. The ``loc`` derivative is that of a rotation: it is
the exact gradient of ``E[f(z)]`` for costs that are continuous on the circle
(functions of ``cos z`` and ``sin z``); a cost with a jump at ``+-pi`` would
need a boundary term that no pathwise estimator supplies.

It also replaces the parent's polynomial Bessel approximations (about 1e-7
relative) in ``log_prob`` and ``variance`` with ``torch.special.i0e``/``i1e``.

Best and Fisher's (1979) rejection sampler, bounded.

Best and Fisher ("Efficient simulation of the von Mises distribution", Applied
Statistics 28(2)) sample ``z ~ VonMises(0, k)`` on ``[-pi, pi]`` from a wrapped
Cauchy envelope: with

    tau = 1 + sqrt(1 + 4 k^2),   rho = (tau - sqrt(2 tau)) / (2 k),   r = (1 + rho^2) / (2 rho),

draw ``u1, u2, u3 ~ U(0, 1)``, set ``c = cos(pi u1)``, ``f = (1 + r c) / (r + c)``
and ``g = k (r - f)``, accept when ``g (2 - g) > u2`` or ``log(g / u2) + 1 - g >= 0``,
and return ``z = sign(u3 - 1/2) arccos f``. Their efficiency is at least 0.656. For
``k < 1e-5``, ``r = 1/k + k`` to second order (``rho`` cancels in float64).

The same algorithm as PyTorch's ``VonMises.sample``, with a fixed number of
rounds (``reparam.distributions._special.rejection``). In float64 it loses about ``k * eps`` of
relative accuracy (``f`` and ``r`` approach 1) and stops accepting once ``r``
rounds to 1, near ``k = 1e16``: ``VonMises`` uses it only below
``reparam.distributions._special.limit_law.concentrated_threshold(2) = 1e4``.
"""

from __future__ import annotations

import math

import torch
import torch.distributions
from torch import Tensor
from torch.distributions import constraints

from reparam.distributions._constraints import positive_finite, valid_concentration
from reparam.distributions._shapes import SampleShape
from reparam.distributions._special.angle import angle_survival
from reparam.distributions._special.angle_chain import dtheta_dkappa
from reparam.distributions._special.implicit import attach_gradient
from reparam.distributions._special.limit_law import (
    by_concentration,
    concentrated_angle,
    concentrated_dtheta_dkappa,
)
from reparam.distributions._special.rejection import raise_if_rejected, rejection_sample
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

    The limit law's radius is ``|n|`` for a standard normal ``n``, whose sign is
    the sample's: one normal draw gives both.
    """

    def limit(k: Tensor) -> Tensor:
        normal = torch.randn(shape, dtype=k.dtype, device=k.device)
        angle = concentrated_angle(k, 2, shape, radius=normal.abs())
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

    Both on every element, chosen by ``torch.where`` (no host read); the quadrature
    is chained when many samples share a concentration.
    """
    return torch.sign(centred) * dtheta_dkappa(centred.abs(), kappa, 2)


def _envelope_r(kappa: Tensor) -> Tensor:
    tau = 1.0 + torch.sqrt(1.0 + 4.0 * kappa * kappa)
    rho = (tau - torch.sqrt(2.0 * tau)) / (2.0 * kappa)
    r = (1.0 + rho * rho) / (2.0 * rho)
    return torch.where(kappa < 1e-5, 1.0 / kappa + kappa, r)


@torch.no_grad()
def best_fisher(kappa: Tensor, shape: torch.Size) -> Tensor:
    """Centred von Mises samples of ``shape``, float64, ``kappa`` broadcastable to it.

    A fixed number of proposal rounds, without host reads
    (``reparam.distributions._special.rejection``): a sample not accepted within them
    (probability below ``1e-12``; always, for a NaN concentration) is ``NaN``.

    >>> z = best_fisher(torch.tensor(50.0, dtype=torch.float64), torch.Size([1000]))
    >>> bool(z.abs().max() < 1.5), bool(abs(z.std().item() - 50**-0.5) < 0.02)
    (True, True)
    """
    flat_kappa = kappa.to(torch.float64).expand(shape).reshape(-1)
    envelope = torch.stack([flat_kappa, _envelope_r(flat_kappa)])

    def propose(index: Tensor | None, rounds: int) -> tuple[Tensor, Tensor]:
        rows = envelope if index is None else envelope[:, index]
        k, r = rows.unsqueeze(-1)  # each [m, 1]
        u1, u2, u3 = torch.rand((3, k.numel(), rounds), dtype=torch.float64, device=kappa.device)
        c = torch.cos(math.pi * u1)
        f = (1.0 + r * c) / (r + c)
        g = k * (r - f)
        accept = (g * (2.0 - g) > u2) | (torch.log(g / u2) + 1.0 - g >= 0)
        return torch.where(u3 < 0.5, -1.0, 1.0).to(f) * torch.acos(f), accept

    return rejection_sample(propose, flat_kappa.numel()).reshape(shape)
