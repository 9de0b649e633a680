"""Implicit reparameterization as a surrogate whose value is the sample.

Implicit reparameterization (Figurnov, Mohamed and Mnih, 2018, "Implicit
Reparameterization Gradients") differentiates a sample ``z ~ q_theta`` drawn by any
method through its CDF ``F(z; theta)``, held fixed as the parameters move:

    dz/dtheta = -(dF(z; theta)/dtheta) / q_theta(z).

Both helpers return a tensor whose value is exactly ``z`` and whose gradient with
respect to the parameters is that derivative (first order only).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor


def attach_gradient(value: Tensor, tangents: Sequence[tuple[Tensor, Tensor]]) -> Tensor:
    """``value`` with ``d value / d param = derivative`` for each ``(derivative, param)``.

    The result is ``value + sum_i derivative_i * (param_i - stop(param_i))``: its
    value is ``value`` and its gradient flows into each ``param_i`` (and on to
    whatever the parameter was computed from), scaled by ``derivative_i``.
    ``derivative_i`` is detached; shapes must broadcast to ``value``'s.

    >>> import torch
    >>> k = torch.tensor(2.0, requires_grad=True)
    >>> z = attach_gradient(torch.tensor(0.5), [(torch.tensor(3.0), k)])
    >>> z.item(), torch.autograd.grad(z, k)[0].item()
    (0.5, 3.0)
    """
    out = value.detach()
    for derivative, param in tangents:
        out = out + derivative.detach() * (param - param.detach())
    return out


def implicit_from_cdf(value: Tensor, cdf: Tensor, density: Tensor) -> Tensor:
    """``value`` with gradient ``-(dF/dtheta) / q``, from the CDF evaluated *with* grad.

    ``cdf`` is ``F(value; theta)`` computed differentiably in the parameters from a
    detached ``value``; ``density`` is ``q_theta(value)`` (detached here).

    >>> import torch
    >>> from torch.distributions import Normal
    >>> mu = torch.tensor(1.0, requires_grad=True)
    >>> z = torch.tensor(1.7)
    >>> d = Normal(mu, 1.0)
    >>> out = implicit_from_cdf(z, d.cdf(z), d.log_prob(z).exp())
    >>> torch.autograd.grad(out, mu)[0].item()  # a location parameter: dz/dmu = 1
    1.0
    """
    return value.detach() - (cdf - cdf.detach()) / density.detach()
