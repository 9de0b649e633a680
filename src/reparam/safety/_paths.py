"""Under ``strict()``: a pathwise cost, and a bound's log joint, must reach their samples.

The pathwise estimator's gradient is ``grad_z f(z) * dz/dtheta``. A cost that
detaches its samples (``z.detach()``, ``z.item()``, ``z.numpy()``, a comparison
such as ``z > 0``) has no path back to ``z``, and the distribution's parameters
silently get no gradient at all (their ``.grad`` stays ``None``).

``iwae_bound``'s log weights ``log p(x, z) - log q(z)`` are differentiated through
``z`` too. A log joint that detaches ``z`` leaves only ``-log q(z)`` on the path:
the gradient is set, and wrong.
"""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution

from reparam.safety._errors import GradientCutError
from reparam.safety._parameters import parameter_requiring_grad


def check_cost_path(costs: Tensor, samples: Tensor, dist: Distribution, estimator: str) -> None:
    """Raise :class:`GradientCutError` if ``costs`` do not reach ``samples`` in the graph.

    Nothing is computed: the check walks the autograd graph of ``costs`` back
    from its ``grad_fn`` until it meets the node of ``samples``. Samples that
    need no gradient (no parameter requires grad, or grad mode is off) pass.

    >>> import torch
    >>> from torch.distributions import Normal
    >>> mu = torch.zeros(2, requires_grad=True)
    >>> z = Normal(mu, 1.0).rsample()
    >>> check_cost_path(z**2, z, Normal(mu, 1.0), "pathwise")  # depends on z: passes
    >>> check_cost_path(z.detach() ** 2, z, Normal(mu, 1.0), "pathwise")
    Traceback (most recent call last):
    ...
    reparam.safety._errors.GradientCutError: expectation(f, Normal, estimator='pathwise') cuts ...
    """
    if not samples.requires_grad or _reaches(costs, samples):
        return
    name = parameter_requiring_grad(dist) or "the parameters"
    raise GradientCutError(
        call=f"expectation(f, {type(dist).__name__}, estimator={estimator!r})",
        parameter=name,
        reason=(
            "f does not depend on its samples through a gradient path (it detaches them, "
            "e.g. z.detach(), z.item(), z.numpy() or a comparison z > 0), so the estimator "
            f"has nothing to differentiate and '{name}' gets no gradient (its .grad stays None)"
        ),
        fix=(
            "keep the samples in the graph inside f (use z itself, not z.detach()); if f is "
            "not differentiable in z, use estimator='score', which needs only log_prob"
        ),
    )


def check_log_joint_path(log_p: Tensor, samples: Tensor, q: Distribution) -> None:
    """Raise :class:`GradientCutError` if ``log_p`` does not reach ``samples`` in the graph.

    The check of :func:`check_cost_path` for the ``log_joint`` given to
    ``reparam.iwae_bound``: nothing is computed, the graph is walked.

    >>> import torch
    >>> from torch.distributions import Normal
    >>> mu = torch.zeros(2, requires_grad=True)
    >>> z = Normal(mu, 1.0).rsample()
    >>> check_log_joint_path(-z.detach() ** 2, z, Normal(mu, 1.0))
    Traceback (most recent call last):
    ...
    reparam.safety._errors.GradientCutError: iwae_bound(log_joint, Normal) cuts ...
    """
    if not samples.requires_grad or _reaches(log_p, samples):
        return
    name = parameter_requiring_grad(q) or "the parameters"
    raise GradientCutError(
        call=f"iwae_bound(log_joint, {type(q).__name__})",
        parameter=name,
        reason=(
            "log_joint does not depend on its samples through a gradient path (it detaches "
            "them, e.g. z.detach() or z.item()), so the bound's gradient keeps only the "
            f"-log q(z) part and '{name}' gets a gradient that is silently wrong"
        ),
        fix="keep the samples in the graph inside log_joint (use z itself, not z.detach())",
    )


def _reaches(costs: Tensor, samples: Tensor) -> bool:
    """Whether the autograd graph of ``costs`` contains the node that made ``samples``.

    That is ``samples.grad_fn``, or for a leaf the ``AccumulateGrad`` node whose
    ``variable`` it is.
    """
    target = samples.grad_fn
    seen = set()
    pending = [costs.grad_fn]
    while pending:
        node = pending.pop()
        if node is None or node in seen:
            continue
        if node is target or (target is None and getattr(node, "variable", None) is samples):
            return True
        seen.add(node)
        pending.extend(parent for parent, _ in node.next_functions)
    return False
