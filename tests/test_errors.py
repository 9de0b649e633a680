"""Every exception of the package can be rebuilt from its message alone.

Code that adds context to an error re-raises ``type(e)(text)`` (Pyro's trace
handler appends the trace's shapes so); an exception whose constructor needs
more than one message would turn that into a ``TypeError`` about its own
arguments, hiding the original.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import reparam


def _exception_classes() -> list[type[Exception]]:
    """Every ``Exception`` the package defines (an interrupt, ``Stopped``, is no error)."""
    found: dict[str, type[Exception]] = {}
    for module in pkgutil.walk_packages(reparam.__path__, "reparam."):
        if module.name.endswith("__main__"):  # runs the program
            continue
        imported = importlib.import_module(module.name)
        for _, value in inspect.getmembers(imported, inspect.isclass):
            if issubclass(value, Exception) and value.__module__.startswith("reparam"):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


CLASSES = _exception_classes()


def test_the_package_has_the_exceptions_this_test_is_about() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {"GradientCutError", "NotDetachableError", "EstimatorError", "TooLargeError"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_rebuilt_from_one_message(cls: type[Exception]) -> None:
    message = "what went wrong. Fix: the change\nsite shapes: z [3, 2]"
    rebuilt = cls(message)
    assert str(rebuilt) == message
    again = type(rebuilt)(f"{rebuilt}\nmore context")
    assert str(again) == f"{message}\nmore context"


def test_a_gradient_cut_error_built_from_its_parts_keeps_them() -> None:
    error = reparam.GradientCutError("Normal.sample()", "scale", "no path", "use rsample()")
    assert (error.call, error.parameter, error.reason, error.fix) == (
        "Normal.sample()",
        "scale",
        "no path",
        "use rsample()",
    )
    with pytest.raises(TypeError, match="either one message or all of"):
        reparam.GradientCutError("Normal.sample()", "scale")
