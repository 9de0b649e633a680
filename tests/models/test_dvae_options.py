"""Temperatures: the caller's are used, contradictory ones refused, defaults unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from reparam.cli import main
from reparam.cli.dvae import DISCRETE_ESTIMATORS, RELAXED
from reparam.estimators import ESTIMATORS, ExponentialAnnealing, GumbelSoftmax
from reparam.estimators._temperature import current_temperature
from reparam.models import MODEL_FAMILIES
from reparam.models.dvae import DiscreteVAE, estimators_for


def images(n: int = 8) -> Tensor:
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(n, 784, generator=generator) < 0.2).float()


class Recording(DiscreteVAE):
    """Keeps the codes that the decoder sees with a gradient (the relaxed ones)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: list[Tensor] = []

    def neg_log_likelihood(self, z: Tensor, x: Tensor) -> Tensor:
        if z.requires_grad:
            self.seen.append(z.detach())
        return super().neg_log_likelihood(z, x)


def relaxed_codes(model: Recording, tau: float) -> tuple[Tensor, Tensor]:
    """The decoder's relaxed input in one training step, and GumbelSoftmax(tau)'s own."""
    x = images()
    torch.manual_seed(1)
    model.loss(x).sum().backward()
    kept: list[Tensor] = []
    torch.manual_seed(1)
    with torch.no_grad():
        q = model.posterior(x)
    GumbelSoftmax(tau).surrogate(lambda y: kept.append(y) or y.sum(-1), q, 1)
    return model.seen[0], kept[0]


def test_an_estimator_object_trains_at_its_own_temperature() -> None:
    torch.manual_seed(0)
    estimator = GumbelSoftmax(0.3)
    model = Recording("bernoulli", estimator)
    used, expected = relaxed_codes(model, 0.3)
    torch.testing.assert_close(used, expected)
    assert estimator.temperature == 0.3 and model.schedule is None
    used, at_one = relaxed_codes(Recording("bernoulli", GumbelSoftmax(0.3)), 1.0)
    assert not torch.allclose(used, at_one)  # the check tells temperatures apart


def test_a_schedule_object_is_the_callers() -> None:
    schedule = ExponentialAnnealing(initial=2.0, rate=0.1, minimum=0.5)
    model = DiscreteVAE("categorical", GumbelSoftmax(schedule))
    for _ in range(2):
        model.loss(images()).sum().backward()
    assert model.estimator.temperature is schedule and schedule.step == 0  # never stepped
    schedule.advance(3)
    assert current_temperature(model.estimator.temperature) == schedule()


@pytest.mark.parametrize("option", ["temperature", "anneal_rate", "min_temperature"])
def test_model_temperatures_with_an_estimator_object_are_refused(option: str) -> None:
    with pytest.raises(ValueError, match=f"own temperature, so the model's {option}"):
        DiscreteVAE("bernoulli", GumbelSoftmax(0.3), **{option: 0.4})


def test_the_floor_only_stops_annealing() -> None:
    fixed = DiscreteVAE("bernoulli", "gumbel-softmax", temperature=0.1)
    assert fixed.schedule is not None and fixed.schedule() == 0.1
    assert current_temperature(fixed.estimator.temperature) == 0.1
    annealed = DiscreteVAE(
        "bernoulli", "gumbel-softmax", temperature=0.1, anneal_rate=1.0, min_temperature=0.05
    )
    assert annealed.schedule is not None
    annealed.schedule.step = 100
    assert annealed.schedule() == 0.05


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"temperature": 1.0, "min_temperature": 5.0},
            r"min_temperature=5\.0 is above temperature=1\.0: ",
        ),
        ({"temperature": 0.1, "anneal_rate": 1e-3}, r"0\.5 \(the default\) is above"),
        ({"anneal_rate": -1.0}, "anneal_rate"),
        ({"min_temperature": 0.0}, "min_temperature"),
    ],
)
def test_contradictory_temperatures_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DiscreteVAE("bernoulli", "gumbel-softmax", **options)  # type: ignore[arg-type]


def test_the_schedule_refuses_a_floor_above_its_start() -> None:
    with pytest.raises(ValueError, match=r"minimum 0\.5 is above initial 0\.3"):
        ExponentialAnnealing(initial=0.3)
    assert ExponentialAnnealing(initial=0.3, rate=0.0, minimum=0.3)() == 0.3


def test_defaults_are_unchanged() -> None:
    model = MODEL_FAMILIES["dvae"](**{})
    assert model.schedule is not None  # type: ignore[attr-defined]
    schedule = model.schedule  # type: ignore[attr-defined]
    assert (schedule.initial, schedule.rate, schedule.minimum) == (1.0, 0.0, 0.5)
    assert current_temperature(model.estimator.temperature) == 1.0  # type: ignore[attr-defined]


def test_cli_trains_at_a_low_temperature_and_refuses_a_floor_above_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = MODEL_FAMILIES["dvae"](**{"temperature": 0.1})
    assert current_temperature(model.estimator.temperature) == 0.1  # type: ignore[attr-defined]
    command = ["dvae", "--temperature", "1", "--min-temperature", "5", "--run", str(tmp_path)]
    assert main(command) == 2
    assert "--min-temperature 5.0 is above --temperature 1.0" in (capsys.readouterr().err)


def test_cli_lists_follow_the_registry() -> None:
    everywhere = {
        name for latent in ("bernoulli", "categorical") for name in estimators_for(latent)
    }
    assert set(DISCRETE_ESTIMATORS) == everywhere
    assert list(DISCRETE_ESTIMATORS) == [name for name in ESTIMATORS if name in everywhere]
    assert RELAXED == ("gumbel-softmax", "st-gumbel-softmax")
