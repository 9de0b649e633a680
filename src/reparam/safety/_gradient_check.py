"""``check_gradients``: after the fact, find parameters whose gradient was cut or is wrong.

``strict()`` catches cuts at the call that makes them, for the calls it knows
(``sample()``, the tensor samplers, ``expectation``'s cost, ``iwae_bound``'s log
joint). A ``.detach()`` written by hand anywhere else in a loss is invisible to
it. :func:`check_gradients` looks at the result instead, with two checks:

1. **Cut gradients** (always). The loss is evaluated once with a fixed seed and
   differentiated. Every parameter whose gradient is ``None`` or exactly zero is
   then moved by ``+-h`` along a random direction and the loss re-evaluated with
   the *same* seed (common random numbers: the same draws, only the parameter
   differs). If the value moves at first order, ``|L(p + h u) - L(p - h u)|``
   beyond rounding, the parameter influenced the loss and its gradient was lost:
   it is reported.
2. **Wrong gradients** (``finite_difference=True``, for small models). For each
   parameter tensor and a random unit direction ``u``, over ``R`` replicates
   (seeds) the directional derivative ``<grad L_r, u>`` of the estimator is paired
   with the central difference ``(L_r(p + h u) - L_r(p - h u)) / 2h`` of the same
   replicate's value. With common random numbers the differences' mean estimates
   ``d/dh E[L(p + h u)]`` without bias (to ``O(h^2)``), whatever the estimator, so
   an unbiased gradient has paired differences of mean zero. A parameter is
   reported when that mean is further from zero than a z-test at
   ``false_alarm_rate`` (two-sided) allows plus a relative tolerance ``rtol`` for
   the difference quotient's own error.

What the checks can see, and what they cannot:

* check 1 sees a gradient that is ``None`` or zero where the value depends on the
  parameter at first order (a ``.detach()``, ``.item()``, a ``sample()`` without a
  path, a comparison); it cannot see a gradient that is set but wrong, nor a
  parameter whose influence is only of second order (at a stationary point, a
  dead ReLU). The value must be reproducible for a fixed seed (deterministic
  kernels; no other source of randomness than torch's default generator) and
  the number of random draws must not depend on the parameter (a rejection
  sampler's loop may make more draws after the move; then a real influence can
  be confused with a change of draws, but only for parameters whose gradient
  is ``None`` or zero).
* check 2 sees a gradient that is set but wrong (a ``.detach()`` in
  ``iwae_bound``'s log joint, a missing term, a wrong sign), down to the size
  its ``R`` replicates resolve. A *biased* estimator (a relaxation, straight
  through, STL for ``k > 1``) fails it by design. Discrete samples make the
  difference quotients heavy-tailed (a flip of a sample over a small ``h``), so
  they resolve less there; raise ``replicates``. It costs ``3 R`` evaluations of
  the loss per parameter tensor (one with a backward pass): small models only.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import Tensor, nn

from reparam.safety._errors import GradientCheckError

Loss = Callable[[], Tensor]
"""A function of no arguments that evaluates the loss (a scalar) from the parameters."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """One parameter the check reports: its name, what is wrong and the figures that say so."""

    parameter: str
    kind: str  # "cut" or "mismatch"
    message: str


@dataclasses.dataclass(frozen=True)
class GradientCheck:
    """What :func:`check_gradients` found: ``findings`` (empty when all is well)."""

    checked: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def __str__(self) -> str:
        if self.ok:
            return f"gradients of {len(self.checked)} parameter tensor(s): no problem found"
        return "\n".join(f"{f.parameter}: {f.message}" for f in self.findings)


def check_gradients(
    loss: Loss,
    params: nn.Module | Mapping[str, Tensor] | Iterable[Tensor],
    *,
    finite_difference: bool = False,
    replicates: int = 100,
    seed: int = 0,
    false_alarm_rate: float = 1e-4,
    rtol: float = 0.02,
    raise_error: bool = True,
) -> GradientCheck:
    """Report every parameter whose gradient is cut (and, optionally, wrong); see the module.

    Args:
        loss: evaluates the loss, a scalar, from the parameters' current values;
            called several times (a value alone cannot be re-evaluated).
        params: a module (its parameters that require grad, by name), a mapping
            name -> tensor, or tensors (named ``params[i]``).
        finite_difference: also compare the mean gradient over ``replicates`` seeds
            with central differences of the loss (check 2).
        replicates: seeds for check 2.
        seed: the first seed; the global random state is left as it was.
        false_alarm_rate: check 2's two-sided z-test level, per parameter tensor.
        rtol: check 2's tolerance for the difference quotient's own error,
            relative to the larger of the two means.
        raise_error: raise :class:`GradientCheckError` (carrying the result as
            ``.check``) when something is found; else return it.

    >>> import torch
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> check_gradients(lambda: (w.detach() * w.sum().detach() * w).sum(), {"w": w}).ok
    True
    >>> check_gradients(lambda: (w.detach() ** 2).sum(), {"w": w})
    Traceback (most recent call last):
    ...
    reparam.safety._errors.GradientCheckError: w: gradient None, but the loss ...
    """
    named = _named(params)
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 2:
        raise ValueError(f"replicates must be an integer >= 2, got {replicates!r}")
    findings: list[Finding] = []
    with torch.random.fork_rng(devices=[]):
        grads = _gradients(loss, named, seed)
        for name, p in named.items():
            finding = _cut(loss, name, p, grads[name], seed)
            if finding is not None:
                findings.append(finding)
        if finite_difference:
            cut = {f.parameter for f in findings}
            for index, (name, p) in enumerate(named.items()):
                if name not in cut:
                    finding = _mismatch(
                        loss, name, p, index, seed, replicates, false_alarm_rate, rtol
                    )
                    if finding is not None:
                        findings.append(finding)
    result = GradientCheck(tuple(named), tuple(findings))
    if raise_error and findings:
        raise GradientCheckError(str(result), result)
    return result


def _named(params: nn.Module | Mapping[str, Tensor] | Iterable[Tensor]) -> dict[str, Tensor]:
    if isinstance(params, nn.Module):
        named: dict[str, Tensor] = {n: p for n, p in params.named_parameters() if p.requires_grad}
    elif isinstance(params, Mapping):
        named = dict(params)
    else:
        named = {f"params[{i}]": p for i, p in enumerate(params)}
    if not named:
        raise ValueError("params holds no tensor to check")
    for name, p in named.items():
        if not isinstance(p, Tensor) or not p.is_floating_point() or not p.requires_grad:
            raise ValueError(
                f"parameter {name!r} must be a floating-point tensor that requires grad"
            )
        if not p.is_leaf:
            raise ValueError(
                f"parameter {name!r} is computed from other tensors; pass the leaves it is "
                "computed from (the module's parameters), which the check moves and restores"
            )
    return named


def _value(loss: Loss, seed: int) -> Tensor:
    torch.manual_seed(seed)
    value = loss()
    if not isinstance(value, Tensor) or value.numel() != 1:
        got = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(f"loss() must return a scalar tensor, got {got}; reduce it (.sum())")
    return value.reshape(())


def _gradients(loss: Loss, named: dict[str, Tensor], seed: int) -> dict[str, Tensor | None]:
    with torch.enable_grad():
        value = _value(loss, seed)
        if not value.requires_grad:
            return dict.fromkeys(named)
        grads = torch.autograd.grad(value, list(named.values()), allow_unused=True)
    return dict(zip(named, grads, strict=True))


def _direction(p: Tensor, seed: int, index: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed * 7919 + index)
    u = torch.randn(p.shape, generator=generator, dtype=torch.float64)
    return (u / u.norm()).to(device=p.device, dtype=p.dtype)


def _step(p: Tensor) -> float:
    """``eps^(1/3)`` times the parameter's scale: the central difference's best step."""
    scale = float(p.detach().abs().mean()) if p.numel() else 0.0
    return torch.finfo(p.dtype).eps ** (1 / 3) * max(scale * math.sqrt(p.numel()), 1.0)


def _moved(loss: Loss, p: Tensor, shift: Tensor, seed: int) -> float:
    """The loss with ``p + shift``, same seed; ``p`` is restored exactly."""
    saved = p.detach().clone()
    try:
        with torch.no_grad():
            p.add_(shift)
            return float(_value(loss, seed))
    finally:
        with torch.no_grad():
            p.copy_(saved)


def _cut(loss: Loss, name: str, p: Tensor, grad: Tensor | None, seed: int) -> Finding | None:
    if grad is not None and bool(grad.ne(0).any()):
        return None
    h = _step(p)
    u = _direction(p, seed, 0)
    up, down = _moved(loss, p, h * u, seed), _moved(loss, p, -h * u, seed)
    with torch.no_grad():
        reference = abs(float(_value(loss, seed)))
    rounding = 64 * torch.finfo(p.dtype).eps * max(reference, abs(up), abs(down), 1e-30)
    change = abs(up - down) / 2
    if not change > rounding:
        return None
    what = "None" if grad is None else "exactly zero"
    return Finding(
        name,
        "cut",
        f"gradient {what}, but the loss changed by {change:.3g} when it moved by {h:.3g} "
        "(same random draws): it influences the loss, and a .detach(), .item(), a sample() "
        "without a gradient path or a comparison between it and the loss cuts the gradient. "
        "Fix: keep that path differentiable (rsample, or an estimator such as "
        "reparam.expectation(..., estimator='score') for discrete samples)",
    )


def _mismatch(
    loss: Loss,
    name: str,
    p: Tensor,
    index: int,
    seed: int,
    replicates: int,
    false_alarm_rate: float,
    rtol: float,
) -> Finding | None:
    h = _step(p)
    u = _direction(p, seed, index + 1)
    gradient, difference = [], []
    for r in range(replicates):
        grads = _gradients(loss, {name: p}, seed + 1 + r)
        g = grads[name]
        gradient.append(0.0 if g is None else float((g.double() * u.double()).sum()))
        up = _moved(loss, p, h * u, seed + 1 + r)
        down = _moved(loss, p, -h * u, seed + 1 + r)
        difference.append((up - down) / (2 * h))
    paired = [g - d for g, d in zip(gradient, difference, strict=True)]
    mean = statistics.fmean(paired)
    se = statistics.stdev(paired) / math.sqrt(replicates)
    z = statistics.NormalDist().inv_cdf(1 - false_alarm_rate / 2)
    scale = max(abs(statistics.fmean(gradient)), abs(statistics.fmean(difference)))
    if abs(mean) <= z * se + rtol * scale:
        return None
    return Finding(
        name,
        "mismatch",
        f"mean directional gradient {statistics.fmean(gradient):.4g} over {replicates} seeds, "
        f"but the loss's central difference is {statistics.fmean(difference):.4g} "
        f"(paired difference {mean:.3g} ± {se:.2g}): the gradient is wrong, e.g. a "
        ".detach() inside a log joint or cost, or the estimator is biased",
    )
