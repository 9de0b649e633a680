"""Launching ``torchrun`` from a test: loopback only, bounded by a timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.conftest import REPO

TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
LIMIT = 180
"""Seconds a launch may take before the test fails (a hang must not stall the suite)."""


def loopback_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment, with gloo on the loopback interface and one thread per rank."""
    env = dict(os.environ)
    env.update(
        {
            "GLOO_SOCKET_IFNAME": "lo",
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        }
    )
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = LIMIT,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and wait, bounded; ``torchrun`` and ``python`` are this environment's."""
    programs = {"torchrun": TORCHRUN, "python": sys.executable}
    process = start([programs.get(argv[0], argv[0]), *argv[1:]], cwd, env)
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        stop(process)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def start(
    command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``command`` in a session of its own, so that :func:`stop` reaches its workers."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=loopback_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[str]) -> None:
    """Kill whatever is left of ``process`` and its children; close its pipes."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
