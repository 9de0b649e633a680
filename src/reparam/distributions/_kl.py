"""KL divergences registered with ``torch.distributions.kl_divergence``."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import register_kl

from reparam.distributions._hyperspherical_uniform import HypersphericalUniform
from reparam.distributions._sphere import log_sphere_area
from reparam.distributions._von_mises_fisher import VonMisesFisher


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
