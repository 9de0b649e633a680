"""The import structure: each layer imports only the layers below it.

data < training < models < runs < cli (the lab and experiments sit beside runs).
A lower layer importing a higher one fails here, naming the file and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "reparam"
ABOVE = {
    "data": ("training", "models", "runs", "cli", "lab", "experiments"),
    "training": ("models", "runs", "cli", "lab", "experiments"),
    "models": ("runs", "cli", "lab", "experiments"),
    "runs": ("cli", "lab", "experiments"),
}


def imported(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth of its code."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return modules


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("layer", sorted(ABOVE))
def test_no_import_runs_upward(layer: str) -> None:
    upward = [
        f"{path.relative_to(SRC)} imports {module}"
        for path in sorted((SRC / layer).rglob("*.py"))
        for module in imported(path)
        if any(
            module == f"reparam.{up}" or module.startswith(f"reparam.{up}.") for up in ABOVE[layer]
        )
    ]
    assert not upward, upward


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.py"
    wrong.write_text("def f():\n    from reparam.runs import train\n")
    assert imported(wrong) == ["reparam.runs"]
