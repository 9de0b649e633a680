"""Data-parallel training on ``torch.distributed``: who this process is, and its share.

A run started by ``torchrun`` finds ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``
in its environment; :func:`join_world` then sets up the process group (gloo
on the CPU, NCCL on CUDA with one device per local rank) and returns a
:class:`World`. Without them the run is a single process, ``World()``, and
every collective below is the identity, so one code path serves both.

How a global batch of ``B`` examples is shared (:func:`share_bounds`): rank
``r`` takes a contiguous slice, the first ``B mod W`` ranks one example more
than the others. Every rank draws the same epoch order from the same seeded
generator, so no index list is ever sent. The loss is a sum over examples and
DDP averages gradients over ranks, so each rank multiplies its share's sum by
``W``: the averaged gradient is then the gradient of the global batch's sum,
exactly as in one process.

Each rank's Monte Carlo noise comes from its own seed, :func:`noise_seed`:
rank 0 keeps the run's seed (a one-process run is unchanged), the others get
seeds hashed from ``(seed, rank)``, so no two ranks repeat each other's draws.
"""

from __future__ import annotations

import datetime
import gc
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.distributed as dist

from reparam.training._devices import DEVICE_NAME as DEVICE_NAME
from reparam.training._devices import WorldError as WorldError
from reparam.training._devices import check_device as check_device
from reparam.training._devices import check_device_name as check_device_name
from reparam.training._devices import choose_device as choose_device
from reparam.training._devices import launched_by_torchrun as launched_by_torchrun

__all__ = [
    "BACKENDS",
    "COLLECTIVE_TIMEOUT",
    "DEVICE_NAME",
    "Pending",
    "World",
    "WorldError",
    "check_backend",
    "check_device",
    "check_device_name",
    "check_global_batch",
    "choose_device",
    "join_world",
    "launched_by_torchrun",
    "leave_world",
    "noise_seed",
    "rank_noise_seed",
    "share_bounds",
]

BACKENDS = ("auto", "gloo", "nccl")
"""``auto``: NCCL for CUDA devices, gloo for the CPU."""

COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=10)
"""How long a rank waits for the others at a collective before it gives up."""


class Pending(Protocol):
    """A collective under way."""

    def wait(self) -> Any: ...


class _Done:
    def wait(self) -> bool:
        return True


_DONE = _Done()


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a run; ``World()`` is a single process."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None
    restart_count: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the one process that writes the run folder."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.backend is not None

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks, in place; returns it."""
        if self.is_distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def all_reduce_sum_async(self, tensor: torch.Tensor) -> Pending:
        """Start summing ``tensor`` over ranks in place; ``.wait()`` on the result."""
        if not self.is_distributed:
            return _DONE
        work = dist.all_reduce(tensor, op=dist.ReduceOp.SUM, async_op=True)
        assert work is not None
        return work

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.is_distributed:
            return [obj]
        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, obj)
        return gathered

    def barrier(self) -> None:
        if self.is_distributed:
            dist.barrier()


def check_backend(backend: str, device: torch.device) -> str:
    """Resolve ``auto`` and refuse pairs that cannot work (NCCL needs CUDA tensors)."""
    if backend not in BACKENDS:
        raise WorldError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise WorldError(
            "backend='nccl' needs CUDA devices, and this run uses the CPU; "
            "use backend='gloo' (or 'auto')"
        )
    if backend == "nccl" and not dist.is_nccl_available():
        raise WorldError("backend='nccl': this PyTorch has no NCCL; use backend='gloo'")
    return backend


def check_global_batch(batch_size: int, world_size: int) -> None:
    """A global batch must give every rank at least one example."""
    if batch_size < world_size:
        raise WorldError(
            f"batch_size={batch_size} is the global batch and is smaller than the "
            f"{world_size} processes; use batch_size={world_size} or more"
        )


def join_world(
    device: torch.device, backend: str = "auto", environ: Mapping[str, str] = os.environ
) -> World:
    """Set up the process group when launched by torchrun; else the single-process world."""
    if not launched_by_torchrun(environ):
        return World()
    chosen = check_backend(backend, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    restarts = int(environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if not dist.is_initialized():
        dist.init_process_group(
            chosen,
            timeout=COLLECTIVE_TIMEOUT,
            device_id=device if chosen == "nccl" else None,
            **_store_of_this_attempt(environ, restarts),
        )
    return World(
        rank=dist.get_rank(),
        size=dist.get_world_size(),
        local_rank=int(environ["LOCAL_RANK"]),
        backend=chosen,
        restart_count=restarts,
    )


def _store_of_this_attempt(environ: Mapping[str, str], restarts: int) -> dict[str, Any]:
    """The agent's key-value store, with keys prefixed by the restart count.

    torchrun's agent keeps one store across restarts of the worker group, so
    without a prefix a restarted rank can read the address its peer published
    in the previous attempt and fail to connect ("Connection refused"). The
    first attempt, and a run outside torchrun's agent store, use ``env://`` as
    usual.
    """
    if restarts == 0 or environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return {}
    size = int(environ["WORLD_SIZE"])
    store = dist.TCPStore(
        environ["MASTER_ADDR"],
        int(environ["MASTER_PORT"]),
        size,
        is_master=False,
        timeout=COLLECTIVE_TIMEOUT,
    )
    return {
        "store": dist.PrefixStore(f"reparam/attempt-{restarts}", store),
        "rank": int(environ["RANK"]),
        "world_size": size,
    }


def leave_world(world: World) -> None:
    """Tear the process group down (a no-op for one process).

    Objects kept alive only by reference cycles are collected first: a
    ``DistributedDataParallel`` wrapper in such a cycle (a trainer caught in the
    traceback of an exception handled during its construction, for instance)
    would otherwise outlive the process group and be freed during interpreter
    shutdown, which gloo can answer with ``terminate called without an active
    exception`` (SIGABRT) after a run that succeeded.
    """
    if world.is_distributed and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def share_bounds(batch: int, world: World) -> tuple[int, int]:
    """``[begin, end)`` of this rank's slice of a global batch of ``batch`` examples.

    >>> [share_bounds(10, World(rank=r, size=3)) for r in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    """
    base, extra = divmod(batch, world.size)
    begin = world.rank * base + min(world.rank, extra)
    return begin, begin + base + (1 if world.rank < extra else 0)


def noise_seed(seed: int, *stream: int | str) -> int:
    """A seed for the random stream named by ``(seed, *stream)``; ``noise_seed(s) == s``.

    Streams are hashed (SHA-256), so ``(1, 0)`` and ``(0, 1)`` are unrelated.

    >>> noise_seed(7), noise_seed(7, 0) == noise_seed(7, 1)
    (7, False)
    """
    if not stream:
        return seed
    text = ":".join(str(part) for part in (seed, *stream))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def rank_noise_seed(seed: int, rank: int) -> int:
    """Rank 0 keeps ``seed``; rank ``r > 0`` draws from ``noise_seed(seed, "rank", r)``."""
    return seed if rank == 0 else noise_seed(seed, "rank", rank)
