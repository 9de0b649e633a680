"""TensorBoard event files of a run: its scalars as it trains, its test bounds and pictures.

Optional: needs the ``tensorboard`` package (``pip install 'reparam[tensorboard]'``).
:class:`TensorBoard` is a :class:`~reparam.training.Callback`; a run given
``Execution(tensorboard=DIR)`` (``--tensorboard DIR``) makes one and writes, under
``DIR``:

* ``train/running_loss`` at each host read of the loss (x: the optimizer step);
* ``train/loss`` and ``test/loss`` per epoch (x: the epoch), with
  ``gradients/<group>/snr`` where the gradient monitor measured;
* ``test/neg_elbo`` and ``test/neg_iw_bound`` after the evaluation (x: the last epoch);
* every picture of the run (``reconstructions``, ``samples``...) as an image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reparam.training import Callback
from reparam.training._checks import SettingsError

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Writes a run's metrics and pictures as TensorBoard events into ``log_dir``."""

    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise SettingsError(
                "{0} needs the tensorboard package, which is not installed: "
                "pip install 'reparam[tensorboard]'",
                "tensorboard",
            ) from None
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def on_step(self, metrics: Mapping[str, float]) -> None:
        self.writer.add_scalar("train/running_loss", metrics["train_loss"], int(metrics["step"]))

    def on_epoch(self, record: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> None:
        epoch = int(record["epoch"])
        self.writer.add_scalar("train/loss", record["train_loss"], epoch)
        self.writer.add_scalar("test/loss", record["test_loss"], epoch)
        for row in record.get("gradients", []):
            for group, figures in row.items():
                if isinstance(figures, Mapping) and figures.get("snr") is not None:
                    self.writer.add_scalar(f"gradients/{group}/snr", figures["snr"], row["step"])
        self.writer.flush()

    def on_finish(self, summary: Mapping[str, Any], pictures: Sequence[Path]) -> None:
        """The test bounds and the pictures, after the run's evaluation."""
        epoch = len(summary["epochs"])
        self.writer.add_scalar("test/neg_elbo", summary["test_neg_elbo"], epoch)
        if summary["test_neg_iw_bound"] is not None:
            self.writer.add_scalar("test/neg_iw_bound", summary["test_neg_iw_bound"], epoch)
        if pictures:
            from matplotlib.image import imread

            for path in pictures:
                image = imread(path)[..., :3]  # RGBA in [0, 1] -> RGB
                self.writer.add_image(Path(path).stem, image, epoch, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
