"""Sphinx directive ``reparam-api``: one module's public names, rendered from the code.

``.. reparam-api:: reparam.estimators`` documents the module's docstring, then
every public name whose home is this module (see ``public_api``) with autodoc,
grouped as functions, classes, exceptions and data, then a table of the names
it re-exports from elsewhere, each linked to its home. Those re-exported paths
(``reparam.expectation``) are registered as aliases of the home's entry, so
``:func:`reparam.expectation``` resolves and the site's ``objects.inv`` lists
every public path. A name added to a module is therefore on its page at the
next build, with no page to edit.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.domains.python import ObjectEntry
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from public_api import Entry, api_entries, public_names

_SECTIONS = (
    ("function", "Functions"),
    ("class", "Classes"),
    ("exception", "Exceptions"),
    ("data", "Constants and types"),
)


def kind_of(obj: object) -> str:
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    return "data"


def data_doc(module_name: str, name: str) -> list[str]:
    """The attribute docstring of ``name``, following ``from m import name`` to its source."""
    analyzer = ModuleAnalyzer.for_module(module_name)
    docs = analyzer.find_attr_docs()
    if ("", name) in docs:
        return list(docs[("", name)])
    for node in ast.parse(analyzer.code).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if alias.name == "*" and name in public_names(importlib.import_module(node.module)):
                    return data_doc(node.module, name)
                if (alias.asname or alias.name) == name and alias.name != "*":
                    return data_doc(node.module, alias.name)
    return []


def summary(entry: Entry) -> str:
    module = importlib.import_module(entry.module)
    obj = getattr(module, entry.name)
    if kind_of(obj) == "data":
        lines = data_doc(entry.module, entry.name)
    else:
        lines = (inspect.getdoc(obj) or "").splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    # The summary is read out of its module's context: roles become literals.
    return re.sub(r":[a-z:]+:`~?([^`<]+?)(?: <[^>]+>)?`", r"``\1``", first)


_ENTRIES: dict[str, list[Entry]] = {}


def _entries() -> dict[str, list[Entry]]:
    if not _ENTRIES:
        _ENTRIES.update(api_entries())
    return _ENTRIES


class ReparamAPI(SphinxDirective):
    """Render one module's public API from its ``__all__`` or explicit re-exports."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module_name = self.arguments[0]
        entries = _entries()
        if module_name not in entries:
            raise self.error(f"{module_name} is not one of public_api.MODULES")
        rows = entries[module_name]
        module = importlib.import_module(module_name)
        lines = [f".. automodule:: {module_name}", ""]
        homes = [e for e in rows if e.is_home]
        for kind, title in _SECTIONS:
            members = [e for e in homes if kind_of(getattr(module, e.name)) == kind]
            if not members:
                continue
            lines += [f".. rubric:: {title}", ""]
            for e in members:
                lines += self.render(kind, e)
        aliases = [e for e in rows if not e.is_home]
        if aliases:
            lines += [
                ".. rubric:: Re-exported here",
                "",
                ".. list-table::",
                "   :widths: 35 65",
                "",
            ]
            for e in aliases:
                lines += [f"   * - :py:obj:`{e.name} <{e.home}>`", f"     - {summary(e) or ' '}"]
            lines.append("")
            registered = self.env.reparam_aliases  # type: ignore[attr-defined]
            for e in aliases:
                registered[e.path] = (e.home, self.env.docname)
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source=module_name), node)
        return node.children

    def render(self, kind: str, e: Entry) -> list[str]:
        if kind in ("class", "exception"):
            return [
                f".. auto{kind}:: {e.path}",
                "   :members:",
                "   :show-inheritance:",
                "",
            ]
        if kind == "function":
            return [f".. autofunction:: {e.path}", ""]
        doc = data_doc(e.module, e.name)
        return [
            f".. py:data:: {e.name}",
            f"   :module: {e.module}",
            "",
            *(f"   {line}" for line in doc),
            "",
        ]


def register_aliases(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """Point each re-exported path at its home's entry, as a Python-domain alias."""
    domain: Any = env.get_domain("py")
    documented = list(domain.objects.items())
    for alias, (home, _) in env.reparam_aliases.items():  # type: ignore[attr-defined]
        # the object itself and, for a class, each of its documented members
        for name, target in documented:
            if name == home or name.startswith(home + "."):
                path = alias + name[len(home) :]
                if path not in domain.objects:
                    domain.objects[path] = ObjectEntry(
                        target.docname, target.node_id, target.objtype, aliased=True
                    )
    return []


def resolve_by_short_name(app: Sphinx, env: BuildEnvironment, node: Any, contnode: Any) -> Any:
    """Resolve a Python reference that names exactly one documented object by its last parts.

    A docstring refers to names of the module that defines it (``:data:`RUN_FILES```),
    but a re-exported object is rendered on its home page, in another module's
    context. Such a reference resolves when one documented object, and only one,
    ends with it; otherwise it stays unresolved and warns.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    domain: Any = env.get_domain("py")
    matches = {
        name: entry
        for name, entry in domain.objects.items()
        if name.endswith("." + target) and not entry.aliased
    }
    if len(matches) != 1:
        return None
    ((name, _),) = matches.items()
    found = domain.resolve_any_xref(env, node["refdoc"], app.builder, name, node, contnode)
    return found[0][1] if found else None


def init_env(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    if not hasattr(env, "reparam_aliases"):
        env.reparam_aliases = {}  # type: ignore[attr-defined]


def purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    aliases = getattr(env, "reparam_aliases", {})
    for alias in [a for a, (_, doc) in aliases.items() if doc == docname]:
        del aliases[alias]


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("env-before-read-docs", init_env)
    app.connect("env-purge-doc", purge)
    app.connect("env-updated", register_aliases)
    app.connect("missing-reference", resolve_by_short_name)
    app.add_directive("reparam-api", ReparamAPI)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
