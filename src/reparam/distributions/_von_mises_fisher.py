"""The von Mises-Fisher distribution on the unit sphere in ``R^d``, reparameterized.

Density on ``S^{d-1}`` (Mardia and Jupp, 2000, ch. 9):

    q(x) = C_d(k) exp(k mu^T x),   C_d(k) = k^(d/2-1) / ((2 pi)^(d/2) I_{d/2-1}(k)).

Sampling (Wood, 1994): the angle ``theta = arccos(mu^T x)`` by rejection (below;
by inversion for ``d = 3``; from ``k = 1e4`` on, more in high dimensions, by its
Gamma limit law, see ``reparam.distributions._special.limit_law``), a direction
``v`` uniform on the sphere orthogonal to ``e_1``, ``x' = cos(theta) e_1 +
sin(theta) v``, then an orthogonal map taking ``e_1`` to ``mu`` (a Householder
reflection).

Gradients: ``dx/dmu`` through the reflection; ``dtheta/dk`` by implicit
reparameterization through the CDF of ``theta`` (Figurnov, Mohamed and Mnih,
2018), computed by quadrature in ``reparam.distributions._special.angle`` (in closed form
for ``d = 3`` and for the limit law; many samples of one concentration share the
quadrature's work, ``reparam.distributions._special.angle_chain``). This is
unbiased in every dimension, unlike differentiating the accepted proposal of the
rejection sampler, which ignores the dependence of the acceptance step on ``k``.

This module holds the whole sampler and the KL divergences of the family, so it
runs past 300 lines: the distribution, Wood's angle sampler, the ``d = 3``
inversion, the Householder placement with its fused backward pass, and the KLs.
The special functions it shares with :class:`VonMises` (Bessel ratios, the angle's
CDF and its derivative, the limit law, the bounded rejection) are in
``reparam.distributions._special``.

Wood's (1994) rejection sampler for the angle of a von Mises-Fisher variable.

For ``x`` von Mises-Fisher on the unit sphere in ``R^d`` (concentration ``k``), the
component ``w = mu^T x`` has density proportional to
``exp(k w) (1 - w^2)^((d-3)/2)`` on ``[-1, 1]``. Wood (1994, "Simulation of the von
Mises Fisher distribution", Commun. Statist. Simula. 23(1)) proposes

    w = (1 - (1+b) z) / (1 - (1-b) z) = (1 - b r) / (1 + b r),
    z ~ Beta((d-1)/2, (d-1)/2),   r = z / (1 - z),

with ``b = (d-1) / (2k + sqrt(4k^2 + (d-1)^2))``, ``x0 = (1-b)/(1+b)`` and
``c = k x0 + (d-1) log(1 - x0^2)``, accepting when
``k w + (d-1) log(1 - x0 w) - c >= log u`` for ``u ~ U(0, 1)``.

We return the angle ``theta = arccos w`` computed as ``2 atan(sqrt(b r))`` (since
``(1-w)/(1+w) = b r``), which stays accurate when ``w`` is within rounding of 1.
No gradient: the caller attaches the implicit one.

The proposal's odds ``r`` come from two uniforms, without a Gamma variate: with
``z = (1 + t) / 2``, ``t`` is distributed as the first coordinate of a uniform point
on the sphere in ``R^d``, which is ``R cos(2 pi V)`` for the radius ``R`` of the
point's first two coordinates, ``R^2 = 1 - U^(2/(d-2))`` (their joint density on the
unit disc is proportional to ``(1 - R^2)^((d-4)/2)``; ``R = 1`` for ``d = 2``).
Then ``1 - t^2 = sin^2(2 pi V) + cos^2(2 pi V) U^(2/(d-2))``, a sum without
cancellation, and ``r = (1 - t^2) / (1 - t)^2`` for ``t < 0``,
``(1 + t)^2 / (1 - t^2)`` otherwise, accurate at both ends.

KL divergences, registered with ``torch.distributions.kl_divergence``: to the
uniform distribution on the sphere and between two von Mises-Fisher distributions.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.distributions import Distribution, register_kl

from reparam.distributions._constraints import positive_finite, unit_vector, valid_concentration
from reparam.distributions._hyperspherical_uniform import HypersphericalUniform
from reparam.distributions._shapes import SampleShape
from reparam.distributions._special.angle import angle_dtheta_dkappa
from reparam.distributions._special.angle_chain import dtheta_dkappa
from reparam.distributions._special.bessel import (
    bessel_iv_ratio,
    bessel_iv_ratio_complement,
    entropy_terms,
    log_bessel_ive,
)
from reparam.distributions._special.constants import device_constants
from reparam.distributions._special.limit_law import (
    by_concentration,
    concentrated_angle,
    concentrated_dtheta_dkappa,
)
from reparam.distributions._special.rejection import raise_if_rejected, rejection_sample
from reparam.distributions._special.sphere import log_sphere_area
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
        new = self._get_checked_instance(VonMisesFisher, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new.concentration = self.concentration.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: SampleShape = ()) -> Tensor:
        """Samples ``[*sample_shape, *batch, d]``, differentiable in loc and concentration."""
        shape = torch.Size(sample_shape) + self.batch_shape
        dtype, device = self.loc.dtype, self.loc.device
        kappa64 = self.concentration.detach().to(torch.float64)
        with torch.no_grad(), deliberately_cut():
            # A standard normal in R^(d-1): its direction is the tangent, and its norm,
            # independent of the direction, the limit law's radius.
            tangent = torch.randn((*shape, self.dim - 1), dtype=dtype, device=device)
            norm = torch.linalg.vector_norm(tangent, dim=-1, keepdim=True)
            tangent = tangent / norm
            theta = vmf_angle(kappa64, self.dim, shape, radius=norm.squeeze(-1))
            theta = torch.where(valid_concentration(kappa64), theta, math.nan)
        if self._validate_args:
            raise_if_rejected(theta, self.concentration, "Wood's von Mises-Fisher sampler")
        implicit = None
        if torch.is_grad_enabled() and self.concentration.requires_grad:
            with torch.no_grad():
                slope = _dtheta_dkappa(theta, kappa64, self.dim).to(dtype)
            implicit = (self.concentration, slope)
        return place_sample(theta.to(dtype), tangent, self.loc, implicit)

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

    Many samples per concentration (``rsample((n,))`` with ``n >= 128``) share the
    quadrature's work (:mod:`reparam.distributions._special.angle_chain`).
    """
    if dim == 3:  # sampled by inversion at every concentration: the closed form throughout
        return angle_dtheta_dkappa(theta, kappa, dim)
    return by_concentration(
        kappa,
        dim,
        lambda k: dtheta_dkappa(theta, k, dim),
        lambda k: concentrated_dtheta_dkappa(theta, k, dim),
    )


def reflect_from_first_axis(x: Tensor, direction: Tensor) -> Tensor:
    """Apply an orthogonal map taking ``e_1`` to ``direction`` (a unit vector) to ``x``.

    The map is ``-s H`` with ``H`` the Householder reflection along
    ``u = e_1 + s * direction`` and ``s = sign(direction_1)`` (``+1`` at 0), so
    ``|u|^2 = 2 (1 + |direction_1|) >= 2``: no cancellation when ``direction`` is
    near ``+-e_1``. Differentiable in both arguments; shapes broadcast over ``[..., d]``.

    >>> e1 = torch.tensor([1.0, 0.0, 0.0])
    >>> mu = torch.tensor([0.0, 0.6, 0.8])
    >>> reflect_from_first_axis(e1, mu).abs()
    tensor([0.0000, 0.6000, 0.8000])
    """
    sign = torch.where(direction[..., :1] >= 0, 1.0, -1.0).to(direction)
    u = sign * direction
    u = torch.cat([u[..., :1] + 1.0, u[..., 1:]], dim=-1)
    scale = 2.0 * (u * x).sum(-1, keepdim=True) / (u * u).sum(-1, keepdim=True)
    return -sign * (x - scale * u)


class _PlacedSample(torch.autograd.Function):
    """``x = Q (cos(theta) e_1 + sin(theta) v)``, ``Q`` of :func:`reflect_from_first_axis`.

    With ``p = direction + s e_1`` (``u = s p``, so ``(u.y) u = (p.y) p``) and
    ``c = 2 / |p|^2``, ``Q y = s (c (p.y) p - y)``. The forward pass computes
    ``a = Q e_1`` and ``b = Q (0, v)`` and returns ``cos(theta) a + sin(theta) b``,
    the two terms apart so that a tangent part below rounding of 1 (``theta < eps``,
    a concentration past about ``1e14`` in float32) survives instead of vanishing
    into ``p.y``.

    Backward: with respect to ``theta``, ``g.b cos(theta) - g.a sin(theta)``; with
    respect to the concentration (when a slope ``d theta / d k`` is given), that
    times the slope, summed to the concentration's shape: the implicit gradient
    without a separate node in the graph; with respect to ``direction``
    (``dp = d(direction)``, ``dc = -c^2 p.dp``), ``s c [(p.g) y + (p.y) g - c (p.y)(p.g) p]``
    summed over the samples. Every term is a row-wise dot product or one pass over
    ``[*, d]`` (matrix-vector products for one direction): no autograd graph over
    the ``[*, d]`` sample.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        theta: Tensor,
        concentration: Tensor | None,
        slope: Tensor | None,
        tangent: Tensor,
        direction: Tensor,
    ) -> Tensor:
        first = direction[..., :1]
        sign = torch.ones_like(first).copysign_(first)  # s, +-1 (either at 0)
        p = torch.addcmul(direction, sign, _first_axis(direction))
        c = torch.reciprocal((p * p).sum(-1, keepdim=True)).mul_(2.0)
        angle = theta.unsqueeze(-1)
        cos, sin = torch.cos(angle), torch.sin(angle)
        along = (tangent * direction[..., 1:]).sum(-1, keepdim=True)  # p_{2:} . v
        a = torch.mul(p, c * p[..., :1])  # Q e_1 = s (c p_1 p - e_1)
        a[..., 0].sub_(1.0)
        a.mul_(sign)
        b = torch.mul(p, c * along)  # Q (0, v) = s (c (p_{2:} . v) p - (0, v))
        b[..., 1:].sub_(tangent)
        b.mul_(sign)
        extra = [] if slope is None else [slope]
        ctx.save_for_backward(tangent, sign, p, c, cos, sin, along, a, b, *extra)
        ctx.direction_shape = direction.shape  # type: ignore[attr-defined]
        ctx.concentration_shape = (  # type: ignore[attr-defined]
            None if concentration is None else concentration.shape
        )
        return torch.mul(a, cos).addcmul_(b, sin)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        tangent, sign, p, c, cos, sin, along, a, b, *extra = ctx.saved_tensors
        along_path = torch.mul(b, cos).addcmul_(a, sin, value=-1.0)  # dx / dtheta
        grad_theta = torch.linalg.vecdot(grad, along_path)
        grad_kappa = None
        if ctx.needs_input_grad[1] and extra:
            grad_kappa = (grad_theta * extra[0]).sum_to_size(ctx.concentration_shape)
        p_y = torch.addcmul(p[..., :1] * cos, sin, along)  # p . y
        y = torch.cat([cos, tangent * sin], dim=-1)
        if p.dim() == 1:  # one direction for all samples: sums over them by BLAS
            d = p.shape[0]
            p_g = grad.reshape(-1, d) @ p
            flat_y = p_y.reshape(-1)
            total = y.reshape(-1, d).T @ p_g + grad.reshape(-1, d).T @ flat_y
            grad_direction = (sign * c) * (total - c * (flat_y @ p_g) * p)
        else:
            p_g = (grad * p).sum(-1, keepdim=True)
            grad_p = torch.addcmul(p_g * y, p_y, grad).addcmul_(p, c * p_y * p_g, value=-1.0)
            grad_direction = grad_p.mul_(sign * c).sum_to_size(ctx.direction_shape)
        return grad_theta, grad_kappa, None, None, grad_direction


def _first_axis(like: Tensor) -> Tensor:
    """``e_1`` in ``R^d`` for vectors ``like`` (``[..., d]``), in their dtype and device."""
    d = like.shape[-1]
    return device_constants((1.0,) + (0.0,) * (d - 1), like.device, like.dtype)


def place_sample(
    theta: Tensor,
    tangent: Tensor,
    direction: Tensor,
    implicit: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """``reflect_from_first_axis(cat(cos(theta), sin(theta) tangent), direction)``, fused.

    Args:
        theta: angles ``[*S, *B]``; tangent: unit vectors ``[*S, *B, d - 1]`` (no
        gradient); direction: unit vectors ``[*B, d]``.
        implicit: ``(concentration, slope)``: the sample's gradient with respect to
            ``concentration`` (broadcastable to ``theta``) is that of ``theta`` times
            ``slope = d theta / d concentration`` (no gradient, ``theta``'s shape).

    Differentiable in ``theta``, ``direction`` and the concentration (first order),
    with one pass of arithmetic over the ``[*S, *B, d]`` sample in each direction.

    >>> theta = torch.tensor([0.3, 1.2])
    >>> v = torch.nn.functional.normalize(torch.tensor([[1.0, 2.0], [-1.0, 0.5]]), dim=-1)
    >>> mu = torch.nn.functional.normalize(torch.tensor([0.2, -1.0, 0.4]), dim=0)
    >>> local = torch.cat([theta.cos().unsqueeze(-1), theta.sin().unsqueeze(-1) * v], -1)
    >>> torch.allclose(place_sample(theta, v, mu), reflect_from_first_axis(local, mu))
    True
    """
    concentration, slope = implicit if implicit is not None else (None, None)
    out: Tensor = _PlacedSample.apply(theta, concentration, slope, tangent, direction)
    return out


def sphere_angle(kappa: Tensor, shape: torch.Size) -> Tensor:
    """``d = 3``: angles by inversion, float64, for ``kappa`` broadcastable to ``shape``.

    ``s = 1 - w`` has ``P(S <= s) = (1 - exp(-k s)) / (1 - exp(-2k))``, so for ``V``
    uniform on ``(0, 1]``

        s = -log1p(V expm1(-2k)) / k,   theta = 2 asin(sqrt(s / 2)),

    exact, without rejection, and accurate both for small ``k`` (where ``s`` is near
    ``2 V``) and for ``theta`` within rounding of 0.

    >>> theta = sphere_angle(torch.tensor(1e-6, dtype=torch.float64), torch.Size([100_000]))
    >>> abs(torch.cos(theta).mean().item()) < 0.01  # nearly uniform on the sphere: E[w] ~ 0
    True
    """
    kappa = kappa.to(torch.float64).expand(shape)
    v = 1.0 - torch.rand(shape, dtype=torch.float64, device=kappa.device)
    s = torch.log1p(v * torch.expm1(-2.0 * kappa)).div_(kappa).neg_()
    return torch.asin(s.mul_(0.5).sqrt_().clamp_max_(1.0)).mul_(2.0)


def vmf_angle(kappa: Tensor, dim: int, shape: torch.Size, radius: Tensor | None = None) -> Tensor:
    """Angles ``arccos(mu^T x)`` for any positive ``kappa``: Wood's sampler, then the limit law.

    For ``d = 3`` the exact law is sampled by inversion (:func:`sphere_angle`) at
    every concentration: no rejection, and accurate as ``k`` grows. ``radius``: as
    in :func:`concentrated_angle`.

    >>> kappa = torch.tensor([1.0, 1e20], dtype=torch.float64)
    >>> theta = vmf_angle(kappa, 5, torch.Size([1000, 2]))
    >>> bool(theta[:, 0].mean() > 0.5), bool(theta[:, 1].max() < 1e-8)
    (True, True)
    """
    kappa = kappa.to(torch.float64)
    if dim == 3:
        return sphere_angle(kappa, shape)
    return by_concentration(
        kappa,
        dim,
        lambda k: wood_angle(k, dim, shape),
        lambda k: concentrated_angle(k, dim, shape, radius),
    )


def _envelope(kappa: Tensor, dim: int) -> tuple[Tensor, Tensor, Tensor]:
    """``(b, -x0, c)`` of Wood's envelope (see the module docstring), of ``kappa``'s shape.

    ``b = q / (2k + hypot(2k, q))``, and ``log(1 - x0^2) = log(4b / (1 + b)^2)``
    from ``1 - x0 = 2b / (1 + b)`` and ``1 + x0 = 2 / (1 + b)``, exactly.
    """
    q = dim - 1.0
    two_k = 2.0 * kappa
    q_t = torch.full_like(two_k, q)
    b = q_t / torch.hypot(two_k, q_t).add_(two_k)
    one_plus_b = 1.0 + b
    neg_x0 = (b - 1.0).div_(one_plus_b)
    log_1m_x0_sq = torch.div(b, one_plus_b.square_()).mul_(4.0).log_()
    return b, neg_x0, log_1m_x0_sq.mul_(q).addcmul_(kappa, neg_x0, value=-1.0)


def symmetric_beta_odds(dim: int, shape: torch.Size, device: torch.device) -> Tensor:
    """``z / (1 - z)`` for ``z ~ Beta((d-1)/2, (d-1)/2)``, float64 (see the module docstring).

    >>> r = symmetric_beta_odds(3, torch.Size([100_000]), torch.device("cpu"))
    >>> z = r / (1 + r)  # Beta(1, 1): uniform, mean 1/2 and variance 1/12
    >>> abs(z.mean().item() - 0.5) < 0.005, abs(z.var().item() - 1 / 12) < 0.002
    (True, True)
    """
    power = math.inf if dim == 2 else 2.0 / (dim - 2)
    u = torch.rand(shape, dtype=torch.float64, device=device)
    angle = torch.rand(shape, dtype=torch.float64, device=device).mul_(2.0 * math.pi)
    cos = torch.cos(angle)
    u_power = u.log_().mul_(power).exp_()  # U^(2/(d-2)), 0 for d = 2
    t = torch.rsub(u_power, 1.0).sqrt_().mul_(cos)
    one_minus_t2 = torch.addcmul(angle.sin_().square_(), cos.square_(), u_power)
    below = one_minus_t2 / torch.rsub(t, 1.0).square_()
    above = torch.add(t, 1.0).square_().div_(one_minus_t2)
    return torch.where(t < 0, below, above)


@torch.no_grad()
def wood_angle(kappa: Tensor, dim: int, shape: torch.Size) -> Tensor:
    """Angles ``theta = arccos(mu^T x)`` of ``shape``, float64, for ``kappa`` broadcastable.

    A fixed number of proposal rounds, without host reads
    (``reparam.distributions._special.rejection``): a sample not accepted within them
    (probability below ``1e-12``; always, for a NaN concentration) is ``NaN``. For
    concentrations past about ``1e15 (d - 1)`` the envelope's ``b`` falls below
    rounding and no proposal can pass;
    :func:`vmf_angle` hands those (from far
    lower, ``1e4``) to the limit law.

    >>> theta = wood_angle(torch.tensor(1e3, dtype=torch.float64), 3, torch.Size([4]))
    >>> bool((theta > 0).all() and (theta < 0.2).all())
    True
    """
    flat_kappa = kappa.to(torch.float64).expand(shape).reshape(-1, 1)
    columns = (*_envelope(flat_kappa, dim), flat_kappa)  # b, -x0, c, k: each [n, 1]
    table: list[Tensor] = []  # the columns stacked, for gathering pending samples

    def propose(index: Tensor | None, rounds: int) -> tuple[Tensor, Tensor]:
        if index is None:
            b, neg_x0, c, k = columns
        else:
            if not table:
                table.append(torch.stack(columns))
            b, neg_x0, c, k = table[0][:, index]
        size = torch.Size([k.shape[0], rounds])
        scaled_odds = symmetric_beta_odds(dim, size, kappa.device).mul_(b)
        w = torch.rsub(scaled_odds, 1.0).div_(scaled_odds + 1.0)
        log_u = torch.rand(size, dtype=torch.float64, device=kappa.device).log_()
        accept = torch.mul(w, neg_x0).log1p_().mul_(dim - 1.0).addcmul_(k, w).sub_(c) >= log_u
        return scaled_odds, accept

    scaled_odds = rejection_sample(propose, flat_kappa.shape[0])
    return torch.sqrt(scaled_odds).atan_().mul_(2.0).reshape(shape)


@register_kl(VonMisesFisher, HypersphericalUniform)
def kl_vmf_uniform(p: VonMisesFisher, q: HypersphericalUniform) -> Tensor:
    """``KL(vMF(mu, k) || U(S^{d-1})) = k A_d(k) + log C_d(k) + log |S^{d-1}|``.

    That is ``-H(p) + log |S^{d-1}|`` (Davidson et al., 2018, "Hyperspherical
    Variational Auto-Encoders", the KL term of their ELBO); it does not depend on
    ``mu``. Shape: ``p.batch_shape`` broadcast with ``q.batch_shape``.

    >>> import torch
    >>> from torch.distributions import kl_divergence
    >>> from reparam.distributions import HypersphericalUniform, VonMisesFisher
    >>> p = VonMisesFisher(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(1e-3))
    >>> kl_divergence(p, HypersphericalUniform(3)).item() < 1e-6  # nearly uniform
    True
    """
    if p.event_shape != q.event_shape:
        raise ValueError(
            f"KL between a von Mises-Fisher distribution in R^{p.dim} and the uniform "
            f"distribution on the sphere in R^{q.dim}: the dimensions must match"
        )
    kl = -p.entropy() + log_sphere_area(p.dim)
    return kl.expand(torch.broadcast_shapes(p.batch_shape, q.batch_shape))


@register_kl(VonMisesFisher, VonMisesFisher)
def kl_vmf_vmf(p: VonMisesFisher, q: VonMisesFisher) -> Tensor:
    """``KL(vMF(mu_p, k_p) || vMF(mu_q, k_q))`` in closed form.

    With ``E_p[x] = A_d(k_p) mu_p`` (``A_d = I_{d/2} / I_{d/2-1}``, the mean
    resultant length),

        KL = log C_d(k_p) - log C_d(k_q) + A_d(k_p) (k_p - k_q mu_q^T mu_p).

    It is computed as ``(s_p - s_q) + (k_q - k_p)(1 - A_d(k_p)) + k_q A_d(k_p)
    (1 - mu_q^T mu_p)``, with ``s = log C_d(k) + k`` (no cancellation of
    ``log I ~ k``), ``1 - A`` from its own series and ``1 - mu_q^T mu_p =
    |mu_p - mu_q|^2 / 2``: accurate for large concentrations and near directions,
    and exactly zero for ``q = p``. Shape: the batch shapes broadcast.

    >>> import torch
    >>> from torch.distributions import kl_divergence
    >>> from reparam.distributions import VonMisesFisher
    >>> p = VonMisesFisher(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(5.0))
    >>> kl_divergence(p, p).item()
    0.0
    >>> q = VonMisesFisher(torch.tensor([0.0, 1.0, 0.0]), torch.tensor(2.0))
    >>> round(kl_divergence(p, q).item(), 4)  # d = 3: C(k) = k / (4 pi sinh k)
    1.8983
    """
    if p.event_shape != q.event_shape:
        raise ValueError(
            f"KL between von Mises-Fisher distributions in R^{p.dim} and R^{q.dim}: "
            "the dimensions must match"
        )
    resultant = p._mean_resultant()
    complement = p._mean_complement()
    apart = (p.loc - q.loc).square().sum(-1) / 2
    kl = (
        p._scaled_log_normalizer()
        - q._scaled_log_normalizer()
        + (q.concentration - p.concentration) * complement
        + q.concentration * resultant * apart
    )
    return kl.expand(torch.broadcast_shapes(p.batch_shape, q.batch_shape))
