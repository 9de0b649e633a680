"""Which names of reparam's public modules the API reference must document.

A module's public names are its ``__all__`` when it has one. Without one they
follow the explicit re-export convention that mypy's ``no_implicit_reexport``
applies: names the module defines (functions, classes, assignments), names it
imports as ``from m import X as X``, and the public names of the modules it
star-imports; never a leading underscore, never a submodule. The Sphinx
extension ``reparam_api`` renders these names, and ``scripts/docs.py`` checks
that each one has an entry in the built site's inventory.

Each object is documented once, on the page of the first module (in
:data:`MODULES` order) that exports it: its *home*. Every other public path to
it (``reparam.expectation`` for ``reparam.estimators.expectation``) is an
*alias*, which the reference lists and links to the home.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from dataclasses import dataclass
from types import ModuleType

# The order decides an object's home: subpackages first, the top-level namespace last.
MODULES: tuple[str, ...] = (
    "reparam.estimators",
    "reparam.distributions",
    "reparam.bounds",
    "reparam.safety",
    "reparam.lab",
    "reparam.models",
    "reparam.training",
    "reparam.training.run",
    "reparam.training.run_folder",
    "reparam.training.run_lock",
    "reparam.training.distributed",
    "reparam.training.monitor",
    "reparam.data",
    "reparam.pyro",
    "reparam.pyro.distributions",
    "reparam",
)

# Public modules directly under reparam that the reference leaves out, and why.
# Any other one without a page in MODULES fails the docs check.
NOT_IN_REFERENCE: dict[str, str] = {
    "reparam.cli": "the command line, documented by its --help and the CLI guide",
    "reparam.experiments": "the noisy channel behind `reparam channel`",
    "reparam.plotting": "matplotlib helpers of the command line's pictures",
}

# Scalars are shared by value, not by identity: two equal constants are two names.
_SCALARS = (int, float, complex, str, bytes, bool, type(None))


def public_names(module: ModuleType) -> list[str]:
    """The public names of ``module``, in the order its source gives them."""
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return list(dict.fromkeys(exported))
    names: list[str] = []
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*" and node.module is not None and node.level == 0:
                    names += public_names(importlib.import_module(node.module))
                elif alias.asname == alias.name:
                    names.append(alias.name)
        elif isinstance(node, ast.Import):
            names += [a.asname for a in node.names if a.asname and a.asname == a.name]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [
        name
        for name in dict.fromkeys(names)
        if not name.startswith("_") and not inspect.ismodule(getattr(module, name, None))
    ]


@dataclass(frozen=True)
class Entry:
    """One public name: where it is documented (``home``) and how it is reached."""

    module: str
    name: str
    home: str  # the full name the reference documents it under

    @property
    def path(self) -> str:
        return f"{self.module}.{self.name}"

    @property
    def is_home(self) -> bool:
        return self.home == self.path


def api_entries(modules: tuple[str, ...] = MODULES) -> dict[str, list[Entry]]:
    """Every module's public names, each with the full name of its home."""
    homes: dict[int, str] = {}
    entries: dict[str, list[Entry]] = {}
    for module_name in modules:
        module = importlib.import_module(module_name)
        rows = []
        for name in public_names(module):
            if not hasattr(module, name):
                raise AttributeError(f"{module_name}.__all__ lists {name!r}, which it lacks")
            obj = getattr(module, name)
            path = f"{module_name}.{name}"
            home = path if isinstance(obj, _SCALARS) else homes.setdefault(id(obj), path)
            rows.append(Entry(module_name, name, home))
        entries[module_name] = rows
    return entries


def unlisted_modules(modules: tuple[str, ...] = MODULES) -> list[str]:
    """Public modules directly under ``reparam`` with no API page and no stated reason."""
    import pkgutil

    import reparam

    found = [f"reparam.{m.name}" for m in pkgutil.iter_modules(reparam.__path__)]
    return [
        name
        for name in found
        if not name.split(".")[-1].startswith("_")
        and name not in modules
        and name not in NOT_IN_REFERENCE
    ]


def missing_entries(inventory: set[str], modules: tuple[str, ...] = MODULES) -> list[str]:
    """Each module and public path that the built site's inventory lacks."""
    missing = [m for m in modules if m not in inventory]
    for rows in api_entries(modules).values():
        missing += [e.path for e in rows if e.path not in inventory]
    return missing


def undocumented(modules: tuple[str, ...] = MODULES) -> list[str]:
    """Each public name homed in ``modules`` whose entry would have no text.

    A class or function needs a docstring of its own (not inherited); a
    constant or type alias needs an attribute docstring, the string literal
    right after its assignment, in the module that assigns it.
    """
    from reparam_api import data_doc, kind_of  # needs Sphinx, as the build does

    lacking = []
    for module_name, rows in api_entries(modules).items():
        module = importlib.import_module(module_name)
        for e in rows:
            if not e.is_home:
                continue
            obj = getattr(module, e.name)
            if kind_of(obj) == "data":
                text = "".join(data_doc(module_name, e.name))
            else:
                text = obj.__doc__ or ""
            if not text.strip():
                lacking.append(e.path)
    return lacking
