"""Data-parallel training on gloo (127.0.0.1): one step equals one process's step."""

from __future__ import annotations

import gc
import itertools
import json
import signal
import weakref
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from reparam.data.batches import epoch_order, present
from reparam.training.distributed import (
    World,
    WorldError,
    check_backend,
    check_global_batch,
    choose_device,
    leave_world,
    noise_seed,
    rank_noise_seed,
    share_bounds,
)
from reparam.training.trainer import adam
from tests.conftest import REPO
from tests.training import launch, step_worker


def reference_step(
    world_size: int, scale_by_world: bool = True
) -> dict[str, dict[str, torch.Tensor]]:
    """One process doing what ``world_size`` ranks do, with each rank's noise stream."""
    net = step_worker.model()
    g = torch.Generator().manual_seed(step_worker.SEED)
    order = epoch_order(step_worker.BATCH, g)
    x = present(step_worker.images().index_select(0, order), "binary", g)
    total = torch.zeros(())
    for rank in range(world_size):
        torch.manual_seed(rank_noise_seed(step_worker.SEED, rank))
        begin, end = share_bounds(x.shape[0], World(rank=rank, size=world_size))
        total = total + net.loss(x[begin:end]).sum()
    if not scale_by_world:  # what plain DDP averaging would give without the factor W
        total = total / world_size
    optimizer = adam(net, 1e-3)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    return {
        "params": {k: p.detach().clone() for k, p in net.named_parameters()},
        "grads": {k: p.grad.detach().clone() for k, p in net.named_parameters()},
    }


def close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    # float32 rounding: the ranks' sums are added in another order than in one process
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6) for k in a)


@pytest.mark.slow
def test_one_step_on_two_ranks_equals_one_process_on_the_global_batch(tmp_path: Path) -> None:
    out = tmp_path / "step"
    argv = ["torchrun", "--standalone", "--nproc-per-node=2", "-m", "tests.training.step_worker"]
    result = launch.run([*argv, str(out)], cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(f"{out}.rank{r}.pt") for r in range(2)]
    assert all(state["world_size"] == 2 for state in ranks)
    expected = reference_step(2)
    for state in ranks:
        assert close(state["grads"], expected["grads"])
        assert close(state["params"], expected["params"])
    # the comparison can fail: without the factor W the gradient is half the global one
    assert not close(ranks[0]["grads"], reference_step(2, scale_by_world=False)["grads"])
    # and the other rank's noise matters: one process's own stream gives another gradient
    assert not close(ranks[0]["grads"], reference_step(1)["grads"])


def test_shares_cover_the_batch_once_and_differ_by_at_most_one() -> None:
    for batch in range(1, 40):
        for size in range(1, 6):
            bounds = [share_bounds(batch, World(rank=r, size=size)) for r in range(size)]
            assert bounds[0][0] == 0 and bounds[-1][1] == batch
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
            lengths = [end - begin for begin, end in bounds]
            assert max(lengths) - min(lengths) <= 1


def test_noise_seeds_are_distinct_across_ranks_and_keep_rank_zero() -> None:
    assert rank_noise_seed(5, 0) == 5
    seeds = {rank_noise_seed(seed, rank) for seed in range(20) for rank in range(8)}
    assert len(seeds) == 20 * 8
    assert noise_seed(1, 0) != noise_seed(0, 1)
    assert all(0 <= s < 2**63 for s in seeds)


def test_bad_world_settings_are_refused_before_training() -> None:
    with pytest.raises(WorldError, match="batch_size=1 is the global batch"):
        check_global_batch(1, 2)
    with pytest.raises(WorldError, match="backend='nccl' needs CUDA"):
        check_backend("nccl", torch.device("cpu"))
    assert check_backend("auto", torch.device("cpu")) == "gloo"
    env = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2"}
    if torch.cuda.device_count() < 2:
        with pytest.raises(WorldError, match="2 ranks on this node but"):
            choose_device("cuda", env)
    with pytest.raises(WorldError, match="each rank takes cuda:LOCAL_RANK"):
        choose_device("cuda:1", env)
    assert choose_device("cpu", env) == (torch.device("cpu"), "gloo")
    assert choose_device("cpu", {}) == (torch.device("cpu"), None)


def run_stop_worker(tmp_path: Path, kind: str, rank: int, step: int) -> list[dict]:  # type: ignore[type-arg]
    out = tmp_path / kind
    argv = ["torchrun", "--standalone", "--nproc-per-node=2", "-m", "tests.training.stop_worker"]
    result = launch.run([*argv, str(out), kind, str(rank), str(step)], cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(Path(f"{out}.rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.slow
def test_a_nan_on_one_rank_stops_every_rank_before_the_bad_step(tmp_path: Path) -> None:
    # 10 steps per epoch; rank 1's 14th training loss is nan: epoch 2, batch 4
    seen = run_stop_worker(tmp_path, "nan", rank=1, step=14)
    assert [s["outcome"] for s in seen] == ["diverged", "diverged"]
    assert all("epoch 2, batch 4" in s["message"] for s in seen)
    assert seen[0]["checkpoint"] == [1, 0]  # the last good one, after epoch 1
    assert [s["progress"] for s in seen] == [[1, 3], [1, 3]]


@pytest.mark.slow
def test_sigterm_on_one_rank_stops_every_rank_at_the_same_batch(tmp_path: Path) -> None:
    seen = run_stop_worker(tmp_path, "sigterm", rank=1, step=14)
    assert [s["outcome"] for s in seen] == ["stopped", "stopped"]
    assert [s["signum"] for s in seen] == [signal.SIGTERM, signal.SIGTERM]
    assert seen[0]["progress"] == seen[1]["progress"] == [1, 4]
    assert seen[0]["checkpoint"] == [1, 4]  # rank 0 saved where both stopped


def test_leaving_frees_a_wrapper_held_by_a_cycle_while_its_group_is_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A DDP wrapper that only a reference cycle keeps must not outlive its process
    group (freed at interpreter shutdown, gloo aborts a run that succeeded)."""
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    alive_at_teardown = []
    destroy = dist.destroy_process_group

    def watched_destroy() -> None:
        alive_at_teardown.append(wrapper() is not None)
        destroy()

    monkeypatch.setattr(dist, "destroy_process_group", watched_destroy)
    collecting = gc.isenabled()
    gc.disable()  # no collection by chance: only leave_world may free the cycle
    try:
        cycle: dict[str, object] = {"wrapper": DistributedDataParallel(torch.nn.Linear(2, 1))}
        cycle["self"] = cycle
        wrapper = weakref.ref(cycle["wrapper"])
        del cycle
        assert wrapper() is not None
        leave_world(World(backend="gloo"))
        assert alive_at_teardown == [False]
        assert not dist.is_initialized()
    finally:
        if collecting:
            gc.enable()
        if dist.is_initialized():
            destroy()
