"""Non-finite losses caught on the device, read on the host only now and then.

Reading a loss on the host (``loss.item()``) makes the host wait for every
kernel queued on a GPU, once per step. :class:`LossWatch` keeps, on the loss's
device, what the trainer needs between two reads: the running sum of the
losses, the batch of the first non-finite loss and its value, and ``skip``, a
float flag that is 1 from that batch on. Handed to fused Adam as its
``found_inf`` input (what ``torch.amp.GradScaler`` hands it), the flag makes the
optimizer skip its update on the device, parameters, moments and step count
alike. So the first bad step and every step after it are never applied, and
when the host reads the watch it knows the exact batch where the run went bad,
with the model as it was just before that batch.

>>> import math, torch
>>> watch = LossWatch(0.0, torch.device("cpu"))
>>> for batch, loss in enumerate([1.0, 2.0, math.nan, 3.0], start=1):
...     watch.record(torch.tensor(loss), batch)
>>> reading = watch.read()
>>> reading.first_bad_batch, math.isnan(reading.first_bad_value), watch.skip.item()
(3, True, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Reading:
    """What one host read of a :class:`LossWatch` gives.

    ``first_bad_batch`` is 0 while every loss was finite.
    """

    loss_sum: float
    first_bad_batch: int
    first_bad_value: float


class LossWatch:
    """The running loss sum and the first non-finite loss, kept on ``device``.

    Args:
        loss_sum: the sum so far (a resumed epoch's); losses are added in
            float64, in order, so the sum equals the one added up on the host.
        device: where the losses are.
    """

    def __init__(self, loss_sum: float, device: torch.device) -> None:
        self.total = torch.tensor(loss_sum, dtype=torch.float64, device=device)
        self.first_bad_batch = torch.zeros((), dtype=torch.long, device=device)
        self.first_bad_value = torch.zeros((), dtype=torch.float64, device=device)
        self.skip = torch.zeros((), dtype=torch.float32, device=device)

    def record(self, loss: Tensor, batch: int) -> None:
        """Add the summed ``loss`` of ``batch`` (1-based); no host read."""
        value = loss.detach().to(torch.float64)
        first = (self.first_bad_batch == 0) & ~torch.isfinite(value)
        self.first_bad_batch.masked_fill_(first, batch)
        self.first_bad_value = torch.where(first, value, self.first_bad_value)
        self.skip = (self.first_bad_batch != 0).to(torch.float32)
        self.total += value

    def read(self) -> Reading:
        """The watch on the host: one device-to-host copy."""
        packed = torch.stack([self.total, self.first_bad_batch.double(), self.first_bad_value])
        total, batch, value = packed.tolist()
        return Reading(total, int(batch), value)
