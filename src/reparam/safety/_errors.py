"""The error raised where a gradient would be silently cut."""

from __future__ import annotations


class GradientCutError(RuntimeError):
    """A sample was drawn in a way that gives some parameter no gradient.

    Attributes:
        call: the sampling call, e.g. ``"Normal.sample()"``.
        parameter: the argument that requires grad but gets none, e.g. ``"scale"``.
        reason: why no gradient can flow.
        fix: the change that restores it.
    """

    def __init__(self, call: str, parameter: str, reason: str, fix: str) -> None:
        self.call = call
        self.parameter = parameter
        self.reason = reason
        self.fix = fix
        super().__init__(f"{call} cuts the gradient to '{parameter}': {reason}. Fix: {fix}.")


class GradientCheckError(RuntimeError):
    """:func:`reparam.check_gradients` found a cut or wrong gradient; ``.check`` says which."""

    def __init__(self, message: str, check: object) -> None:
        self.check = check
        super().__init__(message)
