"""A small S-VAE in Pyro with reparam's vMF trains: the loss falls."""

from __future__ import annotations

import pyro
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.elbo import ELBO

from reparam.pyro import ImportanceWeightedELBO
from tests.pyro.svae import SVAE, binary_data


@pytest.mark.parametrize(
    "elbo", [Trace_ELBO(), ImportanceWeightedELBO(4, "dreg")], ids=["Trace_ELBO", "IWAE-DReG"]
)
def test_svae_trains(elbo: ELBO) -> None:
    pyro.clear_param_store()
    torch.manual_seed(0)
    x = binary_data(64, 12, seed=0)
    vae = SVAE(12)
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 0.02}), loss=elbo)
    losses = [svi.step(x) for _ in range(150)]
    first, last = sum(losses[:15]) / 15, sum(losses[-15:]) / 15
    assert last < 0.8 * first, (first, last)
    pyro.clear_param_store()
