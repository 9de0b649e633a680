"""The host-read recorder sees each kind of read it claims to see, and nothing else."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from tests.host_reads import HostReads

READS: dict[str, Callable[[torch.Tensor], object]] = {
    "item": lambda x: x.sum().item(),
    "bool": lambda x: bool(x.sum() > 0),
    "nonzero": lambda x: x.nonzero(),
    "mask index": lambda x: x[x > 0],
    "mask assignment": lambda x: x.clone().__setitem__(x > 0, 0.0),
    "masked_select": lambda x: x.masked_select(x > 0),
    "unique": lambda x: x.unique(),
    "normal with tensor std": lambda x: torch.normal(x, x.exp()),
    "Normal.sample": lambda x: torch.distributions.Normal(x, x.exp()).sample(),
}


@pytest.mark.parametrize("read", list(READS))
def test_each_host_read_is_recorded(read: str) -> None:
    with HostReads() as reads:
        READS[read](torch.randn(5))
    assert reads.ops, f"{read} was not recorded"


def test_device_side_work_is_not_recorded() -> None:
    with HostReads() as reads:
        x = torch.randn(5)
        loc = x.clone().requires_grad_()
        y = torch.where(loc > 0, loc, -loc).exp() + torch.normal(x, 1.0)
        z = torch.distributions.Normal(loc, loc.exp(), validate_args=False).rsample()
        (y + z).sum().backward()
    assert reads.ops == []
