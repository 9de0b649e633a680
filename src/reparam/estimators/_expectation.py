"""The one entry point: ``expectation(f, dist, estimator, num_samples)``."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam._memory import format_bytes, memory_limit
from reparam.estimators._base import Cost, Estimator
from reparam.estimators._errors import EstimatorError, UnsupportedDistributionError
from reparam.estimators._finite import finite_check
from reparam.estimators.registry import EstimatorName, applicable_estimators, resolve_estimator


def expectation(
    f: Cost,
    dist: Distribution,
    estimator: EstimatorName | Estimator = "pathwise",
    num_samples: int = 1,
    *,
    check_finite: bool | None = None,
) -> Tensor:
    """Monte Carlo estimate of ``E_{z ~ dist}[f(z)]`` whose gradient is ``estimator``'s.

    Args:
        f: maps samples of shape ``[num_samples, *batch_shape, *event_shape]`` to
            costs of shape ``[num_samples, *batch_shape]``.
        dist: any ``torch.distributions.Distribution`` the estimator supports.
        estimator: an :class:`Estimator` object or its short name (see
            ``reparam.estimators.ESTIMATORS``).
        num_samples: Monte Carlo samples ``S`` per batch element.
        check_finite: raise :class:`CostError` on a nan or inf cost on every
            device (``True``, one synchronisation per evaluation of ``f`` on a
            GPU), or nowhere (``False``); by default only where it needs no
            synchronisation: eagerly, on the CPU. Never inside ``torch.compile``
            (see ``reparam.estimators._finite``).

    Returns:
        A tensor of shape ``dist.batch_shape``: the average of ``f`` over the
        samples, whose gradient (``.backward()`` or ``torch.autograd.grad``) with
        respect to everything the distribution's parameters and ``f`` depend on is
        the estimator of ``grad E[f]``. Batch elements stay independent: each gets
        its own samples. It synchronises with nothing: the work is queued on
        the device, and a non-finite cost makes its batch element non-finite.

    >>> import torch
    >>> from torch.distributions import Normal
    >>> _ = torch.manual_seed(0)
    >>> mu = torch.zeros(3, requires_grad=True)
    >>> expectation(lambda z: (z - 1) ** 2, Normal(mu, 1.0), num_samples=2).sum().backward()
    >>> mu.grad.shape  # three independent two-sample estimates of -2
    torch.Size([3])

    Nesting: ``f`` may itself call ``expectation`` on a distribution built from
    its samples, for models with several random choices. The inner
    distribution's batch shape is then ``[num_samples, *batch_shape]`` and the
    inner call returns exactly the costs ``f`` must return. The result
    estimates ``grad E_z[f(z)]`` with ``f(z) = E_{b ~ p(.|z)}[g(z, b)]``,
    without bias when both estimators are unbiased: the outer estimator's
    score multiplies the inner estimate's value, its path (pathwise) runs
    through the inner distribution's parameters, and the inner score multiplies
    only the inner cost. The magic boxes multiply to DiCE's for the joint
    (Foerster et al., 2018), so second derivatives of nested score functions
    are right too. Keep costs that do not depend on the inner sample outside
    the inner call: inside it they get the inner score too, which adds no bias
    (a score has mean zero) but, with no baseline, adds variance.

    >>> from torch.distributions import Bernoulli
    >>> a = torch.ones(3, requires_grad=True)
    >>> def cost(z):  # z: [4, 3]; the Bernoulli's batch shape is [4, 3]
    ...     choice = Bernoulli(logits=a * z)
    ...     return z**2 + expectation(lambda b: (b - z) ** 2, choice, "disarm", 2)
    >>> value = expectation(cost, Normal(mu, 1.0), "pathwise", num_samples=4)
    >>> value.sum().backward()
    >>> value.shape, a.grad.shape
    (torch.Size([3]), torch.Size([3]))
    """
    resolved = _checked(estimator, dist, num_samples)
    if check_finite is None:  # the common case, without a context manager's cost
        return resolved.surrogate(f, dist, num_samples).mean(0)
    with finite_check(check_finite):
        return resolved.surrogate(f, dist, num_samples).mean(0)


def per_sample_gradients(
    f: Cost,
    dist: Distribution,
    params: Sequence[Tensor],
    estimator: EstimatorName | Estimator = "pathwise",
    num_samples: int = 1,
    *,
    check_finite: bool | None = None,
) -> tuple[Tensor, ...]:
    """The estimator's gradient terms, one per sample: ``[num_samples, *param.shape]`` each.

    Term ``s`` is the gradient of sample ``s``'s surrogate summed over the batch;
    their mean over ``s`` is exactly the gradient of
    ``expectation(f, dist, estimator, num_samples).sum()``. Parameters that the
    surrogate does not depend on get zeros. ``check_finite`` is as in
    :func:`expectation`.

    >>> import torch
    >>> from torch.distributions import Normal
    >>> mu = torch.tensor(0.5, requires_grad=True)
    >>> (g,) = per_sample_gradients(lambda z: 3 * z, Normal(mu, 1.0), [mu], num_samples=4)
    >>> g
    tensor([3., 3., 3., 3.])
    """
    resolved = _checked(estimator, dist, num_samples)
    with finite_check(check_finite):
        totals = resolved.surrogate(f, dist, num_samples).reshape(num_samples, -1).sum(1)
    per_sample: list[list[Tensor]] = [[] for _ in params]
    for s in range(num_samples):
        grads = torch.autograd.grad(
            totals[s], list(params), retain_graph=s + 1 < num_samples, allow_unused=True
        )
        for bucket, grad, param in zip(per_sample, grads, params, strict=True):
            bucket.append(torch.zeros_like(param) if grad is None else grad)
    return tuple(torch.stack(bucket) for bucket in per_sample)


def _checked(
    estimator: EstimatorName | str | Estimator, dist: Distribution, num_samples: int
) -> Estimator:
    """The resolved estimator, after checking ``dist`` and ``num_samples`` against it."""
    resolved = resolve_estimator(estimator)
    if not isinstance(dist, Distribution):
        raise TypeError(
            f"dist must be a torch.distributions.Distribution, got {type(dist).__name__}"
        )
    _check_num_samples(num_samples, resolved)
    _check_sample_memory(num_samples, dist)
    try:
        resolved.check_supports(dist)
    except UnsupportedDistributionError as error:
        names = applicable_estimators(dist)
        choices = ", ".join(repr(name) for name in names) if names else "none of the registered"
        raise UnsupportedDistributionError(
            f"{error} Estimators that apply to {type(dist).__name__}: {choices}."
        ) from None
    return resolved


def _check_num_samples(num_samples: int, estimator: Estimator) -> None:
    if isinstance(num_samples, bool) or not hasattr(type(num_samples), "__index__"):
        raise TypeError(f"num_samples must be an int, got {type(num_samples).__name__}")
    num_samples = operator.index(num_samples)
    if num_samples < 1:
        raise EstimatorError(f"num_samples must be >= 1, got {num_samples}")
    if num_samples < estimator.min_samples:
        raise EstimatorError(
            f"{estimator!r} needs num_samples >= {estimator.min_samples}, got {num_samples}"
        )


_MEMORY_CHECK_FROM = 2**30
"""Sample sizes (bytes) from which :func:`_check_sample_memory` asks for the device's memory."""


def _check_sample_memory(num_samples: int, dist: Distribution) -> None:
    """Refuse, before drawing, a ``num_samples`` whose samples alone exceed the device's memory.

    The samples ``[num_samples, *batch_shape, *event_shape]`` are a lower bound on
    what an estimate holds (costs, gradients and ``f``'s own activations come on
    top), so nothing that could fit is refused. Sizes under a gigabyte are not
    checked, and nothing is checked inside ``torch.compile``.
    """
    if torch.compiler.is_compiling():
        return
    like = _a_parameter(dist)
    dtype = torch.get_default_dtype() if like is None else like.dtype
    per_sample = dist.batch_shape.numel() * dist.event_shape.numel() * dtype.itemsize
    needed = num_samples * per_sample
    if needed < _MEMORY_CHECK_FROM:
        return
    device = torch.empty(0).device if like is None else like.device
    available = _device_memory(device)
    if available is None or needed <= available:
        return
    shape = [num_samples, *dist.batch_shape, *dist.event_shape]
    raise EstimatorError(
        f"num_samples={num_samples} would need {format_bytes(needed)} for the samples alone "
        f"({shape} of {dtype}), more than the {format_bytes(available)} of memory on "
        f"{device.type}; draw fewer samples per call (the mean of several calls' estimates "
        "estimates the same expectation)"
    )


def _a_parameter(dist: Distribution) -> Tensor | None:
    """A floating-point tensor the distribution holds (its dtype and device), if any."""
    for value in vars(dist).values():
        if isinstance(value, Tensor) and value.is_floating_point():
            return value
        if isinstance(value, Distribution):
            found = _a_parameter(value)
            if found is not None:
                return found
    return None


def _device_memory(device: torch.device) -> int | None:
    """The memory of ``device`` in bytes: the machine's for the CPU, the card's for CUDA."""
    if device.type == "cpu":
        return memory_limit()
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return None
