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
  the class of no registry entry (so the suite would never see it).

An estimator added to the registry is therefore tested on every family it
claims, without any list naming it, or this test says what is missing.
"""

from __future__ import annotations

import inspect

from torch import Tensor
from torch.distributions import Distribution, Poisson

import reparam
import reparam.estimators
from reparam import ESTIMATORS, Estimator
from reparam.estimators import Cost, UnsupportedDistributionError, resolve_estimator
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


def test_registered_estimators_are_re_exported() -> None:
    """Step 3 of adding an estimator (``reparam.estimators`` docstring): both re-exports."""
    for name, factory in ESTIMATORS.items():
        cls = type(factory())
        for module in (reparam, reparam.estimators):
            assert getattr(module, cls.__name__, None) is cls, (
                f"{name!r}: add `{cls.__name__}` to {module.__name__}'s re-exports"
            )
