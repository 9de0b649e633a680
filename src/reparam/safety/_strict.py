"""``strict()``: sampling calls that would silently cut a gradient raise instead.

Inside ``with reparam.strict():``

* ``Distribution.sample()`` on a distribution with a parameter that requires
  grad raises :class:`GradientCutError` (``sample`` draws without a gradient path;
  the loss then carries no gradient to that parameter);
* ``torch.normal``, ``torch.bernoulli``, ``torch.poisson`` and
  ``torch.multinomial`` called with tensors that require grad raise too: their
  outputs are not differentiable in those inputs (``torch.normal(mean, std)``
  even returns a tensor that requires grad, through ``mean``, while ``std`` gets
  a zero gradient).

It is implemented as a :class:`torch.overrides.TorchFunctionMode`, PyTorch's own
mechanism for intercepting calls: nothing of torch is replaced, and outside the
context nothing is intercepted at all. Estimators that sample without a gradient
path on purpose (the score function) do so inside :func:`deliberately_cut`.
Inside ``strict()`` the estimators also check the costs for nan and inf on every
device, not only where it is free (see ``reparam.estimators._finite``).
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import torch
from torch.distributions import Distribution
from torch.distributions.utils import lazy_property
from torch.overrides import TorchFunctionMode

from reparam.safety._errors import GradientCutError

_deliberate = contextvars.ContextVar("reparam_deliberate_cut", default=False)
_strict_active = contextvars.ContextVar("reparam_strict", default=False)

_NON_DIFFERENTIABLE_SAMPLERS: dict[Callable[..., Any], str] = {
    torch.normal: "torch.normal",
    torch.bernoulli: "torch.bernoulli",
    torch.poisson: "torch.poisson",
    torch.multinomial: "torch.multinomial",
    torch.Tensor.bernoulli: "Tensor.bernoulli",
    torch.Tensor.multinomial: "Tensor.multinomial",
}

# Every random primitive a Distribution.sample() may end up in. A call to one of
# them with a Distribution.sample frame on the stack is a sample without a path.
_RANDOM_PRIMITIVES = frozenset(
    [
        *_NON_DIFFERENTIABLE_SAMPLERS,
        torch.rand,
        torch.randn,
        torch.randint,
        torch.rand_like,
        torch.randn_like,
        torch.randint_like,
        torch.randperm,
        torch.binomial,
        torch._standard_gamma,
        torch._sample_dirichlet,
        torch.Tensor.normal_,
        torch.Tensor.uniform_,
        torch.Tensor.exponential_,
        torch.Tensor.geometric_,
        torch.Tensor.cauchy_,
        torch.Tensor.log_normal_,
        torch.Tensor.random_,
        torch.Tensor.bernoulli_,
    ]
)

_FIX_SAMPLE = (
    "reparameterize: draw with dist.rsample() (or write the sample as a differentiable "
    "function of the parameters, e.g. loc + scale * eps with eps ~ N(0, 1)), or use "
    "reparam.expectation(f, dist, estimator='pathwise'); for a distribution without "
    "rsample use estimator='score'"
)


@contextlib.contextmanager
def deliberately_cut() -> Iterator[None]:
    """Sampling without a gradient path is intended here: :func:`strict` lets it pass.

    Inside a region being compiled (``torch.compile``) it does nothing:
    Dynamo cannot trace the setting of the context variable that marks it.
    """
    if torch.compiler.is_compiling():
        yield
        return
    token = _deliberate.set(True)
    try:
        yield
    finally:
        _deliberate.reset(token)


@contextlib.contextmanager
def strict() -> Iterator[None]:
    """Raise :class:`GradientCutError` where sampling would silently cut a gradient.

    >>> import torch
    >>> from torch.distributions import Normal
    >>> scale = torch.tensor(1.0, requires_grad=True)
    >>> with strict():
    ...     Normal(0.0, scale).sample()
    Traceback (most recent call last):
    ...
    reparam.safety._errors.GradientCutError: Normal.sample() cuts the gradient to 'scale': ...
    """
    token = _strict_active.set(True)
    try:
        with _StrictMode():
            yield
    finally:
        _strict_active.reset(token)


def is_strict() -> bool:
    """Whether the calling code runs inside :func:`strict`.

    >>> is_strict()
    False
    >>> with strict():
    ...     is_strict()
    True
    """
    return _strict_active.get()


class _StrictMode(TorchFunctionMode):
    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func in _RANDOM_PRIMITIVES and not _deliberate.get():
            _check_distribution_sample(sys._getframe(1))
            if func in _NON_DIFFERENTIABLE_SAMPLERS and torch.is_grad_enabled():
                _check_tensor_sampler(_NON_DIFFERENTIABLE_SAMPLERS[func], args, kwargs)
        return func(*args, **kwargs)


def _check_distribution_sample(frame: FrameType | None) -> None:
    """Raise if a ``Distribution.sample`` on the stack has a parameter needing grad.

    The outermost such frame is reported: ``OneHotCategorical.sample()`` rather
    than the ``Categorical.sample()`` it delegates to.
    """
    culprit: tuple[Distribution, str] | None = None
    while frame is not None:
        owner = frame.f_locals.get("self") if frame.f_code.co_name == "sample" else None
        if isinstance(owner, Distribution):
            name = _parameter_requiring_grad(owner)
            if name is not None:
                culprit = (owner, name)
        frame = frame.f_back
    if culprit is not None:
        owner, name = culprit
        raise GradientCutError(
            call=f"{type(owner).__name__}.sample()",
            parameter=name,
            reason=(
                "sample() draws without a gradient path, so the loss does not "
                f"depend differentiably on '{name}' and its gradient is lost"
            ),
            fix=_FIX_SAMPLE,
        )


def _parameter_requiring_grad(dist: Distribution) -> str | None:
    """The first parameter the user gave that requires grad (derived ones last).

    A distribution that wraps another (``Independent``, ``LogNormal`` and other
    transformed ones, ``OneHotCategorical``) is asked about the inner one first,
    where the parameters the user gave are stored, then about its transforms.
    """
    inner = getattr(dist, "base_dist", None) or getattr(dist, "_categorical", None)
    if isinstance(inner, Distribution):
        name = _parameter_requiring_grad(inner)
        if name is not None:
            return name
    for index, transform in enumerate(getattr(dist, "transforms", ())):
        for attribute, value in vars(transform).items():
            if isinstance(value, torch.Tensor) and value.requires_grad:
                return f"transforms[{index}].{attribute.lstrip('_')}"
    names = list(dist.arg_constraints)
    given_param = getattr(dist, "_param", None)  # Bernoulli, Categorical, ...: the one passed in
    names.sort(key=lambda n: dist.__dict__.get(n) is not given_param)
    derived = [n for n in names if isinstance(getattr(type(dist), n, None), lazy_property)]
    given = [n for n in names if n not in derived]
    for name in [*given, *(n for n in derived if n in dist.__dict__)]:
        value = getattr(dist, name, None)
        if isinstance(value, torch.Tensor) and value.requires_grad:
            return name
    return None


def _check_tensor_sampler(call: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    names = _ARGUMENT_NAMES.get(call, ())
    for position, value in enumerate([*args, *kwargs.values()]):
        if isinstance(value, torch.Tensor) and value.requires_grad:
            keys = list(kwargs)
            if position < len(args):
                name = names[position] if position < len(names) else f"argument {position}"
            else:
                name = keys[position - len(args)]
            raise GradientCutError(
                call=f"{call}()",
                parameter=name,
                reason=(
                    f"{call} is not differentiable in its inputs, so '{name}' gets no "
                    "gradient (or a silent zero) even though it requires grad"
                ),
                fix=(
                    "write the sample as a differentiable function of the parameters, e.g. "
                    "mean + std * torch.randn_like(std), or use a distribution's rsample()"
                ),
            )


_ARGUMENT_NAMES: dict[str, tuple[str, ...]] = {
    "torch.normal": ("mean", "std"),
    "torch.bernoulli": ("input",),
    "Tensor.bernoulli": ("input",),
    "torch.poisson": ("input",),
    "torch.multinomial": ("input", "num_samples"),
    "Tensor.multinomial": ("input", "num_samples"),
}
