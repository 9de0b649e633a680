"""A tiny data-parallel run in which one rank meets trouble at a given step.

``python -m tests.training.stop_worker OUT KIND RANK STEP`` under torchrun:
KIND ``nan`` makes rank RANK's loss nan at its STEP-th training step, KIND
``sigterm`` makes rank RANK send itself SIGTERM then. Every rank writes what it
saw to ``OUT.rank<r>.json``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from pathlib import Path

import torch
from torch import Tensor

from reparam.data.examples import ImageExamples
from reparam.models import GaussianVAE
from reparam.training import TrainConfig, TrainingDiverged, load_checkpoint
from reparam.training.distributed import join_world, leave_world, rank_noise_seed
from reparam.training.trainer import Trainer


class Troubled(GaussianVAE):
    def __init__(self, kind: str, step: int, **options: int) -> None:
        super().__init__(**options)
        self.kind, self.step, self.calls = kind, step, 0

    def loss(self, x: Tensor) -> Tensor:
        value = super().loss(x)
        if not self.training:
            return value
        self.calls += 1
        if self.calls == self.step and self.kind == "nan":
            return value * math.nan
        if self.calls == self.step and self.kind == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        return value


def main(out: str, kind: str, troubled_rank: int, step: int) -> None:
    torch.set_num_threads(1)
    world = join_world(torch.device("cpu"), "gloo")
    torch.manual_seed(0)
    options = {"input_dim": 49, "hidden": 16, "latent_dim": 2}
    model = (
        Troubled(kind, step, **options) if world.rank == troubled_rank else GaussianVAE(**options)
    )
    torch.manual_seed(rank_noise_seed(0, world.rank))
    images = torch.randint(0, 256, (200, 7, 7), generator=torch.Generator().manual_seed(1))
    folder = Path(f"{out}.run")
    if world.is_main:
        folder.mkdir()
    world.barrier()
    config = TrainConfig(epochs=3, batch_size=20, lr=1e-3, seed=0, target="binary")
    trainer = Trainer(
        model,
        ImageExamples(images.to(torch.uint8), config.target),
        torch.zeros(4, 49),
        config,
        Path(folder) / "checkpoint.pt",
        log=lambda _: None,
        world=world,
    )
    seen: dict[str, object] = {"rank": world.rank}
    try:
        trainer.fit()
        seen["outcome"] = "finished"
    except TrainingDiverged as error:
        seen["outcome"], seen["message"] = "diverged", str(error)
    except KeyboardInterrupt as stop:
        seen["outcome"], seen["signum"] = "stopped", getattr(stop, "signum", None)
    seen["progress"] = [trainer.progress.epoch, trainer.progress.step]
    world.barrier()
    if world.is_main and (folder / "checkpoint.pt").is_file():
        saved = load_checkpoint(folder / "checkpoint.pt")["progress"]
        seen["checkpoint"] = [saved["epoch"], saved["step"]]
    Path(f"{out}.rank{world.rank}.json").write_text(json.dumps(seen))
    del trainer  # DDP before the process group it uses
    leave_world(world)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
