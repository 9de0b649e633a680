"""``strict()``: sampling calls that would silently cut a gradient raise instead.

Inside ``with reparam.strict():``

* ``Distribution.sample()`` called where gradients are recorded, on a
  distribution with a parameter that requires grad, raises
  :class:`GradientCutError` (``sample`` draws without a gradient path; the loss
  then carries no gradient to that parameter). This covers every distribution,
  whether its ``sample`` switches gradients off (``torch.no_grad()``, as
  ``Normal`` and the default ``sample`` that calls ``rsample`` do) or calls a
  random primitive directly (``Categorical``). Under ``torch.no_grad()`` or
  ``torch.inference_mode()`` no gradient is wanted and ``sample()`` passes;
* ``torch.normal``, ``torch.bernoulli``, ``torch.poisson`` and
  ``torch.multinomial`` called with tensors that require grad raise too, where
  gradients are recorded: their outputs are not differentiable in those inputs
  (``torch.normal(mean, std)`` even returns a tensor that requires grad, through
  ``mean``, while ``std`` gets a zero gradient);
* ``reparam.expectation`` with the pathwise estimator raises when ``f`` does not
  depend on its samples through a gradient path (see
  :func:`reparam.safety.check_cost_path`), and ``reparam.iwae_bound`` when its
  ``log_joint`` does not depend on its samples so (see
  :func:`reparam.safety.check_log_joint_path`).

It is implemented as a :class:`torch.overrides.TorchFunctionMode`, PyTorch's own
mechanism for intercepting calls: nothing of torch is replaced, and outside the
context nothing is intercepted at all. A ``sample()`` is recognized by its
frame on the call stack when it draws from a random primitive or switches
gradients off (the mode sees ``torch._C._set_grad_enabled``, which
``torch.no_grad()`` calls); whether a gradient is wanted is decided by the grad
mode the ``sample()`` was called in, not the one it switches to. Estimators that
sample without a gradient path on purpose (the score function) do so inside
:func:`deliberately_cut`.

Under Pyro (details in ``reparam.safety._pyro`` and the Pyro guide): a
non-reparameterized ``pyro.sample`` site recorded by a ``poutine.trace`` draws
with ``sample()`` and passes, since a Pyro ELBO adds its score term (under
``Trace_ELBO``, ``TraceGraph_ELBO``, ``TraceEnum_ELBO``); the same site hidden by
``poutine.block`` raises, as does any direct ``dist.sample()`` call; and
``Tensor.detach()`` of a latent site's value, where a trace of it is being run
or replayed (a model detaching a latent), raises. strict() cannot see a loss
written by hand over a trace that omits the score term, nor a gradient stopped
by other means than ``detach`` (``.data``, ``torch.no_grad()`` around a
computation that is not a draw).

Threads: PyTorch keeps function modes per thread, so ``strict()`` checks only
the thread that entered it. Sampling in other threads (a thread started inside
the ``with`` block, a thread pool, ``DataLoader`` workers, which are processes)
is not checked and never raises; enter ``strict()`` in each of them to check it
there.

Inside ``strict()`` the estimators also check the costs, and ``iwae_bound`` its log
joint, for nan and inf on every device, not only where it is free (see
``reparam.estimators._finite``).
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
from torch.overrides import TorchFunctionMode

from reparam.safety._errors import GradientCutError
from reparam.safety._frames import sampling_frames
from reparam.safety._parameters import parameter_requiring_grad
from reparam.safety._pyro import detached_latent_site, pyro_scores_the_site

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

# What torch.no_grad(), torch.set_grad_enabled() and their decorators call.
_SET_GRAD_ENABLED = torch._C._set_grad_enabled

_FIX_SAMPLE = (
    "reparameterize: draw with dist.rsample() (or write the sample as a differentiable "
    "function of the parameters, e.g. loc + scale * eps with eps ~ N(0, 1)), or use "
    "reparam.expectation(f, dist, estimator='pathwise'); for a distribution without "
    "rsample use estimator='score'; if no gradient is wanted, sample under torch.no_grad()"
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
    >>> with strict(), torch.no_grad():  # no gradient wanted: passes
    ...     _ = Normal(0.0, scale).sample()
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
    """Whether the calling code runs inside :func:`strict` (never while being compiled).

    >>> is_strict()
    False
    >>> with strict():
    ...     is_strict()
    True
    """
    if torch.compiler.is_compiling():  # Dynamo cannot trace a context variable
        return False
    return _strict_active.get()


class _StrictMode(TorchFunctionMode):
    """Checks random primitives and switches of the grad mode against the sampling frames.

    Whether the user wants a gradient is the grad mode a ``sample()`` was
    called in, not the one inside it (most ``sample`` methods switch gradients
    off first). Every switch of the grad mode is seen here, so the mode each
    sampling frame was entered in is the one before the first switch made
    while it runs; a frame that has seen no switch runs in the current mode.
    """

    def __init__(self) -> None:
        super().__init__()
        # Sampling frames and the mode they were called in. Frames are held (not
        # their ids, which a later frame may reuse) until they leave the stack.
        self._entered: list[tuple[FrameType, bool]] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func is _SET_GRAD_ENABLED and args and bool(args[0]) != torch.is_grad_enabled():
            samplers = self._track(sys._getframe(1), remember=True)
            if not args[0] and not _deliberate.get():  # gradients being switched off
                self._check_samplers(samplers)
        elif func in _RANDOM_PRIMITIVES and not _deliberate.get():
            self._check_samplers(self._track(sys._getframe(1), remember=False))
            if func in _NON_DIFFERENTIABLE_SAMPLERS and torch.is_grad_enabled():
                _check_tensor_sampler(_NON_DIFFERENTIABLE_SAMPLERS[func], args, kwargs)
        elif func in _DETACHES and args and torch.is_grad_enabled() and not _deliberate.get():
            _check_pyro_latent(func, args[0])
        return func(*args, **kwargs)

    def _track(self, frame: FrameType, *, remember: bool) -> list[tuple[FrameType, Distribution]]:
        """The sampling frames on the stack; forget those that left it, remember new ones.

        ``remember`` at a switch of the grad mode, before it happens: a frame
        seen for the first time then was called in the mode about to change.
        """
        samplers = sampling_frames(frame)
        self._entered = [e for e in self._entered if any(e[0] is f for f, _ in samplers)]
        if remember:
            before = torch.is_grad_enabled()
            seen = [f for f, _ in self._entered]
            self._entered += [(f, before) for f, _ in samplers if not any(f is g for g in seen)]
        return samplers

    def _check_samplers(self, samplers: list[tuple[FrameType, Distribution]]) -> None:
        """Raise if the outermost sampler with a parameter requiring grad was called with grad on.

        The outermost is reported: ``OneHotCategorical.sample()`` rather than the
        ``Categorical.sample()`` it delegates to.
        """
        for frame, owner in reversed(samplers):
            name = parameter_requiring_grad(owner)
            if name is None:
                continue
            if self._called_with_grad(frame) and not pyro_scores_the_site(frame):
                raise GradientCutError(
                    call=f"{type(owner).__name__}.sample()",
                    parameter=name,
                    reason=(
                        "sample() draws without a gradient path, so the loss does not "
                        f"depend differentiably on '{name}' and its gradient is lost"
                    ),
                    fix=_FIX_SAMPLE,
                )
            return

    def _called_with_grad(self, frame: FrameType) -> bool:
        for seen, enabled in self._entered:
            if seen is frame:
                return enabled
        return torch.is_grad_enabled()


# Detaching a tensor: a cut where the tensor is a latent site's value in a running Pyro program.
_DETACHES = frozenset([torch.Tensor.detach, torch.Tensor.detach_, torch.detach])


def _check_pyro_latent(func: Callable[..., Any], tensor: Any) -> None:
    site = detached_latent_site(tensor)
    if site is None:
        return
    raise GradientCutError(
        call=f"{'torch.detach' if func is torch.detach else 'Tensor.' + func.__name__}()",
        parameter=site,
        reason=(
            f"the value of the latent site '{site}' is detached, so what is computed from "
            "it (the model's log-density, say) sends no gradient through it to the guide's "
            "parameters"
        ),
        fix=(
            f"use the value of '{site}' as it is; if stopping its gradient is intended, "
            "detach it inside reparam.safety.deliberately_cut()"
        ),
    )


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
