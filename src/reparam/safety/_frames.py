"""Finding the ``Distribution.sample`` calls on the Python call stack."""

from __future__ import annotations

from types import FrameType
from typing import Any

from torch.distributions import Distribution


def sampling_frames(frame: FrameType | None) -> list[tuple[FrameType, Distribution]]:
    """The frames on the stack that run a ``Distribution.sample``, innermost first."""
    found: list[tuple[FrameType, Distribution]] = []
    while frame is not None:
        owner = _sampling_distribution(frame)
        if owner is not None:
            found.append((frame, owner))
        frame = frame.f_back
    return found


def _sampling_distribution(frame: FrameType) -> Distribution | None:
    """The distribution whose ``sample`` method this frame runs, if any.

    Besides the method's own frame this recognizes the wrapper of a ``sample``
    decorated with ``@torch.no_grad()`` (``torch.distributions.VonMises``): that
    wrapper switches gradients off before the method's frame exists.
    """
    code_name = frame.f_code.co_name
    if code_name == "sample":
        owner = frame.f_locals.get("self")
    elif code_name == "decorate_context":  # torch.utils._contextlib's decorator wrapper
        wrapped = frame.f_locals.get("func")
        call_args: tuple[Any, ...] = frame.f_locals.get("args") or ()
        is_sample = getattr(wrapped, "__name__", None) == "sample" and len(call_args) > 0
        owner = call_args[0] if is_sample else None
    else:
        return None
    return owner if isinstance(owner, Distribution) else None
