"""What :func:`reparam.strict` knows of Pyro, without importing it.

Pyro is optional: these checks look Pyro up in ``sys.modules`` and find nothing
to do when it was never imported (then no Pyro code can be running).

* A non-reparameterized ``pyro.sample`` site draws with ``Distribution.sample()``
  on purpose: a Pyro ELBO recording the site in its trace adds the score term
  ``f * grad log q(z)`` itself (``Trace_ELBO``, ``TraceGraph_ELBO``,
  ``TraceEnum_ELBO``, ``TraceMeanField_ELBO``, ``RenyiELBO`` and reparam.pyro's
  ELBOs all do). :func:`pyro_scores_the_site` says whether the ``sample()`` on
  the stack is such a draw: made by Pyro's effect handling for a sample site
  whose distribution has no ``rsample``, recorded by a ``poutine.trace`` that
  records samples, not hidden from it by a ``poutine.block`` in between.
* Detaching the value of a latent site of a trace being run or replayed (a model
  writing ``z.detach()``) stops the pathwise gradient through it:
  :func:`detached_latent_site` names the site.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import torch


def pyro_scores_the_site(frame: FrameType) -> bool:
    """Whether the ``sample()`` running in ``frame`` draws a traced, non-reparameterized site."""
    runtime = sys.modules.get("pyro.poutine.runtime")
    if runtime is None:
        return False
    process = runtime.default_process_message.__code__
    caller: FrameType | None = frame
    while caller is not None and caller.f_code is not process:
        caller = caller.f_back
    if caller is None:
        return False
    msg = caller.f_locals.get("msg")
    if not isinstance(msg, dict) or msg.get("type") != "sample" or msg.get("is_observed"):
        return False
    if getattr(msg.get("fn"), "has_rsample", True):
        return False  # Pyro draws it with rsample: a sample() inside is a real cut
    return _recorded(msg, runtime._PYRO_STACK)


def _recorded(msg: dict[str, Any], stack: list[Any]) -> bool:
    """Whether a sample-recording trace handler sees ``msg`` (innermost handlers first)."""
    module = sys.modules.get("pyro.poutine.trace_messenger")
    if module is None:
        return False
    for handler in reversed(stack):
        if isinstance(handler, module.TraceMessenger) and not handler.param_only:
            return True
        hide = getattr(handler, "hide_fn", None)
        if callable(hide) and hide(msg):  # poutine.block: the handlers outside never see it
            return False
    return False


def detached_latent_site(tensor: Any) -> str | None:
    """The name of the latent site whose value ``tensor`` is, in a trace being run or replayed."""
    runtime = sys.modules.get("pyro.poutine.runtime")
    if runtime is None or not isinstance(tensor, torch.Tensor) or not tensor.requires_grad:
        return None
    trace_class = _trace_class()
    for handler in reversed(runtime._PYRO_STACK):
        trace: Any = getattr(handler, "trace", None)
        if not isinstance(trace, trace_class):
            continue
        for name, site in trace.nodes.items():
            if (
                site.get("type") == "sample"
                and not site.get("is_observed")
                and site.get("value") is tensor
            ):
                return str(name)
    return None


def _trace_class() -> Any:
    module = sys.modules.get("pyro.poutine.trace_struct")
    return module.Trace if module is not None else type(None)
