"""The project's test command: lint, type-check, build the docs, then the test suite.

Run it with the project's environment, e.g. ``.venv/bin/python scripts/check.py``.
Extra arguments go to pytest (``scripts/check.py -m "not slow"``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile


def main(pytest_args: list[str]) -> int:
    python = sys.executable
    workers = "2" if (os.cpu_count() or 1) >= 2 else "0"
    code_dirs = ["src", "tests", "benchmarks", "scripts", "examples", "docs"]
    with tempfile.TemporaryDirectory(prefix="reparam-docs-") as site:
        pytest = [python, "-m", "pytest", "-n", workers, "--doctest-modules", "src", "tests"]
        steps = [
            [python, "-m", "ruff", "check", *code_dirs],
            [python, "-m", "ruff", "format", "--check", *code_dirs],
            [python, "-m", "mypy"],
            # the documentation site, warnings as errors, and every public name in it
            [python, "scripts/docs.py", "--out", site],
            [*pytest, *pytest_args],
        ]
        for step in steps:
            print("$", " ".join(step[1:]), flush=True)
            code = subprocess.call(step)
            if code != 0:
                print(f"check failed: {' '.join(step[1:3])} exited {code}", file=sys.stderr)
                return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
