"""Pyro stays optional: ``import reparam`` does not import it, and works without it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
    )  # fmt: skip


def test_import_reparam_does_not_import_pyro() -> None:
    done = run("import sys, reparam; print('pyro' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_without_pyro_reparam_works_and_reparam_pyro_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['pyro'] = None\n"  # as if Pyro were not installed
        "import torch, reparam\n"
        "from torch.distributions import Normal\n"
        "scale = torch.tensor(1.0, requires_grad=True)\n"
        "reparam.expectation(lambda y: y**2, Normal(0.0, scale), num_samples=4).backward()\n"
        "with reparam.strict():\n"
        "    Normal(0.0, scale).rsample()\n"
        "try:\n"
        "    import reparam.pyro\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = run(code)
    assert done.returncode == 0, done.stderr
    assert 'pip install "reparam[pyro]"' in done.stdout
