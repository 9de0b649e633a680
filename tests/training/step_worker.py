"""One training step of a tiny VAE on a fixed global batch, saved for comparison.

Run under ``torchrun`` (any world size) or as a plain process; writes the
parameters and their gradients after one step to ``OUT.rank<r>.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from reparam.models import GaussianVAE
from reparam.runs import new_run_folder
from reparam.training import TrainConfig
from reparam.training.distributed import join_world, leave_world, rank_noise_seed
from tests.training.trainers import run_trainer

SEED, BATCH = 3, 24


def images() -> torch.Tensor:
    return torch.randint(0, 256, (BATCH, 7, 7), generator=torch.Generator().manual_seed(1)).to(
        torch.uint8
    )


def model() -> GaussianVAE:
    torch.manual_seed(SEED)
    return GaussianVAE(input_dim=49, hidden=16, latent_dim=3)


def main(out: str) -> None:
    torch.set_num_threads(1)
    world = join_world(torch.device("cpu"), "gloo")
    net = model()
    torch.manual_seed(rank_noise_seed(SEED, world.rank))
    run = new_run_folder(Path(f"{out}.run{world.rank}"))
    config = TrainConfig(epochs=1, batch_size=BATCH, lr=1e-3, seed=SEED, target="binary")
    trainer = run_trainer(run, net, config, images(), torch.zeros(2, 49), world=world)
    trainer.fit()
    state = {
        "params": {k: p.detach().clone() for k, p in net.named_parameters()},
        "grads": {k: p.grad.detach().clone() for k, p in net.named_parameters()},
        "world_size": world.size,
    }
    torch.save(state, f"{out}.rank{world.rank}.pt")
    del trainer  # DDP before the process group it uses
    leave_world(world)


if __name__ == "__main__":
    main(sys.argv[1])
