"""Every public estimator is in the statistical suite.

How a test module declares what it covers: a module anywhere under ``tests/``
that checks estimators *statistically* (z-tests of the estimated gradient against
an exact one, or of a known bias, through ``tests/stats.py``) declares at module
level a tuple of string literals,

    COVERS_ESTIMATORS = ("gumbel-softmax", "st-gumbel-softmax")

naming the short names it covers: keys of ``reparam.ESTIMATORS``, and the
``name`` class attribute of every ``Estimator`` subclass exported from
``reparam`` or ``reparam.estimators``. This module reads those tuples from the
source files with ``ast`` (no test module is imported, so it works under
``pytest -k`` and ``-n``) and fails when

* a registered estimator, or an exported ``Estimator`` class, is declared by no
  test module: add its tests, and the declaration beside them;
* a declared name is neither registered nor the name of an exported class.

An estimator added to the registry therefore fails this test until a test
module covering it says so.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import reparam
import reparam.estimators
from reparam import ESTIMATORS, Estimator
from reparam.estimators import resolve_estimator

TESTS = Path(__file__).resolve().parents[1]


def declared_coverage() -> dict[str, list[str]]:
    """Covered name -> the test files that declare it."""
    covered: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Name) and t.id == "COVERS_ESTIMATORS" for t in targets):
                assert isinstance(node, ast.Assign)
                for name in ast.literal_eval(node.value):
                    covered.setdefault(name, []).append(str(path.relative_to(TESTS)))
    return covered


def exported_estimator_classes() -> dict[str, type[Estimator]]:
    """Concrete ``Estimator`` subclasses exported from the public modules, by ``name``."""
    classes: dict[str, type[Estimator]] = {}
    for module in (reparam, reparam.estimators):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Estimator):
                estimator: type[Estimator] = value
                if not inspect.isabstract(estimator):
                    classes[estimator.name] = estimator
    return classes


def test_every_public_estimator_has_statistical_coverage() -> None:
    covered = declared_coverage()
    public = set(ESTIMATORS) | set(exported_estimator_classes())
    missing = sorted(public - set(covered))
    assert not missing, (
        f"public estimators without statistical tests: {missing}. Test them and declare "
        "COVERS_ESTIMATORS = (...) in the test module (see this file's docstring)."
    )


def test_declared_names_exist() -> None:
    public = set(ESTIMATORS) | set(exported_estimator_classes())
    unknown = {name: files for name, files in declared_coverage().items() if name not in public}
    assert not unknown, f"COVERS_ESTIMATORS names no public estimator: {unknown}"


def test_the_coverage_check_sees_this_suite() -> None:
    """The scan works: it finds this directory's declarations and the known classes."""
    covered = declared_coverage()
    for name in ("pathwise", "score", "score-loo", "mvd", "mvd-uncoupled"):
        assert any(f.startswith("estimators/") for f in covered.get(name, [])), name
    classes = exported_estimator_classes()
    assert classes["pathwise"] is reparam.Pathwise
    assert classes["mvd"] is reparam.MeasureValued


def test_registry_entries_are_estimators_with_their_class_facts() -> None:
    for name, factory in ESTIMATORS.items():
        estimator = resolve_estimator(name)
        assert isinstance(estimator, Estimator), name
        assert isinstance(estimator.unbiased, bool), name
        assert estimator.min_samples >= 1, name
        assert type(factory()) is type(estimator), name


def test_registered_estimators_are_re_exported() -> None:
    """Step 3 of adding an estimator (``reparam.estimators`` docstring): both re-exports."""
    for name, factory in ESTIMATORS.items():
        cls = type(factory())
        for module in (reparam, reparam.estimators):
            assert getattr(module, cls.__name__, None) is cls, (
                f"{name!r}: add `{cls.__name__}` to {module.__name__}'s re-exports"
            )
