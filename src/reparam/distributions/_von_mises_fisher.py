"""The von Mises-Fisher distribution on the unit sphere in ``R^d``, reparameterized.

Density on ``S^{d-1}`` (Mardia and Jupp, 2000, ch. 9):

    q(x) = C_d(k) exp(k mu^T x),   C_d(k) = k^(d/2-1) / ((2 pi)^(d/2) I_{d/2-1}(k)).

Sampling (Wood, 1994): the angle ``theta = arccos(mu^T x)`` by rejection (see
``reparam.distributions._wood``; by inversion for ``d = 3``; from ``k = 1e4`` on,
more in high dimensions, by its Gamma limit law, see
``reparam.distributions._concentrated``), a direction
``v`` uniform on the sphere orthogonal to ``e_1``, ``x' = cos(theta) e_1 +
sin(theta) v``, then an orthogonal map taking ``e_1`` to ``mu`` (a Householder
reflection).

Gradients: ``dx/dmu`` through the reflection; ``dtheta/dk`` by implicit
reparameterization through the CDF of ``theta`` (Figurnov, Mohamed and Mnih,
2018), computed by quadrature in ``reparam.distributions._angular`` (in closed form
for ``d = 3`` and for the limit law; many samples of one concentration share the
quadrature's work, ``reparam.distributions._angle_chain``). This is
unbiased in every dimension, unlike differentiating the accepted proposal of the
rejection sampler, which ignores the dependence of the acceptance step on ``k``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.distributions._angle_chain import chained_dtheta_dkappa, shares_concentration
from reparam.distributions._angular import angle_dtheta_dkappa
from reparam.distributions._bessel import (
    bessel_iv_ratio,
    bessel_iv_ratio_complement,
    entropy_terms,
    log_bessel_ive,
)
from reparam.distributions._concentrated import (
    by_concentration,
    concentrated_dtheta_dkappa,
    vmf_angle,
)
from reparam.distributions._constraints import positive_finite, unit_vector, valid_concentration
from reparam.distributions._implicit import attach_gradient
from reparam.distributions._rejection import raise_if_rejected
from reparam.distributions._shapes import SampleShape
from reparam.distributions._sphere import place_sample
from reparam.safety import deliberately_cut


class VonMisesFisher(Distribution):
    """Von Mises-Fisher distribution on the unit sphere ``S^{d-1}``, any ``d >= 2``.

    Args:
        loc: the mean direction ``mu``, unit vectors of shape ``[*batch, d]``.
        concentration: ``k > 0`` and finite (any size: past ``1e4`` the samples
            come from the limit law, at ``loc`` within rounding as ``k`` grows),
            shape broadcastable to ``[*batch]``.
        validate_args: check ``loc`` and ``concentration`` (and samples given to
            ``log_prob``) on the host. Without it nothing is read on the host: a
            concentration of 0, below 0, NaN or inf gives ``NaN`` samples (as
            :class:`VonMises` does) and no error.

    ``mean = A_d(k) mu`` with ``A_d(k) = I_{d/2}(k) / I_{d/2-1}(k)``.

    >>> import torch
    >>> from reparam.distributions import VonMisesFisher
    >>> mu = torch.nn.functional.normalize(torch.tensor([1.0, 2.0, 2.0]), dim=0)
    >>> kappa = torch.tensor(10.0, requires_grad=True)
    >>> x = VonMisesFisher(mu, kappa).rsample((100,))
    >>> x.shape, bool(torch.allclose(x.norm(dim=-1), torch.ones(100)))
    (torch.Size([100, 3]), True)
    >>> (x @ mu).mean().backward()  # kappa.grad estimates d/dk A_3(k)
    """

    arg_constraints = {"loc": unit_vector, "concentration": positive_finite}  # noqa: RUF012
    support = unit_vector
    has_rsample = True

    def __init__(
        self, loc: Tensor, concentration: Tensor | float, validate_args: bool | None = None
    ) -> None:
        if loc.dim() < 1 or loc.shape[-1] < 2:
            raise ValueError(
                "loc must have shape [*batch, d] with d >= 2 (a unit vector in R^d), "
                f"got shape {list(loc.shape)}"
            )
        concentration = torch.as_tensor(concentration, dtype=loc.dtype, device=loc.device)
        batch_shape = torch.broadcast_shapes(loc.shape[:-1], concentration.shape)
        self.loc = loc.expand(batch_shape + loc.shape[-1:])
        self.concentration = concentration.expand(batch_shape)
        super().__init__(batch_shape, loc.shape[-1:], validate_args)

    @property
    def dim(self) -> int:
        """``d``: the sphere is ``S^{d-1}`` in ``R^d``."""
        return int(self.event_shape[0])

    def expand(
        self, batch_shape: SampleShape, _instance: Distribution | None = None
    ) -> VonMisesFisher:
        batch_shape = torch.Size(batch_shape)
        return VonMisesFisher(
            self.loc.expand(batch_shape + self.event_shape),
            self.concentration.expand(batch_shape),
            validate_args=False,
        )

    def rsample(self, sample_shape: SampleShape = ()) -> Tensor:
        """Samples ``[*sample_shape, *batch, d]``, differentiable in loc and concentration."""
        shape = torch.Size(sample_shape) + self.batch_shape
        dtype, device = self.loc.dtype, self.loc.device
        kappa64 = self.concentration.detach().to(torch.float64)
        with torch.no_grad(), deliberately_cut():
            # A standard normal in R^(d-1): its direction is the tangent, and half its
            # squared norm, independent of the direction, the limit law's Gamma draw.
            tangent = torch.randn((*shape, self.dim - 1), dtype=dtype, device=device)
            norm = torch.linalg.vector_norm(tangent, dim=-1, keepdim=True)
            tangent = tangent / norm
            theta = vmf_angle(kappa64, self.dim, shape, gamma=0.5 * norm.squeeze(-1).square())
            theta = torch.where(valid_concentration(kappa64), theta, math.nan)
        if self._validate_args:
            raise_if_rejected(theta, self.concentration, "Wood's von Mises-Fisher sampler")
        theta_t = theta.to(dtype)
        if torch.is_grad_enabled() and self.concentration.requires_grad:
            with torch.no_grad():
                slope = _dtheta_dkappa(theta, kappa64, self.dim).to(dtype)
            theta_t = attach_gradient(theta_t, [(slope, self.concentration.expand(shape))])
        return place_sample(theta_t, tangent, self.loc)

    def _scaled_log_normalizer(self, log_ive: Tensor | None = None) -> Tensor:
        """``log C_d(k) + k``, computed without the cancellation of ``log I_nu(k) ~ k``.

        ``log_ive``: ``log(I_nu(k) e^-k)`` if already at hand.
        """
        nu = self.dim / 2.0 - 1.0
        kappa = self.concentration
        if log_ive is None:
            log_ive = log_bessel_ive(nu, kappa)
        return nu * torch.log(kappa) - 0.5 * self.dim * math.log(2 * math.pi) - log_ive

    def _mean_resultant(self) -> Tensor:
        """``A_d(k) = E[mu^T x] = I_{d/2}(k) / I_{d/2-1}(k)``."""
        return bessel_iv_ratio(self.dim / 2.0 - 1.0, self.concentration)

    def _mean_complement(self) -> Tensor:
        """``1 - A_d(k) = E[1 - mu^T x]``, accurate when it is near ``(d - 1) / (2k)``."""
        return bessel_iv_ratio_complement(self.dim / 2.0 - 1.0, self.concentration)

    def log_prob(self, value: Tensor) -> Tensor:
        """``log C_d(k) + k mu^T x``, as ``(log C_d(k) + k) - k (1 - mu^T x)``."""
        if self._validate_args:
            self._validate_sample(value)
        return self._scaled_log_normalizer() - self.concentration * (
            1.0 - (self.loc * value).sum(-1)
        )

    def entropy(self) -> Tensor:
        """``-k A_d(k) - log C_d(k) = k (1 - A_d(k)) - (log C_d(k) + k)``."""
        log_ive, k_complement = entropy_terms(self.dim / 2.0 - 1.0, self.concentration)
        return k_complement - self._scaled_log_normalizer(log_ive)

    @property
    def mean(self) -> Tensor:
        return self._mean_resultant().unsqueeze(-1) * self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        """Diagonal of ``Cov[x] = (A/k) I + (1 - d A/k - A^2) mu mu^T``.

        ``1 - A^2 = (1 - A)(1 + A)``, with ``1 - A`` computed directly.
        """
        a = self._mean_resultant().unsqueeze(-1)
        complement = self._mean_complement().unsqueeze(-1)
        a_over_k = a / self.concentration.unsqueeze(-1)
        radial = complement * (1.0 + a) - self.dim * a_over_k
        return a_over_k + radial * self.loc.pow(2)


def _dtheta_dkappa(theta: Tensor, kappa: Tensor, dim: int) -> Tensor:
    """``d theta / d kappa`` of the sampler that drew ``theta`` at each concentration.

    Many samples per concentration (``rsample((n,))`` with ``n >= 8``) share the
    quadrature's work (:mod:`reparam.distributions._angle_chain`).
    """
    exact = (
        chained_dtheta_dkappa if shares_concentration(theta, kappa, dim) else angle_dtheta_dkappa
    )
    if dim == 3:  # sampled by inversion at every concentration: the closed form throughout
        return angle_dtheta_dkappa(theta, kappa, dim)
    return by_concentration(
        kappa,
        dim,
        lambda k: exact(theta, k, dim),
        lambda k: concentrated_dtheta_dkappa(theta, k, dim),
    )
