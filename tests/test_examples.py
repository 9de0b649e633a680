"""Every script in examples/ runs, at its small size, and is shown in the docs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Each example with the arguments that make it run in seconds, and a line its output must hold.
RUNS: dict[str, tuple[list[str], str]] = {
    "vae.py": (["--steps", "8"], "iwae: test ELBO"),
    "discrete_vae.py": (["--steps", "4"], "relax: test ELBO"),
    "svae.py": (["--steps", "5"], "codes on the sphere: norms 1.000000"),
    "noisy_channel.py": (["--steps", "5"], "GradientCutError: Normal.sample() cuts the gradient"),
    "gradient_cut.py": ([], "score-loo instead"),
    "choose_estimator.py": (["--trials", "100"], "-> for this problem:"),
    "pyro_svae.py": (["--steps", "10"], "codes on the sphere: norms 1.000000"),
    "training_run.py": (["--epochs", "1"], 'changes: {"at": "after epoch 1"'),
}


def test_every_example_is_run_here_and_shown_in_the_docs() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == sorted(RUNS), "add the example to RUNS with its small-size arguments"
    shown = "\n".join(p.read_text() for p in (ROOT / "docs" / "examples").glob("*.md"))
    for name in scripts:
        assert f"examples/{name}" in shown, f"docs/examples/ does not include {name}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_example_runs(name: str) -> None:
    args, expected = RUNS[name]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert expected in done.stdout, done.stdout[-3000:]
