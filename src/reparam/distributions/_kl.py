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
