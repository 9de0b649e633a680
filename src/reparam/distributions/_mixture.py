"""Mixtures with reparameterized samples.

``torch.distributions.MixtureSameFamily`` has no ``rsample``: the component index
is discrete. Implicit reparameterization (Figurnov, Mohamed and Mnih, 2018) needs
only the mixture's CDF: a sample ``x`` drawn the usual way gets

    dx/dtheta = -(dF(x; theta)/dtheta) / p(x; theta),   F = sum_k pi_k F_k,

for univariate components with a differentiable ``cdf`` (Normal, Laplace, Cauchy,
``TruncatedNormal``, ``VonMises`` of this package, ...).


For components ``Independent(base, 1)`` with a univariate ``base`` that has a
``cdf`` (diagonal Gaussians: ``Independent(Normal(loc, scale), 1)``) we use the
sequential conditional construction (Graves, 2016, "Stochastic Backpropagation
through Mixture Density Distributions"; Figurnov et al., 2018, section 3): the
``j``-th coordinate, given the earlier ones, is a univariate mixture with weights
``w_jk ∝ pi_k prod_{i<j} p_k(x_i)``, and is reparameterized through its
conditional CDF. The weights see the earlier coordinates *with* their gradients,
which gives the full triangular Jacobian of the transport.

The module runs past 300 lines because it holds both constructions: the generic
one, through each component's ``cdf``, and the closed form for Gaussian mixtures,
whose fused backward pass follows.

Implicit reparameterization of Gaussian mixtures in closed form, one fused pass.

For a mixture of diagonal Gaussians (``D = 1``: of univariate Normals) with logits
``a_k``, locations ``mu_kj`` and scales ``s_kj``, the sequential construction
(Graves, 2016; Figurnov, Mohamed and Mnih, 2018, section 3) moves coordinate
``x_j`` along the conditional CDF ``F_j = sum_k w_jk Phi(z_jk)``, where
``z_jk = (x_j - mu_kj) / s_kj`` and the weights ``w_j = softmax(u_j)`` have the
log-weights

    u_0k = a_k,   u_{j+1,k} = u_jk + log N(x_j; mu_kj, s_kj).

``w_{j+1,k}`` is the responsibility of component ``k`` after ``x_0..x_j``, and the
conditional density is ``p_j = exp(L_{j+1} - L_j)`` with ``L_j = logsumexp_k u_jk``.
Differentiating ``F_j(x_j) = const`` gives, with ``q_jk = w_jk (Phi(z_jk) - F_j)``,

    dx_j = (-sum_k q_jk du_jk) / p_j + sum_k w_{j+1,k} (dmu_kj + z_jk ds_kj),
    du_{j+1,k} = du_jk + (z_jk / s_kj) (dmu_kj - dx_j) + ((z_jk^2 - 1) / s_kj) ds_kj.

The backward pass runs this recursion in reverse (adjoints ``x̄_j``, ``ū_j``),
one short loop over coordinates on ``[*sample, *batch, K]`` tensors; every
per-coordinate factor is computed once, in the forward pass, for all coordinates
at once. It gives the same gradients as automatic differentiation through the
generic construction above, at a fraction of the
cost (``tests/distributions/test_normal_mixture.py`` checks the agreement).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributions
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable
from torch.distributions import Distribution, Independent, Normal, constraints

from reparam._numerics import HALF_LOG_2PI
from reparam.distributions._shapes import SampleShape
from reparam.distributions._special.implicit import implicit_from_cdf
from reparam.safety import deliberately_cut


class _InSomeComponent(constraints.Constraint):
    """Within the support of at least one component (torch's mixture asks for all).

    A mixture's support is the union of its components' supports: the samples
    of a mixture of truncated normals on disjoint intervals lie in one interval each.
    """

    def __init__(self, base: constraints.Constraint) -> None:
        self.base = base
        super().__init__()

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base.is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base.event_dim

    def check(self, value: Tensor) -> Tensor:
        inside = self.base.check(value.unsqueeze(-1 - self.event_dim))
        return inside.any(-1)


def _unvalidated(d: Distribution) -> Distribution:
    """``d`` (a copy sharing its parameters) with validation off; ``d`` itself when it
    does not validate or cannot be copied (no ``expand``)."""
    if not d._validate_args:
        return d
    try:
        copy = d.expand(d.batch_shape)
    except NotImplementedError:
        return d
    copy._validate_args = False
    if isinstance(copy, Independent):  # its base validates on its own
        copy.base_dist = _unvalidated(copy.base_dist)
    return copy


class MixtureSameFamily(torch.distributions.MixtureSameFamily):
    """``torch.distributions.MixtureSameFamily`` with ``rsample`` (implicit reparameterization).

    >>> import torch
    >>> from torch.distributions import Categorical, Normal
    >>> from reparam.distributions import MixtureSameFamily
    >>> logits = torch.zeros(2, requires_grad=True)
    >>> loc = torch.tensor([-2.0, 2.0], requires_grad=True)
    >>> mix = MixtureSameFamily(Categorical(logits=logits), Normal(loc, 1.0))
    >>> mix.rsample((1000,)).mean().backward()  # estimates d E[x] = pi_k (loc), softmax terms
    >>> loc.grad.shape
    torch.Size([2])
    """

    has_rsample = True

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:
        """The union of the components' supports (see ``_InSomeComponent`` in this module)."""
        base = self.component_distribution.support
        if base is None:
            raise NotImplementedError(
                f"{type(self.component_distribution).__name__} has no support to check against"
            )
        return _InSomeComponent(base)

    def log_prob(self, x: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(x)
        log_prob = _unvalidated(self.component_distribution).log_prob(self._pad(x))
        log_weights = torch.log_softmax(self.mixture_distribution.logits, dim=-1)
        return torch.logsumexp(log_prob + log_weights, dim=-1)

    def cdf(self, x: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(x)
        return self._cdf(x)

    def _cdf(self, x: Tensor) -> Tensor:
        cdf = _unvalidated(self.component_distribution).cdf(self._pad(x))
        return (cdf * self.mixture_distribution.probs).sum(-1)

    def rsample(self, sample_shape: SampleShape = ()) -> Tensor:
        normal = self._normal_components()
        base = None if normal is not None else self._check_reparameterizable()
        # The base class named, not super(): Dynamo (torch 2.13) fails on a
        # zero-argument super() inside two context managers.
        with torch.no_grad(), deliberately_cut():
            x = self._draw(torch.Size(sample_shape))
        if normal is not None:
            loc, scale = normal
            logits = self.mixture_distribution.logits
            if self._event_ndims == 0:
                return gaussian_mixture_sample(x.unsqueeze(-1), logits, loc, scale).squeeze(-1)
            return gaussian_mixture_sample(x, logits, loc, scale)
        if base is None:
            return self._univariate(x)
        return self._sequential(x, base)

    @torch.no_grad()
    def sample(self, sample_shape: SampleShape = ()) -> Tensor:
        return self._draw(torch.Size(sample_shape))

    def _draw(self, shape: torch.Size) -> Tensor:
        """PyTorch's ``sample``, drawing the components by their ``rsample`` where they have
        one: ``Normal.sample`` calls ``torch.normal(loc, scale)``, which on CUDA checks
        ``scale`` on the host, ``rsample`` does not."""
        components = self.component_distribution
        index = self.mixture_distribution.sample(shape)
        drawn = components.rsample(shape) if components.has_rsample else components.sample(shape)
        at = len(shape) + len(self.batch_shape)
        index = index.reshape(index.shape + (1,) * (len(self.event_shape) + 1))
        index = index.expand(index.shape[: at + 1] + self.event_shape)
        return drawn.gather(at, index).squeeze(at)

    def _normal_components(self) -> tuple[Tensor, Tensor] | None:
        """``(loc, scale)`` as ``[*B, K, D]`` of (diagonal) Normal components, else ``None``.

        These take the closed-form path (:func:`gaussian_mixture_sample`)
        (same gradients as the generic construction, several times cheaper).
        """
        comp = self.component_distribution
        if type(comp) is Normal:
            return comp.loc.unsqueeze(-1), comp.scale.unsqueeze(-1)
        if (
            type(comp) is Independent
            and comp.reinterpreted_batch_ndims == 1
            and type(comp.base_dist) is Normal
        ):
            return comp.base_dist.loc, comp.base_dist.scale
        return None

    def _check_reparameterizable(self) -> Distribution | None:
        """The base of ``Independent(base, 1)`` components, ``None`` if univariate; else raise."""
        comp = self.component_distribution
        if self._event_ndims == 0:
            base = None
        elif (
            isinstance(comp, Independent)
            and comp.reinterpreted_batch_ndims == 1
            and comp.base_dist.event_shape == torch.Size()
        ):
            base = comp.base_dist
        else:
            raise NotImplementedError(
                f"MixtureSameFamily.rsample supports univariate components with a cdf and "
                f"Independent(base, 1) components (e.g. Independent(Normal(loc, scale), 1), "
                f"diagonal Gaussians); got {type(comp).__name__} with event shape "
                f"{list(comp.event_shape)}. Write diagonal components as Independent(Normal(...), "
                "1), or use estimator='score' (it needs only log_prob)."
            )
        probe = comp if base is None else base
        try:
            probe.cdf(probe.mean.detach())
        except NotImplementedError:
            raise NotImplementedError(
                f"MixtureSameFamily.rsample needs the components' cdf, and "
                f"{type(probe).__name__} has none; use estimator='score' (it needs only log_prob)"
            ) from None
        return base

    def _univariate(self, x: Tensor) -> Tensor:
        # Our own samples need no support check (the mixture's check demands every
        # component's support, which disjoint truncated components fail).
        cdf = self._cdf(x)
        with torch.no_grad():
            log_weights = torch.log_softmax(self.mixture_distribution.logits, dim=-1)
            component = _unvalidated(self.component_distribution)
            log_density = component.log_prob(self._pad(x)) + log_weights
            peak = log_density.amax(-1)
            density = torch.exp(log_density - peak.unsqueeze(-1)).sum(-1) * torch.exp(peak)
        return implicit_from_cdf(x, cdf, density)

    def _sequential(self, x: Tensor, base: Distribution) -> Tensor:
        """Coordinate by coordinate, weights ``w_jk ∝ pi_k prod_{i<j} p_k(x_i)``.

        ``log p_k(x_i)`` at the reparameterized ``x_i`` is written as its value at
        the sample plus ``score_ik (x_i - stop(x_i))``, which has the same value and
        the same first derivatives: one density, one CDF and one score evaluation
        in all, instead of one per coordinate.
        """
        shape = (*x.shape[:-1], self._num_component, x.shape[-1])
        points = self._pad(x).expand(shape)  # [*S, *B, K, D]
        base = _unvalidated(base)  # a point may lie outside another component's support
        cdfs = base.cdf(points)  # differentiable in the parameters
        log_densities = base.log_prob(points)
        with torch.enable_grad():
            probe = points.detach().clone().requires_grad_(True)
            (scores,) = torch.autograd.grad(base.log_prob(probe).sum(), probe)
        log_weights = torch.log_softmax(self.mixture_distribution.logits, dim=-1)
        columns = list(x.unbind(-1))
        for j, column in enumerate(columns):
            weights = _softmax(log_weights)
            cdf = (weights * cdfs[..., j]).sum(-1)
            density = (weights * log_densities[..., j].exp()).sum(-1)
            columns[j] = implicit_from_cdf(column, cdf, density)
            moved = (columns[j] - columns[j].detach()).unsqueeze(-1)
            log_weights = log_weights + log_densities[..., j] + scores[..., j] * moved
        return torch.stack(columns, dim=-1)


def _softmax(logits: Tensor) -> Tensor:
    """Softmax over the last (short) dimension, in elementwise operations.

    ``torch.softmax`` over a dimension of a few components is several times
    slower on a CPU than these few elementwise operations.
    """
    exp = torch.exp(logits - logits.detach().amax(-1, keepdim=True))
    return exp / exp.sum(-1, keepdim=True)


def _factors(x: Tensor, logits: Tensor, loc: Tensor, scale: Tensor) -> tuple[Tensor, ...]:
    """Per-coordinate factors of the recursion, each ``[K, D, *S, *B]``.

    ``x``: ``[D, *S, *B]``; ``logits``: ``[K, 1, *ones, *B]``; ``loc``, ``scale``:
    ``[K, D, *ones, *B]``. Components and coordinates lead, so that every
    reduction over components and every slice per coordinate runs over
    contiguous memory (reductions over a short last dimension are slow on a CPU).
    Full-size temporaries are few and updated in place: in a long computation
    each fresh large allocation costs page faults comparable to the arithmetic.

    Returns ``w_{j+1}`` (the responsibilities after ``x_0 .. x_j``), ``q_j / p_j``
    and ``z / s``.
    """
    shape = (loc.shape[0], *x.shape)
    z = torch.sub(x, loc, out=torch.empty(shape, dtype=x.dtype, device=x.device)).div_(scale)
    log_weights = torch.mul(z, z).mul_(-0.5).sub_(torch.log(scale) + HALF_LOG_2PI)
    for j in range(1, shape[1]):  # a cumulative sum over a few coordinates
        log_weights[:, j].add_(log_weights[:, j - 1])
    log_weights.add_(logits)  # u_1 .. u_D
    peak = log_weights.amax(0)
    after = log_weights.sub_(peak).exp_()
    total = after.sum(0)
    after.div_(total)  # w_{j+1}
    log_norm = torch.log(total).add_(peak)  # L_1 .. L_D
    first = torch.softmax(logits, 0)  # w_0, the same for every sample
    log_norm_before = torch.logsumexp(logits, 0).expand(1, *log_norm.shape[1:])
    if shape[1] > 1:
        log_norm_before = torch.cat([log_norm_before, log_norm[:-1]], dim=0)
    # 1 / p_j; past the floating-point range (tens of scales out) it is held
    # finite, where Phi(z) - F underflows to 0 and the product stays 0, not NaN.
    inv_density = log_norm_before.sub(log_norm).exp_().clamp_max_(torch.finfo(x.dtype).max)
    cdf = torch.mul(z, -math.sqrt(0.5)).erfc_().mul_(0.5)  # Phi(z), accurate in the lower tail
    # w_j Phi(z_j), with w_j = first, after[:, :-1]
    product = torch.cat([cdf[:, :1] * first, cdf[:, 1:] * after[:, :-1]], dim=1)
    scaled = cdf.sub_(product.sum(0)).mul_(inv_density)  # (Phi(z_j) - F_j) / p_j
    scaled[:, :1].mul_(first)
    scaled[:, 1:].mul_(after[:, :-1])  # q_j / p_j
    return after, scaled, z.div_(scale)


def _sum(tensor: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Sum over ``dims``; a copy when there are none (``sum(())`` would sum over all)."""
    return tensor.sum(dims) if dims else tensor.clone()


def _lead(param: Tensor, sample_dims: int) -> Tensor:
    """``[*B, K, D]`` as ``[K, D, *ones(sample_dims), *B]`` (a view)."""
    moved = param.movedim((-2, -1), (0, 1))
    return moved.reshape(moved.shape[:2] + (1,) * sample_dims + moved.shape[2:])


class _GaussianMixtureSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, logits: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
        sample_dims = x.dim() - loc.dim() + 1
        lead_logits = _lead(logits.unsqueeze(-1), sample_dims)
        lead_loc, lead_scale = _lead(loc, sample_dims), _lead(scale, sample_dims)
        factors = _factors(x.movedim(-1, 0), lead_logits, lead_loc, lead_scale)
        ctx.save_for_backward(*factors, lead_scale)
        ctx.shapes = (sample_dims, logits.shape, loc.shape, scale.shape)  # type: ignore[attr-defined]
        return x.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor, Tensor, Tensor]:
        after, scaled, z_over_scale, scale = ctx.saved_tensors
        sample_dims, logits_shape, loc_shape, scale_shape = ctx.shapes
        lead_grad = grad.movedim(-1, 0)
        dims = lead_grad.shape[0]
        u_bar = torch.zeros_like(after[:, 0])  # ū_{j+1}, zero past the last coordinate
        x_bars, u_bars = [], []
        for j in range(dims - 1, -1, -1):
            x_bar = lead_grad[j]
            if j < dims - 1:
                x_bar = x_bar - (u_bar * z_over_scale[:, j]).sum(0)
            x_bars.append(x_bar)
            u_bars.append(u_bar)
            u_bar = u_bar - x_bar * scaled[:, j]
        samples = tuple(range(2, 2 + sample_dims))
        scale = _sum(scale, samples)  # [K, D, *B]: drops the singleton sample dimensions
        # dx_j/dmu_kj = w_{j+1,k} and dx_j/ds_kj = w_{j+1,k} z_jk, then ū's own terms.
        buffer = torch.mul(after, torch.stack(x_bars[::-1]))
        grad_loc = _sum(buffer, samples)
        grad_scale = _sum(buffer.mul_(z_over_scale), samples) * scale
        if dims > 1:
            u_bar_next = torch.stack(u_bars[::-1], dim=1)  # [K, D, *S, *B]
            grad_loc += _sum(torch.mul(u_bar_next, z_over_scale, out=buffer), samples)
            u_zz = _sum(buffer.mul_(z_over_scale), samples) * scale  # sum ū z^2 / s
            grad_scale += u_zz - _sum(u_bar_next, samples) / scale
        return (
            None,
            _sum(u_bar, tuple(range(1, 1 + sample_dims))).movedim(0, -1).sum_to_size(logits_shape),
            grad_loc.movedim((0, 1), (-2, -1)).sum_to_size(loc_shape),
            grad_scale.movedim((0, 1), (-2, -1)).sum_to_size(scale_shape),
        )


def gaussian_mixture_sample(x: Tensor, logits: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
    """``x`` with the implicit (sequential) reparameterization gradient, first order.

    Args:
        x: a sample ``[*S, *B, D]`` of the mixture (no gradient needed).
        logits: mixture logits ``[*B, K]`` (any additive constant).
        loc, scale: component parameters ``[*B, K, D]``.

    >>> import torch
    >>> loc = torch.tensor([[-1.0], [1.0]], requires_grad=True)
    >>> x = gaussian_mixture_sample(torch.tensor([[3.0]]), torch.zeros(2), loc, torch.ones(2, 1))
    >>> grad = torch.autograd.grad(x.sum(), loc)[0]  # responsibilities: sum to 1
    >>> round(grad.sum().item(), 6)
    1.0
    """
    out: Tensor = _GaussianMixtureSample.apply(x.detach(), logits, loc, scale)
    return out
