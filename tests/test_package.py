"""The package as users import it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

SUBPACKAGES = (
    "bounds",
    "data",
    "distributions",
    "estimators",
    "lab",
    "models",
    "safety",
    "training",
)


@pytest.mark.slow
def test_subpackages_are_attributes_of_the_package_after_one_import() -> None:
    # a fresh interpreter: nothing imported the subpackages before
    code = f"import reparam; print([type(getattr(reparam, n)).__name__ for n in {SUBPACKAGES!r}])"
    code += "; reparam.distributions.VonMises; reparam.bounds.iwae_bound"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(["module"] * len(SUBPACKAGES))
