"""The one estimator contract: honest values, relaxed objectives on request, no type checks.

* Every registered estimator that applies to a discrete problem returns a
  surrogate whose value estimates ``E_q[f]`` without bias (z-test at
  false-failure rate 1e-4 against enumeration, float64, fixed seed); the relaxed
  objective, what Gumbel-softmax's value used to be, fails the same test.
* Gumbel-softmax's gradient is the relaxed objective's, sample by sample.
* RELAX's ``training_term`` gives the control variate ``d/dpsi sum g^2`` (the
  gradient of :meth:`RELAX.gradients`'s variance loss) and leaves the rest alone.
* Outside ``reparam.estimators`` no code tests an estimator's class.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from torch import Tensor

import reparam
import reparam.estimators
from reparam.estimators import Estimator, applicable_estimators, resolve_estimator
from tests.estimators.discrete.problems import (
    Enumerable,
    bernoulli_toy,
    categorical_pair,
    multi_bernoulli,
)
from tests.stats import assert_mean, mean_z_scores, z_threshold

TRIALS = 20_000
PROBLEMS = [bernoulli_toy(0.49), multi_bernoulli(), categorical_pair()]
CASES = [
    pytest.param(name, problem, id=f"{name}-{problem.name}")
    for problem in PROBLEMS
    for name in applicable_estimators(problem.trials(1)[1])
]
SOURCE = Path(reparam.__file__).resolve().parent


def values(problem: Enumerable, surrogate: str, estimator: Estimator, seed: int = 0) -> Tensor:
    """``TRIALS`` independent two-sample values ``h.mean(0)`` of ``estimator.<surrogate>``."""
    torch.manual_seed(seed)
    _, dist = problem.trials(TRIALS)
    with torch.no_grad():
        h = getattr(estimator, surrogate)(problem.f, dist, 2)
    return h.mean(0)


@pytest.mark.parametrize(("name", "problem"), CASES)
def test_every_value_is_an_unbiased_estimate_of_the_expectation(
    name: str, problem: Enumerable
) -> None:
    assert_mean(values(problem, "surrogate", resolve_estimator(name)), problem.exact_value())


def test_the_relaxed_objective_is_not_the_expectation() -> None:
    """The value check can fail: Gumbel-softmax's relaxed objective is rejected."""
    problem = bernoulli_toy(0.49)
    relaxed = values(problem, "relaxed_surrogate", reparam.GumbelSoftmax(1.0))
    z = mean_z_scores(relaxed, problem.exact_value())
    assert bool((z.abs() > z_threshold(count=z.numel())).all())


@pytest.mark.parametrize("problem", [bernoulli_toy(0.49), categorical_pair()], ids=lambda p: p.name)
def test_gumbel_softmax_value_is_exact_and_gradient_relaxed(problem: Enumerable) -> None:
    estimator = reparam.GumbelSoftmax(0.5)
    grads, outputs = [], []
    for method in (estimator.surrogate, estimator.relaxed_surrogate):
        torch.manual_seed(1)
        leaf, dist = problem.trials(50)
        h = method(problem.f, dist, 3)
        (grad,) = torch.autograd.grad(h.sum(), leaf)
        grads.append(grad)
        outputs.append(h.detach())
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
    exact_points = problem.f(problem.states.unsqueeze(1).unsqueeze(1)).squeeze(1)  # [M, 1, ...]
    at_a_state = (outputs[0].unsqueeze(0) == exact_points.unsqueeze(1)).any(0)
    assert bool(at_a_state.all()), "the value is f at an exact sample"
    assert not bool((outputs[1].unsqueeze(0) == exact_points.unsqueeze(1)).any(0).any())


def test_relax_training_term_gives_the_variance_gradient() -> None:
    logits = torch.tensor([-1.0, 0.3, 2.0], requires_grad=True)
    estimator = reparam.RELAX()
    params = list(estimator.control_variate.parameters())

    def f(z: Tensor) -> Tensor:
        return (z - 0.49) ** 2

    torch.manual_seed(0)
    objective = reparam.expectation(f, torch.distributions.Bernoulli(logits=logits), estimator, 4)
    (g,), variance = estimator.gradients(objective.sum(), [logits])
    wanted = torch.autograd.grad(variance, params)
    torch.manual_seed(0)
    objective = reparam.expectation(f, torch.distributions.Bernoulli(logits=logits), estimator, 4)
    term = estimator.training_term(objective.sum(), [logits])
    assert term.item() == 0.0
    (objective.sum() + term).backward()
    torch.testing.assert_close(logits.grad, g)
    for param, expected in zip(params, wanted, strict=True):
        torch.testing.assert_close(param.grad, expected)
    assert estimator.trainable() is estimator.control_variate


def test_estimators_without_learned_parts_add_nothing() -> None:
    for name, factory in reparam.ESTIMATORS.items():
        estimator = factory()
        if estimator.trainable() is None:
            term = estimator.training_term(torch.tensor(2.0), [])
            assert term.item() == 0.0 and not term.requires_grad, name


def estimator_class_names() -> set[str]:
    return {
        name
        for name, value in vars(reparam.estimators).items()
        if isinstance(value, type) and issubclass(value, Estimator)
    }


def type_checks_of_estimators(path: Path, classes: set[str], root: Path = SOURCE) -> list[str]:
    """``file:line`` of every ``isinstance``/``issubclass`` naming one of ``classes``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id not in ("isinstance", "issubclass") or len(node.args) != 2:
            continue
        named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
        named |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
        if named & classes:
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_no_code_outside_the_estimators_tests_an_estimator_class() -> None:
    classes = estimator_class_names() - {"Estimator"}  # the base type is an API check
    outside = [p for p in sorted(SOURCE.rglob("*.py")) if "estimators" not in p.parts]
    found = [hit for path in outside for hit in type_checks_of_estimators(path, classes)]
    assert not found, f"ask the estimator instead of testing its type: {found}"


def test_the_type_check_scan_sees_a_type_check(tmp_path: Path) -> None:
    """The scan can fail: it finds both checks of the old discrete VAE's kind."""
    path = tmp_path / "model.py"
    path.write_text("ok = isinstance(e, GumbelSoftmax) or isinstance(e, reparam.RELAX)\n")
    classes = estimator_class_names() - {"Estimator"}
    assert type_checks_of_estimators(path, classes, tmp_path) == ["model.py:1", "model.py:1"]
