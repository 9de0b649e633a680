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
"""

from __future__ import annotations

import torch
import torch.distributions
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

from reparam.distributions._implicit import implicit_from_cdf
from reparam.distributions._normal_mixture import gaussian_mixture_sample
from reparam.distributions._shapes import SampleShape
from reparam.safety import deliberately_cut


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

        These take the closed-form path of ``reparam.distributions._normal_mixture``
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
        cdf = self.cdf(x)
        with torch.no_grad():
            log_weights = torch.log_softmax(self.mixture_distribution.logits, dim=-1)
            log_density = self.component_distribution.log_prob(self._pad(x)) + log_weights
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
