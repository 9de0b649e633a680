"""``torchrun`` lines of the data-parallel guide, run on gloo over 127.0.0.1 with real MNIST.

Each launch is bounded by :data:`tests.training.launch.LIMIT` seconds.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from torch.distributed.run import get_args_parser

from reparam.cli import build_parser
from reparam.cli._training import describe
from reparam.training.checkpoint import load_checkpoint
from reparam.training.run import Execution, evaluate_run, resume
from tests.conftest import REPO
from tests.training import launch

SMALL = ["--epochs", "2", "--train-size", "300", "--test-size", "100", "--eval-k", "4"]
TINY_VAE = ["--hidden", "32", "--latent-dim", "2", "--threads", "1"]


def readme_torchrun_lines() -> list[list[str]]:
    text = (REPO / "docs" / "guide" / "distributed.md").read_text()
    return [shlex.split(line) for line in text.splitlines() if line.startswith("torchrun ")]


def readme_line(*words: str, without: str = "") -> list[str]:
    """The guide's torchrun line containing all ``words`` (and not ``without``)."""
    found = [
        line
        for line in readme_torchrun_lines()
        if all(_has(line, w) for w in words) and not (without and _has(line, without))
    ]
    assert len(found) == 1, (words, found)
    return found[0]


def _has(line: list[str], word: str) -> bool:
    return any(token == word or token.startswith(word + "=") for token in line)


def substitute(argv: list[str], **values: str) -> list[str]:
    out = []
    for word in argv:
        for key, value in values.items():
            word = word.replace(key, value)
        out.append(word)
    return out


def summary_of(result: subprocess.CompletedProcess[str]) -> dict:  # type: ignore[type-arg]
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_no_option_of_vae_or_dvae_is_taken_by_torchrun() -> None:
    theirs = [o for a in get_args_parser()._actions for o in a.option_strings]
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in ("vae", "dvae"):
        ours = [
            o
            for a in commands[name]._actions
            for o in a.option_strings
            if o.startswith("--") and o not in ("--run", "--help")  # --run: one process only
        ]
        taken = [(o, t) for o in ours for t in theirs if t.startswith(o)]
        assert not taken, f"{name}: torchrun would read {taken}"
    assert [t for t in theirs if t.startswith("--run")], "the check above can fail"


@pytest.mark.slow
@pytest.mark.mnist
def test_two_processes_train_and_match_a_one_process_evaluation(
    mnist_dir: Path, tmp_path: Path
) -> None:
    line = readme_line("vae", "--standalone", without="--max-restarts=3")
    argv = substitute(line, DIR=str(mnist_dir))
    summary = summary_of(launch.run([*argv, *SMALL, *TINY_VAE, "--json"], cwd=tmp_path))
    run = tmp_path / "runs" / "ddp"
    assert summary["world_size"] == 2 and summary["backend"] == "gloo"
    config = json.loads((run / "config.json").read_text())
    assert (config["world_size"], config["backend"], config["command"]) == (2, "gloo", "vae")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and {r["world_size"] for r in rows} == {2}
    assert set(rows[0]) == {"epoch", "train_loss", "test_loss", "seconds", "world_size", "backend"}
    names = sorted(p.name for p in run.iterdir())
    assert not [n for n in names if n.endswith(".tmp")], names
    assert len(load_checkpoint(run / "checkpoint.pt")["rng_by_rank"]) == 2
    again = evaluate_run(run, execution=Execution(eval_k=4, log=lambda _: None))
    assert again["world_size"] == 1
    assert again["test_neg_elbo"] == pytest.approx(summary["test_neg_elbo"], rel=1e-6)
    assert again["test_neg_iw_bound"] == pytest.approx(summary["test_neg_iw_bound"], rel=1e-6)
    assert "on 2 processes" in describe(summary)


@pytest.mark.slow
@pytest.mark.mnist
def test_the_python_api_trains_data_parallel_under_torchrun(
    mnist_dir: Path, tmp_path: Path
) -> None:
    argv = ["torchrun", "--standalone", "--nproc-per-node=2", "-m", "tests.training.api_worker"]
    env = {"REPARAM_DATA_DIR": str(mnist_dir), "PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
    summary = summary_of(launch.run([*argv, str(tmp_path / "api")], cwd=REPO, env=env))
    assert (summary["world_size"], summary["backend"]) == (2, "gloo")
    assert summary["settings"]["data"]["dir"] == str(mnist_dir.resolve())


@pytest.mark.slow
@pytest.mark.mnist
def test_dvae_line_trains_on_two_processes_and_resumes_on_one(
    mnist_dir: Path, tmp_path: Path
) -> None:
    argv = substitute(readme_line("dvae", "--standalone"), DIR=str(mnist_dir))
    small = ["--epochs", "1", "--train-size", "300", "--test-size", "100", "--eval-k", "0"]
    summary = summary_of(launch.run([*argv, *small, "--threads", "1", "--json"], cwd=tmp_path))
    assert summary["world_size"] == 2 and summary["settings"]["command"] == "dvae"
    lines: list[str] = []
    resumed = resume(
        tmp_path / "runs" / "ddp-dvae", epochs=2, execution=Execution(eval_k=0, log=lines.append)
    )
    assert [r["world_size"] for r in resumed["epochs"]] == [2, 1]
    assert any("starts anew" in line for line in lines)


@pytest.mark.slow
@pytest.mark.mnist
def test_a_one_process_run_resumes_on_two(mnist_dir: Path, tmp_path: Path) -> None:
    first = launch.run(
        [
            "python",
            "-m",
            "reparam",
            "vae",
            "--run-dir",
            "r",
            "--data-dir",
            str(mnist_dir),
            *SMALL,
            "--epochs",
            "1",
            *TINY_VAE,
            "--json",
        ],
        cwd=tmp_path,
    )
    assert summary_of(first)["world_size"] == 1
    argv = ["torchrun", "--standalone", "--nproc-per-node=2", "-m", "reparam", "vae"]
    second = launch.run([*argv, "--resume", "r", "--epochs", "2", "--json"], cwd=tmp_path)
    summary = summary_of(second)
    assert [r["world_size"] for r in summary["epochs"]] == [1, 2]
    assert "starts anew" in second.stderr


@pytest.mark.slow
@pytest.mark.mnist
def test_multi_node_line_with_two_agents_on_loopback(mnist_dir: Path, tmp_path: Path) -> None:
    port = str(launch.free_port())
    argv = substitute(
        readme_line("--rdzv-endpoint"),
        HOST="127.0.0.1",
        **{"29400": port, "/shared/runs/vae": str(tmp_path / "shared-run"), "DIR": str(mnist_dir)},
    )
    argv = [*argv, *SMALL, "--epochs", "1", *TINY_VAE, "--json"]
    command = [launch.TORCHRUN, *argv[1:]]
    agents = [
        launch.start([*command[:1], f"--node-rank={rank}", *command[1:]], tmp_path)
        for rank in range(2)
    ]
    try:
        outputs = [agent.communicate(timeout=launch.LIMIT) for agent in agents]
    finally:
        for agent in agents:
            launch.stop(agent)
    assert [agent.returncode for agent in agents] == [0, 0], outputs[0][1][-3000:]
    printed = [out for out, _ in outputs if out.strip()]
    assert len(printed) == 1  # only global rank 0 reports
    assert json.loads(printed[0].strip().splitlines()[-1])["world_size"] == 4


def worker_pids(parent: int) -> dict[int, int]:
    """RANK -> pid of the worker processes whose parent is ``parent``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid != parent:
            continue
        for item in environ:
            if item.startswith(b"RANK="):
                found[int(item[5:])] = int(entry.name)
    return found


@pytest.mark.slow
@pytest.mark.mnist
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_a_killed_worker_is_restarted_and_continues_from_the_checkpoint(
    mnist_dir: Path, tmp_path: Path
) -> None:
    argv = substitute(readme_line("--max-restarts=3"), DIR=str(mnist_dir), **{"200": "5"})
    options = ["--epochs", "4", "--train-size", "3000", "--test-size", "100", "--eval-k", "0"]
    command = [launch.TORCHRUN, *argv[1:], *options, *TINY_VAE, "--json"]
    log = (tmp_path / "stderr.txt").open("w")
    agent = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=launch.loopback_env(),
        stdout=subprocess.PIPE,
        stderr=log,  # read at the end: a full pipe would block the workers
        text=True,
        start_new_session=True,
    )
    metrics = tmp_path / "runs" / "ddp" / "metrics.jsonl"
    try:
        deadline = time.monotonic() + launch.LIMIT
        while not (metrics.is_file() and metrics.read_text().strip()):
            assert agent.poll() is None and time.monotonic() < deadline, "no epoch finished"
            time.sleep(0.02)
        time.sleep(0.1)  # into the second epoch
        os.kill(worker_pids(agent.pid)[1], signal.SIGKILL)
        out, _ = agent.communicate(timeout=launch.LIMIT)
    finally:
        launch.stop(agent)
        log.close()
    err = (tmp_path / "stderr.txt").read_text()
    assert agent.returncode == 0, err[-4000:]
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]
    assert [row["epoch"] for row in json.loads(out.strip().splitlines()[-1])["epochs"]] == epochs
    assert "resuming" in out + err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--batch-size", "1"], "--batch-size 1 is the global batch"),
        (["--backend", "nccl", "--device", "cpu"], "--backend nccl needs CUDA"),
        (["--device", "cuda"], "CUDA device"),
    ],
)
@pytest.mark.slow
def test_bad_world_settings_fail_fast_on_every_rank(
    options: list[str], message: str, tmp_path: Path
) -> None:
    if "cuda" in options and __import__("torch").cuda.device_count() >= 2:
        pytest.skip("this machine has enough CUDA devices")
    argv = ["torchrun", "--standalone", "--nproc-per-node=2", "-m", "reparam", "vae"]
    result = launch.run([*argv, "--run-dir", "r", "--data-dir", "missing", *options], tmp_path)
    assert result.returncode != 0
    assert result.stderr.count(message) == 1, result.stderr[-3000:]
    assert not (tmp_path / "r").exists()
