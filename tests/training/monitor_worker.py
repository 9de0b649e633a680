"""Two short data-parallel trainings of a tiny IWAE model, with and without gradient monitoring.

Run under ``torchrun``; writes each rank's final parameters of both runs and the
monitor rows of its epoch records to ``OUT.rank<r>.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from reparam.data import present
from reparam.models import GaussianVAE
from reparam.runs import new_run_folder
from reparam.training import TrainConfig
from reparam.training.distributed import World, join_world, leave_world, rank_noise_seed
from reparam.training.monitor import GradientMonitor
from tests.training.trainers import run_trainer

SEED = 4


def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    return torch.randint(0, 256, (40, 7, 7), generator=g).to(torch.uint8)


def train(world: World, out: str, name: str, monitored: bool) -> dict[str, Any]:
    torch.manual_seed(SEED)
    net = GaussianVAE(input_dim=49, hidden=8, latent_dim=2, objective="iwae", iw_k=4)
    torch.manual_seed(rank_noise_seed(SEED, world.rank))
    batch = present(images()[:10], "binary", torch.Generator().manual_seed(0))
    monitor = GradientMonitor(batch, every=2, replicates=3, seed=SEED) if monitored else None
    run = new_run_folder(Path(f"{out}.{name}.run{world.rank}"))
    config = TrainConfig(epochs=2, batch_size=10, lr=1e-2, seed=SEED, target="binary")
    trainer = run_trainer(
        run,
        net,
        config,
        images(),
        torch.zeros(2, 49),
        progress_bar=False,
        world=world,
        monitor=monitor,
    )
    history = trainer.fit()
    result = {
        "params": {k: p.detach().clone() for k, p in net.named_parameters()},
        "rows": [row for record in history for row in record.get("gradients", [])],
    }
    return result


def main(out: str) -> None:
    torch.set_num_threads(1)
    world = join_world(torch.device("cpu"), "gloo")
    watched = train(world, out, "watched", monitored=True)
    plain = train(world, out, "plain", monitored=False)
    torch.save({"watched": watched, "plain": plain}, f"{out}.rank{world.rank}.pt")
    leave_world(world)


if __name__ == "__main__":
    main(sys.argv[1])
