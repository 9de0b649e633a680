"""``reparam.strict()``: sampling that would cut a gradient raises; nothing else changes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Categorical,
    Dirichlet,
    Distribution,
    Gamma,
    LogNormal,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    TransformedDistribution,
)
from torch.distributions.transforms import AffineTransform
from torch.overrides import _get_current_function_mode_stack

import reparam
from reparam import GradientCutError, strict


def _leaf(value: object) -> torch.Tensor:
    return torch.tensor(value, requires_grad=True)


DISTRIBUTIONS = [
    pytest.param(lambda: Normal(0.0, _leaf(1.0)), "Normal.sample()", "scale", id="Normal"),
    pytest.param(lambda: Gamma(_leaf(2.0), 1.0), "Gamma.sample()", "concentration", id="Gamma"),
    pytest.param(
        lambda: Bernoulli(logits=_leaf([0.1, 0.2])), "Bernoulli.sample()", "logits", id="Bernoulli"
    ),
    pytest.param(
        lambda: Categorical(probs=_leaf([0.2, 0.8])), "Categorical.sample()", "probs", id="Cat"
    ),
    pytest.param(
        lambda: OneHotCategorical(logits=_leaf([0.0, 1.0])),
        "OneHotCategorical.sample()",
        "logits",
        id="OneHotCategorical",
    ),
    pytest.param(
        lambda: Dirichlet(_leaf([1.0, 2.0])), "Dirichlet.sample()", "concentration", id="Dirichlet"
    ),
    pytest.param(
        lambda: MultivariateNormal(_leaf([0.0, 0.0]), torch.eye(2)),
        "MultivariateNormal.sample()",
        "loc",
        id="MultivariateNormal",
    ),
    pytest.param(lambda: LogNormal(_leaf(0.0), 1.0), "LogNormal.sample()", "loc", id="LogNormal"),
    pytest.param(
        lambda: TransformedDistribution(Normal(0.0, 1.0), [AffineTransform(0.0, _leaf(2.0))]),
        "TransformedDistribution.sample()",
        "transforms[0].scale",
        id="affine-transform",
    ),
]


@pytest.mark.parametrize(("make", "call", "parameter"), DISTRIBUTIONS)
def test_sample_with_a_parameter_requiring_grad_raises(
    make: Callable[[], Distribution], call: str, parameter: str
) -> None:
    dist = make()
    with strict(), pytest.raises(GradientCutError) as caught:
        dist.sample()
    error = caught.value
    assert (error.call, error.parameter) == (call, parameter)
    assert "without a gradient path" in error.reason
    assert "rsample()" in error.fix and "estimator='score'" in error.fix
    assert str(error).startswith(f"{call} cuts the gradient to '{parameter}'")


SAMPLERS = [
    pytest.param(
        lambda: torch.normal(torch.zeros(3), _leaf([1.0, 1.0, 1.0])), "std", id="normal-std"
    ),
    pytest.param(lambda: torch.normal(_leaf([0.0, 1.0]), 1.0), "mean", id="normal-mean"),
    pytest.param(lambda: torch.bernoulli(_leaf([0.3, 0.6])), "input", id="bernoulli"),
    pytest.param(lambda: _leaf([0.3, 0.6]).bernoulli(), "input", id="Tensor.bernoulli"),
    pytest.param(lambda: torch.poisson(_leaf([1.0, 4.0])), "input", id="poisson"),
    pytest.param(lambda: torch.multinomial(_leaf([0.3, 0.7]), 2), "input", id="multinomial"),
]


@pytest.mark.parametrize(("draw", "parameter"), SAMPLERS)
def test_tensor_samplers_with_inputs_requiring_grad_raise(
    draw: Callable[[], torch.Tensor], parameter: str
) -> None:
    with strict(), pytest.raises(GradientCutError) as caught:
        draw()
    error = caught.value
    assert error.parameter == parameter
    assert "not differentiable in its inputs" in error.reason
    assert "randn_like" in error.fix


def test_normal_with_a_grad_std_really_gives_a_silent_zero() -> None:
    """What strict() guards against: outside it, ``std`` gets a zero gradient, silently."""
    std = _leaf([1.0, 2.0])
    mean = _leaf([0.0, 0.0])
    torch.normal(mean, std).sum().backward()
    assert std.grad is None or bool((std.grad == 0).all())


def test_reparameterized_and_gradient_free_sampling_pass() -> None:
    scale = _leaf(1.5)
    with strict():
        assert Normal(0.0, scale).rsample((4,)).requires_grad
        assert Gamma(_leaf(2.0), 1.0).rsample().requires_grad
        assert Dirichlet(_leaf([1.0, 2.0])).rsample().requires_grad
        Normal(0.0, 1.0).sample((3,))
        Bernoulli(logits=torch.zeros(2)).sample()
        torch.normal(torch.zeros(2), torch.ones(2))
        torch.bernoulli(torch.full((2,), 0.5))
        with torch.no_grad():
            torch.normal(torch.zeros(2), scale.expand(2))
        torch.randn(3)


@pytest.mark.parametrize("estimator", ["pathwise", "score", "score-loo", "mvd"])
def test_estimators_work_inside_strict(estimator: str) -> None:
    """The score function and the measure-valued estimator sample without a path on purpose."""
    mu = torch.zeros(3, requires_grad=True)
    with strict():
        reparam.expectation(lambda z: z**2, Normal(mu, 1.0), estimator, 4).sum().backward()
        with pytest.raises(GradientCutError):  # the deliberate cut does not leak out
            Normal(mu, 1.0).sample()
    assert mu.grad is not None


def test_score_function_on_a_discrete_distribution_inside_strict() -> None:
    logits = torch.zeros(3, requires_grad=True)
    with strict():
        reparam.expectation(lambda z: z, Bernoulli(logits=logits), "score", 2).sum().backward()
    assert logits.grad is not None


def test_outside_the_context_nothing_is_changed() -> None:
    before = (torch.normal, torch.bernoulli, Distribution.sample, Normal.sample)
    assert not _get_current_function_mode_stack()
    with strict():
        assert (torch.normal, torch.bernoulli, Distribution.sample, Normal.sample) == before
        assert len(_get_current_function_mode_stack()) == 1
    assert (torch.normal, torch.bernoulli, Distribution.sample, Normal.sample) == before
    assert not _get_current_function_mode_stack()
    Normal(0.0, _leaf(1.0)).sample()  # no error outside


def test_the_mode_is_removed_when_the_body_raises() -> None:
    with pytest.raises(GradientCutError), strict():
        Normal(0.0, _leaf(1.0)).sample()
    assert not _get_current_function_mode_stack()


def test_importing_reparam_patches_nothing() -> None:
    """In a fresh interpreter: the same torch objects before and after ``import reparam``."""
    script = """
import torch
from torch.distributions import Distribution, Normal
from torch.overrides import _get_current_function_mode_stack
names = ["normal", "bernoulli", "poisson", "multinomial", "randn", "rand"]
before = [getattr(torch, n) for n in names] + [Distribution.sample, Normal.sample,
          Normal.rsample, torch.Tensor.bernoulli, torch.Tensor.normal_]
import reparam
after = [getattr(torch, n) for n in names] + [Distribution.sample, Normal.sample,
         Normal.rsample, torch.Tensor.bernoulli, torch.Tensor.normal_]
assert all(a is b for a, b in zip(before, after)), "torch was patched"
assert not _get_current_function_mode_stack(), "a torch function mode is active"
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
