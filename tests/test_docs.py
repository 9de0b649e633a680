"""The check behind the API reference: which names are public, and what fails the docs build.

``scripts/docs.py`` (run by ``scripts/check.py``) builds the site; these tests
check that its public-name rule and its two checks find what they must.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import public_api  # noqa: E402


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A throwaway package ``docpkg`` with one module of each kind."""
    root = tmp_path / "docpkg"
    root.mkdir()
    (root / "__init__.py").write_text(
        textwrap.dedent(
            '''
            """A package without __all__."""
            from collections.abc import Callable
            from docpkg._impl import Helper as Helper
            from docpkg._impl import hidden
            from docpkg._listed import *
            from docpkg import _impl as _impl

            LIMIT = 3
            """The limit."""

            def documented() -> None:
                """Documented."""

            def undocumented() -> None:
                pass

            def _private() -> None:
                """Private."""
            '''
        )
    )
    (root / "_impl.py").write_text(
        'class Helper:\n    """Helps."""\n\n\ndef hidden() -> None:\n    """Hidden."""\n'
    )
    (root / "_listed.py").write_text(
        '__all__ = ["Listed"]\n\n\nclass Listed:\n    """Listed."""\n\n\nclass Other:\n    pass\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "docpkg"
    for name in [m for m in sys.modules if m == "docpkg" or m.startswith("docpkg.")]:
        del sys.modules[name]


def test_public_names_are_the_explicit_reexports_and_definitions(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    assert public_api.public_names(module) == [
        "Helper",
        "Listed",
        "LIMIT",
        "documented",
        "undocumented",
    ]
    listed = importlib.import_module(f"{package}._listed")
    assert public_api.public_names(listed) == ["Listed"]


def test_a_name_missing_from_the_inventory_is_reported(package: str) -> None:
    modules = (package,)
    everything = {package} | {e.path for e in public_api.api_entries(modules)[package]}
    assert public_api.missing_entries(everything, modules) == []
    assert public_api.missing_entries(everything - {f"{package}.LIMIT"}, modules) == [
        f"{package}.LIMIT"
    ]
    assert public_api.missing_entries(everything - {package}, modules) == [package]


def test_a_name_without_docstring_is_reported(package: str) -> None:
    pytest.importorskip("sphinx")
    assert public_api.undocumented((package,)) == [f"{package}.undocumented"]


def test_each_object_has_one_home_and_the_top_level_links_to_it() -> None:
    entries = public_api.api_entries()
    top = {e.name: e for e in entries["reparam"]}
    assert top["expectation"].home == "reparam.estimators.expectation"
    assert top["strict"].home == "reparam.safety.strict"
    homes = [e.path for rows in entries.values() for e in rows if e.is_home]
    assert len(homes) == len(set(homes))


def test_every_public_name_of_reparam_is_documented() -> None:
    pytest.importorskip("sphinx")
    assert public_api.undocumented() == []


def test_every_public_module_of_reparam_has_a_page_or_a_reason() -> None:
    assert public_api.unlisted_modules() == []
    assert public_api.unlisted_modules(public_api.MODULES[1:]) == [public_api.MODULES[0]]
