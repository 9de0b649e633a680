"""Every public estimator is in the statistical suite, because the suite follows the registry.

The unbiasedness suite (:mod:`tests.estimators.suite`, run by
``test_unbiased.py``) pairs every unbiased entry of ``reparam.ESTIMATORS`` with
every family or problem of the suite its ``supports`` accepts; the biased
entries are checked against theory (:data:`tests.estimators.discrete.theory.BIAS_THEORY`).
This module fails when

* an unbiased registered estimator supports no family of the suite: add a
  family it applies to (with closed-form or enumerable ``E[f]``);
* a biased registered estimator has no theory of its mean: add one;
* an ``Estimator`` class exported from ``reparam`` or ``reparam.estimators`` is
  the class of no registry entry (so the suite would never see it);
* a registered class is not ``reparam.X`` and ``reparam.estimators.X``: its
  module's ``__all__`` lacks it, or ``registry.py`` does not star-import the module.

An estimator added to the registry is therefore tested on every family it
claims, and exported, without any list naming it, or this test says what is
missing. The last test walks a newcomer's whole path on a copy of the package.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path
from types import ModuleType

import pytest
from torch import Tensor
from torch.distributions import Distribution, Poisson

import reparam
import reparam.estimators
from reparam import ESTIMATORS, Estimator
from reparam.estimators import Cost, UnsupportedDistributionError, resolve_estimator
from reparam.estimators import registry as registry_module
from tests.conftest import REPO
from tests.estimators.discrete.theory import BIAS_THEORY
from tests.estimators.suite import Registry, unbiased_cases, uncovered


def missing_from_suite(registry: Registry) -> list[str]:
    """What the suite cannot test, one line per registry entry."""
    missing = [f"{name!r}: unbiased, but supports no family of the suite" for name in
               uncovered(registry)]  # fmt: skip
    for name, factory in registry.items():
        estimator = factory()
        if estimator.unbiased:
            continue
        theories = BIAS_THEORY.get(name, [])
        if not theories:
            missing.append(f"{name!r}: biased, and no theory of its mean in BIAS_THEORY")
        for theory in theories:
            if type(theory.estimator) is not type(estimator):
                missing.append(f"{name!r}: BIAS_THEORY tests a {type(theory.estimator).__name__}")
    return missing


def exported_estimator_classes() -> dict[str, type[Estimator]]:
    """Concrete ``Estimator`` subclasses exported from the public modules, by class name."""
    classes: dict[str, type[Estimator]] = {}
    for module in (reparam, reparam.estimators):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Estimator):
                estimator: type[Estimator] = value
                if not inspect.isabstract(estimator):
                    classes[estimator.__name__] = estimator
    return classes


def test_every_registered_estimator_is_in_the_statistical_suite() -> None:
    missing = missing_from_suite(ESTIMATORS)
    assert not missing, "; ".join(missing) + " (see this file's docstring)"


class _PoissonOnly(Estimator):
    """A toy estimator for a distribution no family of the suite has."""

    name = "poisson-only"
    unbiased = True

    def check_supports(self, dist: Distribution) -> None:
        if not isinstance(dist, Poisson):
            raise UnsupportedDistributionError(f"{self.name} supports Poisson only")

    def surrogate(self, f: Cost, dist: Distribution, num_samples: int) -> Tensor:
        raise NotImplementedError


class _BiasedNormal(_PoissonOnly):
    name = "biased-normal"
    unbiased = False


def test_an_estimator_the_suite_cannot_test_fails_the_check() -> None:
    """The check can fail: a new unbiased entry with no family, a biased one with no theory."""
    registry = {**ESTIMATORS, "poisson-only": _PoissonOnly, "biased-normal": _BiasedNormal}
    assert missing_from_suite(registry) == [
        "'poisson-only': unbiased, but supports no family of the suite",
        "'biased-normal': biased, and no theory of its mean in BIAS_THEORY",
    ]


def test_a_new_estimator_joins_the_suite_by_its_registry_entry_alone() -> None:
    """An entry is paired with every family it supports: ``score``'s twin gets all of score's."""
    registry = {"score": ESTIMATORS["score"], "my-score": ESTIMATORS["score"]}
    cases = unbiased_cases(registry)
    mine = [c.entry.id for c in cases if c.estimator == "my-score"]
    assert mine and mine == [c.entry.id for c in cases if c.estimator == "score"]


def test_every_exported_estimator_class_is_registered() -> None:
    registered = {type(factory()) for factory in ESTIMATORS.values()}
    unregistered = sorted(n for n, c in exported_estimator_classes().items() if c not in registered)
    assert not unregistered, f"exported estimator classes with no registry entry: {unregistered}"


def test_registry_entries_are_estimators_with_their_class_facts() -> None:
    for name, factory in ESTIMATORS.items():
        estimator = resolve_estimator(name)
        assert isinstance(estimator, Estimator), name
        assert isinstance(estimator.unbiased, bool), name
        assert estimator.min_samples >= 1, name
        assert type(factory()) is type(estimator), name


def missing_re_exports(registry: Registry, packages: tuple[ModuleType, ...]) -> list[str]:
    """Registered classes that a package does not export, one line each."""
    missing = []
    for name, factory in registry.items():
        cls = type(factory())
        for package in packages:
            if getattr(package, cls.__name__, None) is not cls:
                missing.append(
                    f"{name!r}: {package.__name__}.{cls.__name__} is missing; list it in the "
                    f"__all__ of {cls.__module__} and star-import that module in registry.py"
                )
    return missing


def test_registered_estimators_are_re_exported() -> None:
    """Steps 1 and 2 of adding an estimator (``reparam.estimators`` docstring) export it."""
    missing = missing_re_exports(ESTIMATORS, (reparam, reparam.estimators))
    assert not missing, "; ".join(missing)


def test_an_estimator_that_is_registered_but_not_exported_fails_the_check() -> None:
    registry = {**ESTIMATORS, "poisson-only": _PoissonOnly}
    assert missing_re_exports(registry, (reparam, reparam.estimators)) == [
        f"'poisson-only': {package}._PoissonOnly is missing; list it in the __all__ of "
        f"{__name__} and star-import that module in registry.py"
        for package in ("reparam", "reparam.estimators")
    ]


def test_the_exports_follow_from_the_estimator_modules_all() -> None:
    """The mechanism itself: the registry's public names are its own three and the
    classes its estimator modules list, so nothing else reaches ``reparam``."""
    # By the names sys.modules keys them by: other packages may put objects there
    # that are no modules and have no __name__ (seen with a Cython extension).
    listed = {
        name
        for module_name, module in list(sys.modules.items())
        if module_name.startswith("reparam.estimators._") and hasattr(module, "__all__")
        for name in module.__all__
    }
    for name, factory in ESTIMATORS.items():
        cls = type(factory())
        assert cls.__name__ in sys.modules[cls.__module__].__all__, name
    public = {name for name in vars(registry_module) if not name.startswith("_")}
    own = {"ESTIMATORS", "EstimatorName", "resolve_estimator", "applicable_estimators"}
    assert public == listed | own


def test_the_literal_type_of_names_lists_exactly_the_registry() -> None:
    """``EstimatorName`` (for IDE completion) cannot follow the registry by itself."""
    assert list(typing.get_args(reparam.EstimatorName)) == list(ESTIMATORS)
    signature = inspect.signature(reparam.expectation)
    assert "EstimatorName" in str(signature.parameters["estimator"].annotation)


TOY_MODULE = '''"""A toy estimator: the score function under a name of its own."""

from reparam.estimators._score import ScoreFunction

__all__ = ["ToyScore"]


class ToyScore(ScoreFunction):
    name = "toy-score"
'''

TOY_CHECK = """
import reparam, reparam.estimators
from torch.distributions import Normal
from tests.estimators.suite import unbiased_cases
from tests.estimators.test_registry import missing_from_suite, missing_re_exports
assert reparam.__file__.startswith(COPY), reparam.__file__
toy = reparam.ESTIMATORS["toy-score"]
assert reparam.ToyScore is reparam.estimators.ToyScore is type(toy())
assert "toy-score" in reparam.applicable_estimators(Normal(0.0, 1.0))
assert not missing_re_exports(reparam.ESTIMATORS, (reparam, reparam.estimators))
assert not missing_from_suite(reparam.ESTIMATORS)
families = [c.entry.id for c in unbiased_cases(reparam.ESTIMATORS) if c.estimator == "toy-score"]
print(len(families), len([c for c in unbiased_cases(reparam.ESTIMATORS) if c.estimator == "score"]))
"""


def add_toy_estimator(package: Path) -> None:
    """A newcomer's edits: one module, and in the registry its import and its entry."""
    (package / "estimators" / "_toy.py").write_text(TOY_MODULE)
    path = package / "estimators" / "registry.py"
    text = path.read_text()
    last_import = "from reparam.estimators._straight_through import *\n"
    last_entry = '        "relax": RELAX,'
    assert last_import in text and last_entry in text
    text = text.replace(last_import, last_import + "from reparam.estimators._toy import *\n")
    path.write_text(text.replace(last_entry, '        "toy-score": ToyScore,\n' + last_entry))


def copy_with_toy(folder: Path) -> Path:
    """A copy of the package under ``folder / "src"`` with :func:`add_toy_estimator` done."""
    copy = folder / "src"
    shutil.copytree(Path(reparam.__file__).parent, copy / "reparam",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    add_toy_estimator(copy / "reparam")
    return copy


def run_on(copy: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=300, cwd=REPO,
        check=False, env={**os.environ, "PYTHONPATH": str(copy), "MYPYPATH": str(copy)},
    )  # fmt: skip


@pytest.mark.slow
def test_a_new_module_and_its_registry_lines_are_all_a_new_estimator_needs(
    tmp_path: Path,
) -> None:
    """On a copy of the package: after :func:`add_toy_estimator` alone, the toy is
    ``reparam.ToyScore`` and ``reparam.estimators.ToyScore``, registered, applicable,
    and in the unbiasedness suite on every family the score function is."""
    copy = copy_with_toy(tmp_path)
    done = run_on(copy, "-c", f"COPY = {str(copy)!r}\n" + TOY_CHECK)
    assert done.returncode == 0, done.stderr
    toy, score = map(int, done.stdout.split())
    assert toy == score > 0


@pytest.mark.slow
def test_the_new_estimator_is_typed_for_mypy(tmp_path: Path) -> None:
    """The same copy, statically: mypy (this project's settings) sees ``reparam.ToyScore``."""
    pytest.importorskip("mypy")
    copy = copy_with_toy(tmp_path)
    use = tmp_path / "use.py"
    use.write_text(
        "import reparam\n"
        "reveal_type(reparam.ToyScore().unbiased)\n"
        "reveal_type(reparam.estimators.ToyScore)\n"
        "wrong: int = reparam.ToyScore()\n"
    )
    settings = ["--config-file", str(REPO / "pyproject.toml"), "--cache-dir", str(tmp_path / "c")]
    done = run_on(copy, "-m", "mypy", *settings, str(use), str(copy / "reparam"))
    lines = done.stdout.splitlines()
    assert any('use.py:2: note: Revealed type is "bool"' in line for line in lines), done.stdout
    assert any("use.py:3: note: Revealed type is" in line and "_toy.ToyScore" in line
               for line in lines), done.stdout  # fmt: skip
    errors = [line for line in lines if ": error:" in line]
    assert len(errors) == 1 and "use.py:4:" in errors[0] and "ToyScore" in errors[0], done.stdout
