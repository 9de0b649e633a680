"""The importance-weighted bound and three gradients of it for the inference network.

For a posterior ``q_phi(z)`` and a log joint ``log p_theta(x, z)``, with ``k``
independent draws ``z_i = g_phi(eps_i)`` and log-weights
``log w_i = log p_theta(x, z_i) - log q_phi(z_i)``, the ``k``-sample bound is

    L_k = E[log (1/k) sum_i w_i] <= log p_theta(x)

(Burda, Grosse and Salakhutdinov, 2016, "Importance Weighted Autoencoders",
ICLR); ``L_1`` is the ELBO, ``L_k`` grows with ``k`` and tends to ``log p(x)``.
With normalised weights ``v_i = w_i / sum_j w_j`` the one-draw estimates of the
gradients are:

* generative model, all three choices: ``sum_i v_i grad_theta log p_theta(x, z_i)``,
  an unbiased estimate of ``grad_theta L_k``;
* ``"standard"``: autograd of ``log (1/k) sum_i w_i`` through ``z_i`` and through
  ``q_phi``'s parameters; unbiased for ``grad_phi L_k``, but its signal-to-noise
  ratio falls like ``1/sqrt(k)`` (Rainforth et al., 2018, "Tighter Variational
  Bounds are Not Necessarily Better", ICML);
* ``"stl"``, sticking the landing (Roeder, Wu and Duvenaud, 2017, NeurIPS):
  ``sum_i v_i d log w_i / d z_i  d z_i / d phi``, the standard estimate without
  its score term ``-sum_i v_i grad_phi log q_phi(z_i)``. That term has mean zero
  only for ``k = 1``: STL is unbiased for the ELBO's gradient, *biased* for
  ``grad_phi L_k`` when ``k > 1``. Both it and DReG vanish for every draw when
  ``q`` is the exact posterior (then ``log w_i = log p(x)`` for every ``z``);
* ``"dreg"``, doubly reparameterized (Tucker, Lawson, Gu and Maddison, 2019,
  "Doubly Reparameterized Gradient Estimators for Monte Carlo Objectives", ICLR,
  eq. 5): ``sum_i v_i^2 d log w_i / d z_i  d z_i / d phi``, unbiased for
  ``grad_phi L_k`` with an SNR that does not fall with ``k``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.distributions import detach_parameters
from reparam.estimators import CostError, finite_check
from reparam.estimators._finite import check_costs_finite
from reparam.safety import check_log_joint_path, is_strict

LogJoint = Callable[[Tensor], Tensor]
"""``log p(x, z)``: samples ``[k, *batch_shape, *event_shape]`` -> ``[k, *batch_shape]``."""
Gradient = Literal["standard", "stl", "dreg"]
"""The estimator of the inference network's gradient: ``"standard"``, ``"stl"`` or ``"dreg"``."""
GRADIENTS: tuple[str, ...] = get_args(Gradient)
"""The gradient choices of :func:`iwae_bound`."""


def iwae_bound(
    log_joint: LogJoint,
    q: Distribution,
    num_samples: int = 1,
    gradient: Gradient = "standard",
    *,
    check_finite: bool | None = None,
) -> Tensor:
    """The ``num_samples``-sample importance-weighted bound, per batch element.

    Args:
        log_joint: ``log p(x, z)``, samples ``[k, *batch_shape, *event_shape]`` to
            ``[k, *batch_shape]`` (``k = num_samples``).
        q: the posterior, any distribution with ``rsample`` (torch's or reparam's).
        num_samples: ``k >= 1`` importance samples per batch element; ``k = 1``
            gives the ELBO's one-sample estimate.
        gradient: the estimator of the gradient with respect to everything
            ``q``'s parameters were computed from (details in the module docstring):
            ``"standard"``, unbiased for ``grad_phi L_k``; ``"stl"``, unbiased for
            the ELBO's gradient at ``k = 1`` but *biased* for ``grad_phi L_k`` when
            ``k > 1``; ``"dreg"``, unbiased for ``grad_phi L_k``. The gradient with
            respect to ``log_joint``'s own parameters is the standard IWAE one,
            unbiased for ``grad_theta L_k``, in all three cases. ``log_joint``
            should reach ``q``'s parameters, if at all, only through the samples.
        check_finite: raise :class:`~reparam.estimators.CostError` on a nan or inf
            log joint, as :func:`reparam.expectation` does on a cost, with the same
            choices: ``True`` on every device (one synchronisation per call on a
            GPU), ``False`` nowhere (no host read at all), ``None`` (the default)
            only where it is free, eagerly on the CPU, or inside ``reparam.strict()``.

    Inside ``reparam.strict()``, a ``log_joint`` that does not reach its samples
    through a gradient path (``z.detach()``, ``z.item()``) raises
    :class:`~reparam.GradientCutError`: its gradient would be silently wrong.

    Returns:
        ``log (1/k) sum_i w_i`` of shape ``q.batch_shape``, an unbiased estimate of
        ``L_k`` (the same value for every choice of ``gradient``, given the draws).

    >>> import torch
    >>> from torch.distributions import Normal
    >>> _ = torch.manual_seed(0)
    >>> loc = torch.tensor(0.3, requires_grad=True)
    >>> x = torch.tensor(1.0)
    >>> log_joint = lambda z: Normal(0.0, 1.0).log_prob(z) + Normal(z, 1.0).log_prob(x)
    >>> bound = iwae_bound(log_joint, Normal(loc, 0.8), num_samples=50, gradient="dreg")
    >>> bound.backward()  # loc.grad: the DReG estimate of d L_50 / d loc
    >>> bool(bound < Normal(0.0, 2**0.5).log_prob(x) + 0.05)  # near log p(x)
    True
    """
    k = _checked_count(num_samples)
    if gradient not in GRADIENTS:
        raise ValueError(
            f"gradient must be one of {', '.join(map(repr, GRADIENTS))}, got {gradient!r}"
        )
    if not q.has_rsample:
        raise TypeError(
            f"iwae_bound needs a reparameterizable q (has_rsample), and "
            f"{type(q).__name__} has none; use a reparameterizable family (e.g. Normal, or "
            "reparam.distributions' VonMisesFisher, MixtureSameFamily, TruncatedNormal)"
        )
    z = q.rsample(torch.Size([k]))
    proposal = q if gradient == "standard" else detach_parameters(q)
    if check_finite is None:  # the common case, without a context manager (compiles whole)
        log_w = log_weights(log_joint, proposal, z, checked=q)
    else:
        with finite_check(check_finite):
            log_w = log_weights(log_joint, proposal, z, checked=q)
    if gradient == "dreg" and z.requires_grad:
        _square_weights_on_path(z, log_w, len(q.event_shape))
    return torch.logsumexp(log_w, dim=0) - math.log(k)


def log_weights(
    log_joint: LogJoint, q: Distribution, z: Tensor, *, checked: Distribution | None = None
) -> Tensor:
    """``log p(x, z) - log q(z)`` for samples ``z [k, *batch, *event]``: ``[k, *batch]``.

    With ``checked`` (the posterior the samples came from, named in errors),
    the log joint is checked for nan and inf where
    :func:`~reparam.estimators.finite_check` says so, and for a gradient path
    to ``z`` inside ``reparam.strict()``.
    """
    log_p = log_joint(z)
    expected = z.shape[: z.dim() - len(q.event_shape)]
    if not isinstance(log_p, Tensor) or log_p.shape != expected:
        got = list(log_p.shape) if isinstance(log_p, Tensor) else type(log_p).__name__
        raise ValueError(
            f"log_joint must map samples {list(z.shape)} to log p(x, z) of shape "
            f"{list(expected)} ([k, *batch_shape]: sum over event dimensions, keep the "
            f"sample and batch dimensions), got {got}"
        )
    if checked is not None:
        _check_finite(log_p)
        if is_strict():  # a graph walk, only when asked for
            check_log_joint_path(log_p, z, checked)
    return log_p - q.log_prob(z)


def _check_finite(log_p: Tensor) -> None:
    """The cost check of ``expectation``, its message in ``log_joint``'s words."""
    try:
        check_costs_finite(log_p)
    except CostError:
        bad = int((~torch.isfinite(log_p.detach())).sum())
        raise CostError(
            f"log_joint returned {bad} non-finite value(s) (nan or inf) out of "
            f"{log_p.numel()}; the bound and its gradient would be meaningless. Pass "
            "check_finite=False to skip this check"
        ) from None


def _square_weights_on_path(z: Tensor, log_w: Tensor, event_ndims: int) -> None:
    """Scale the gradient reaching the samples ``z_i`` by their weights ``v_i``.

    Autograd of ``logsumexp(log w)`` sends ``v_i d log w_i / d z_i`` to ``z_i``; the
    extra factor makes the inference network's gradient ``v_i^2 d log w_i / d z_i
    d z_i / d phi`` (DReG) and leaves the generative model's, which does not pass
    through ``z``, as it is.
    """
    weights = torch.softmax(log_w.detach(), dim=0)
    scale = weights.reshape(weights.shape + (1,) * event_ndims)
    z.register_hook(lambda grad: grad * scale)


def _checked_count(num_samples: int) -> int:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(
            f"num_samples must be an integer k >= 1 (importance samples per batch element), "
            f"got {num_samples!r}"
        )
    return num_samples
