"""The error raised where a gradient would be silently cut."""

from __future__ import annotations


class GradientCutError(RuntimeError):
    """A sample was drawn in a way that gives some parameter no gradient.

    Attributes:
        call: the sampling call, e.g. ``"Normal.sample()"``.
        parameter: the argument that requires grad but gets none, e.g. ``"scale"``.
        reason: why no gradient can flow.
        fix: the change that restores it.

    Built from its parts, ``GradientCutError(call, parameter, reason, fix)``, it
    writes the message. It can also be rebuilt from a message alone,
    ``GradientCutError(message)``, as code that re-raises ``type(e)(text)`` does
    (Pyro adds its trace's shapes so); the parts are then ``None``, and the
    original error, with its parts, is the new one's ``__cause__``.

    >>> error = GradientCutError("Normal.sample()", "scale", "no path", "use rsample()")
    >>> str(error)
    "Normal.sample() cuts the gradient to 'scale': no path. Fix: use rsample()."
    >>> str(type(error)(f"{error} (shapes)")) == f"{error} (shapes)"
    True
    """

    def __init__(
        self,
        call: str,
        parameter: str | None = None,
        reason: str | None = None,
        fix: str | None = None,
    ) -> None:
        parts = (parameter, reason, fix)
        if all(part is None for part in parts):  # a whole message
            self.call: str | None = None
            super().__init__(call)
        elif any(part is None for part in parts):
            raise TypeError(
                "GradientCutError takes either one message or all of call, parameter, "
                "reason and fix"
            )
        else:
            self.call = call
            super().__init__(f"{call} cuts the gradient to '{parameter}': {reason}. Fix: {fix}.")
        self.parameter = parameter
        self.reason = reason
        self.fix = fix


class GradientCheckError(RuntimeError):
    """:func:`reparam.check_gradients` found a cut or wrong gradient; ``.check`` says which."""

    def __init__(self, message: str, check: object = None) -> None:
        self.check = check
        super().__init__(message)
