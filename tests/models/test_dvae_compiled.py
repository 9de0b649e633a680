"""The annealed temperature as a tensor: one compiled graph for every step, eager values kept.

An annealed temperature used to be a Python float, a constant that
``torch.compile`` specialises a graph on, so a compiled step with annealing
recompiled at every step. It is now ``schedule.at(steps)``, a 0-dim tensor
computed from the model's step counter on its device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch._dynamo
import torch._inductor.config
from torch import Tensor

from reparam.data import present
from reparam.estimators import ExponentialAnnealing, GumbelSoftmax
from reparam.estimators._discrete import discrete_view
from reparam.estimators._gumbel_softmax import perturbed_logits, relax
from reparam.estimators._relax import ConcreteControlVariate
from reparam.models.dvae import DiscreteVAE, posterior
from reparam.training import TrainConfig, Trainer
from tests.compiled import unvalidated
from tests.mnist_files import synthetic_arrays
from tests.training.folders import trainer_folder
from tests.training.trainers import run_trainer

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method`:DeprecationWarning")

DTYPE = torch.float64
ARRAYS = synthetic_arrays()
TRAIN = ARRAYS["train-images-idx3-ubyte"]
TEST = present(ARRAYS["t10k-images-idx3-ubyte"], "binary", torch.Generator().manual_seed(0))


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    """Each test compiles from scratch, with distribution validation as it was."""
    torch._dynamo.reset()
    with unvalidated():
        yield
    torch._dynamo.reset()


@pytest.mark.parametrize("rate", [1e-4, 3e-3, 0.1, 0.7])
def test_the_tensor_schedule_is_the_float_one_within_one_ulp_of_exp(rate: float) -> None:
    """Same operations in the same order; only ``exp`` differs (torch's against the C
    library's, by at most one unit in the last place of a float64), which rounding to
    float32 removes."""
    schedule = ExponentialAnnealing(initial=2.0, rate=rate, minimum=0.01)
    steps = range(0, 80_000, 29)  # the floor is reached at every rate
    floats = []
    for step in steps:
        schedule.step = step
        value = schedule()
        assert isinstance(value, float)
        floats.append(value)
    tensors = [schedule.at(torch.tensor(step)) for step in steps]
    assert all(t.dtype == DTYPE and t.shape == () for t in tensors)
    expected, got = np.array(floats), torch.stack(tensors).numpy()
    assert np.all(np.abs(got - expected) <= np.spacing(expected))
    # a float32 model divides by the temperature rounded to float32: there they agree
    assert np.array_equal(got.astype(np.float32), expected.astype(np.float32))
    assert np.any(got == expected) and got.min() == 0.01 == expected.min()


@pytest.mark.parametrize("latent", ["bernoulli", "categorical"])
def test_a_tensor_temperature_relaxes_as_the_same_number_does(latent: str) -> None:
    """Bit for bit, in float64 and in float32 (the float64 tensor is rounded as the
    Python number is)."""
    for dtype in (DTYPE, torch.float32):
        logits = torch.randn(6, 200, generator=torch.Generator().manual_seed(0), dtype=dtype)
        view = discrete_view(posterior(latent, logits), "gumbel-softmax")
        perturbed = perturbed_logits(view, 3)
        for tau in (math.exp(-0.3), 0.731, 1 / 3, 2.0):
            as_tensor = torch.tensor(tau, dtype=DTYPE)
            assert torch.equal(relax(view, perturbed, as_tensor), relax(view, perturbed, tau))


def test_the_relaxed_estimators_take_a_tensor_temperature_and_check_it() -> None:
    estimator = GumbelSoftmax(torch.tensor(0.5))
    q = posterior("bernoulli", torch.zeros(2, 200))
    torch.manual_seed(0)
    with_tensor = estimator.relaxed_surrogate(lambda y: y.sum(-1), q, 2)
    torch.manual_seed(0)
    with_number = GumbelSoftmax(0.5).relaxed_surrogate(lambda y: y.sum(-1), q, 2)
    assert torch.equal(with_tensor, with_number)
    with pytest.raises(ValueError, match=r"finite number > 0, got 0\.0"):
        GumbelSoftmax(torch.tensor(0.0))
    control_variate = ConcreteControlVariate(torch.tensor(0.3))
    assert torch.equal(control_variate.log_temperature, ConcreteControlVariate(0.3).log_temperature)
    with pytest.raises(ValueError, match="temperature must be a finite number"):
        ConcreteControlVariate(torch.tensor(math.inf))


def counting(compiles: list[int]) -> Callable[..., Any]:
    """A backend that counts the graphs Dynamo hands it and runs them as traced."""

    def backend(gm: torch.fx.GraphModule, example_inputs: list[Tensor]) -> Callable[..., Any]:
        compiles.append(1)
        return gm.forward

    return backend


def annealed_model() -> DiscreteVAE:
    torch.manual_seed(0)
    model = DiscreteVAE("categorical", "gumbel-softmax", anneal_rate=0.3, input_dim=49)
    return model.to(DTYPE)


def images(seed: int) -> Tensor:
    return (torch.rand(8, 49, generator=torch.Generator().manual_seed(seed)) < 0.3).to(DTYPE)


def test_an_annealed_step_compiles_one_graph_for_all_steps(fresh_dynamo: None) -> None:
    model, compiles = annealed_model(), []
    step = torch.compile(lambda x: model.loss(x).sum(), backend=counting(compiles), dynamic=False)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for seed in range(6):
            step(images(seed)).backward()
    assert compiles == [1]
    assert model.schedule is not None and isinstance(model.schedule.step, Tensor)
    assert int(model.schedule.step) == 5  # the last step's count
    assert int(model.steps) == 6


def test_a_float_temperature_would_recompile(fresh_dynamo: None) -> None:
    """The test above can fail: a schedule the caller steps on the host gives the
    estimator a new number each step, and the graph is specialised on it."""
    schedule = ExponentialAnnealing(initial=1.0, rate=0.3, minimum=0.1)
    torch.manual_seed(0)
    model = DiscreteVAE("categorical", GumbelSoftmax(schedule), input_dim=49).to(DTYPE)
    compiles: list[int] = []
    step = torch.compile(lambda x: model.loss(x).sum(), backend=counting(compiles), dynamic=False)
    with torch._dynamo.config.patch(error_on_recompile=True):
        step(images(0)).backward()
        schedule.advance()
        with pytest.raises(torch._dynamo.exc.RecompileError):
            step(images(1)).backward()
    assert compiles == [1]


def losses_and_gradients(compiled: bool) -> list[Tensor]:
    """Four annealed steps from one seed: each loss, then the summed gradients."""
    model = annealed_model()
    loss = lambda x: model.loss(x).sum()  # noqa: E731
    if compiled:
        loss = torch.compile(loss, dynamic=False)
    torch.manual_seed(1)
    values = []
    for seed in range(4):
        value = loss(images(seed))
        value.backward()
        values.append(value.detach())
    return values + [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.slow
def test_compiled_annealed_steps_equal_eager_ones_in_float64(fresh_dynamo: None) -> None:
    """Inductor's C++ code against eager, four steps at four temperatures; with
    ``fallback_random`` the compiled steps draw the eager noise."""
    eager = losses_and_gradients(compiled=False)
    with (
        torch._inductor.config.patch(fallback_random=True),
        torch._dynamo.config.patch(error_on_recompile=True),
    ):
        compiled = losses_and_gradients(compiled=True)
    assert len(compiled) == len(eager) > 4
    for a, b in zip(compiled, eager, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def annealed_trainer(path: Path, epochs: int, new: bool = True) -> Trainer:
    run = trainer_folder(path, new)
    torch.manual_seed(0)
    model = DiscreteVAE("bernoulli", "gumbel-softmax", anneal_rate=0.05, input_dim=49)
    config = TrainConfig(epochs=epochs, batch_size=48, lr=1e-2, seed=5, target="binary")
    return run_trainer(
        run, model, config, TRAIN, TEST, progress_bar=False, compile_backend="aot_eager"
    )


def test_a_compiled_annealed_run_resumes_exactly(fresh_dynamo: None, tmp_path: Path) -> None:
    """Two epochs straight equal one and a resumed one, with one graph per batch shape
    (96 images in batches of 48: one shape) and no recompilation."""
    with torch._dynamo.config.patch(error_on_recompile=True):
        straight = annealed_trainer(tmp_path / "straight", 2)
        history = straight.fit()
        annealed_trainer(tmp_path / "split", 1).fit()
        torch._dynamo.reset()
        torch.manual_seed(12345)
        second = annealed_trainer(tmp_path / "split", 2, new=False)
        second.resume()
        resumed = second.fit()
    assert straight.step_loss.is_compiled and second.step_loss.is_compiled
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in history]
    assert int(straight.model.steps) == 4
