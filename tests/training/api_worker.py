"""The README's Python API, launched by torchrun: ``python -m tests.training.api_worker RUN``."""

from __future__ import annotations

import json
import os
import sys

from reparam.runs import DataSettings, Execution, RunSettings, train
from reparam.training import TrainConfig


def main(run_dir: str) -> None:
    settings = RunSettings(
        model="vae",
        options={"latent_dim": 2, "hidden": 16},
        train=TrainConfig(epochs=1, target="binary"),
        data=DataSettings(train_size=300, test_size=100),  # the folder: $REPARAM_DATA_DIR
    )
    summary = train(settings, run_dir, execution=Execution(eval_k=4, threads=1))
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1])
