"""The Python code shown in the guides and the README runs as shown.

Each page's ```python blocks run in order in one namespace, as a reader would
paste them. Pages whose blocks cannot run here say why in ``NOT_RUN``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GUIDES = [*ROOT.joinpath("docs").glob("*.md"), *ROOT.joinpath("docs", "guide").glob("*.md")]
PAGES = sorted([*GUIDES, README])
NOT_RUN = {
    "training.md": "needs the MNIST files and a trained run folder",
    "adding-an-estimator.md": "excerpts of files to write, not a program",
}
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_pages_are_found() -> None:
    names = {p.name for p in PAGES}
    assert {"concepts.md", "estimators.md", "index.md", README.name} <= names
    assert set(NOT_RUN) <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_run(page: Path) -> None:
    if page.name in NOT_RUN:
        pytest.skip(NOT_RUN[page.name])
    blocks = BLOCK.findall(page.read_text())
    namespace: dict[str, object] = {"__name__": "__docs__"}
    torch.manual_seed(0)
    for number, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"{page.name}, python block {number}", "exec"), namespace)
        except Exception as error:  # pragma: no cover - the failure message is the point
            raise AssertionError(f"{page.name}, python block {number}:\n{code}") from error
