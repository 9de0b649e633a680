"""``reparam.strict()`` inside Pyro: intended score-function draws pass, real cuts raise."""

from __future__ import annotations

from collections.abc import Callable

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO, TraceEnum_ELBO, TraceGraph_ELBO
from pyro.infer.elbo import ELBO

import reparam
from reparam.pyro import EstimatorELBO, ImportanceWeightedELBO

X = torch.tensor([1.0, 0.0, 1.0])


def model() -> None:
    with pyro.plate("d", 3):
        b = pyro.sample("b", dist.Bernoulli(0.5))
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(b + z, 1.0), obs=X)


def guide() -> None:
    logit = pyro.param("logit", torch.zeros(3))
    loc = pyro.param("loc", torch.zeros(3))
    with pyro.plate("d", 3):
        pyro.sample("b", dist.Bernoulli(logits=logit))
        pyro.sample("z", dist.Normal(loc, 1.0))


def step(model: Callable[[], None], guide: Callable[[], None], elbo: ELBO) -> None:
    pyro.clear_param_store()
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), loss=elbo)
    try:
        with reparam.strict():
            svi.step()
    finally:
        pyro.clear_param_store()


@pytest.mark.parametrize(
    "elbo",
    [
        Trace_ELBO(),
        TraceGraph_ELBO(),
        TraceEnum_ELBO(max_plate_nesting=1, strict_enumeration_warning=False),
        EstimatorELBO(),
    ],
    ids=["Trace_ELBO", "TraceGraph_ELBO", "TraceEnum_ELBO", "EstimatorELBO"],
)
def test_a_non_reparameterized_site_under_a_score_function_elbo_passes(elbo: ELBO) -> None:
    step(model, guide, elbo)


def test_a_reparameterized_guide_under_the_iwae_elbo_passes() -> None:
    def normal_model() -> None:
        with pyro.plate("d", 3):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=X)

    def normal_guide() -> None:
        loc = pyro.param("loc", torch.zeros(3))
        with pyro.plate("d", 3):
            pyro.sample("z", dist.Normal(loc, 1.0))

    step(normal_model, normal_guide, ImportanceWeightedELBO(4, "dreg"))


def test_a_draw_with_sample_behind_block_raises() -> None:
    def blocked_guide() -> None:
        logit = pyro.param("logit", torch.zeros(3))
        loc = pyro.param("loc", torch.zeros(3))
        with pyro.plate("d", 3):
            pyro.sample("b", dist.Bernoulli(logits=logit))
            with poutine.block():
                hidden = dist.Normal(loc, 1.0).sample()
            pyro.sample("z", dist.Delta(hidden))

    with pytest.raises(reparam.GradientCutError, match=r"Normal\.sample\(\) cuts .*'loc'"):
        step(model, blocked_guide, Trace_ELBO())


def test_a_score_function_site_hidden_by_block_raises() -> None:
    def blocked_guide() -> None:
        logit = pyro.param("logit", torch.zeros(3))
        loc = pyro.param("loc", torch.zeros(3))
        with pyro.plate("d", 3):
            with poutine.block():  # no trace sees it, so no ELBO adds its score term
                hidden = pyro.sample("b_hidden", dist.Bernoulli(logits=logit))
            pyro.sample("b", dist.Delta(hidden))
            pyro.sample("z", dist.Normal(loc, 1.0))

    with pytest.raises(reparam.GradientCutError, match=r"Bernoulli\.sample\(\) cuts"):
        step(model, blocked_guide, Trace_ELBO())


def test_a_model_detaching_a_latent_raises() -> None:
    def detaching_model() -> None:
        with pyro.plate("d", 3):
            b = pyro.sample("b", dist.Bernoulli(0.5))
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(b + z.detach(), 1.0), obs=X)

    with pytest.raises(reparam.GradientCutError, match=r"detach\(\) cuts .*'z'") as caught:
        step(detaching_model, guide, Trace_ELBO())
    # Pyro re-raised it as type(e)(message + shapes); the original, with its parts, is the cause
    original = caught.value.__cause__
    assert isinstance(original, reparam.GradientCutError) and original.parameter == "z"


def test_a_detach_meant_to_cut_passes_inside_deliberately_cut() -> None:
    def deliberate_model() -> None:
        with pyro.plate("d", 3):
            b = pyro.sample("b", dist.Bernoulli(0.5))
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            with reparam.safety.deliberately_cut():
                stopped = z.detach()
            pyro.sample("x", dist.Normal(b + stopped, 1.0), obs=X)

    step(deliberate_model, guide, Trace_ELBO())
