"""The settings of :class:`~reparam.models.DiscreteVAE`: a typed, frozen, self-checking config.

>>> DVAEConfig(estimator="score-loo").samples_per_example
2
>>> DVAEConfig(temperature=1.0, min_temperature=5.0)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: min_temperature=5.0 is above temperature=1.0: ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from reparam.estimators import ESTIMATORS, Estimator, resolve_estimator
from reparam.models._temperatures import MIN_TEMPERATURE, annealing
from reparam.models.config import at_least, check_fields, one_of, option, widths
from reparam.training._checks import SettingsError, check_positive_number

__all__ = ["LATENTS", "DVAEConfig", "discrete_estimators"]

LATENTS = ("bernoulli", "categorical")


def discrete_estimators() -> list[str]:
    """Every registered estimator that supports the codes of some ``latent``, in registry
    order."""
    from reparam.models.dvae import estimators_for

    supported = [estimators_for(latent) for latent in LATENTS]
    return [name for name in ESTIMATORS if any(name in names for names in supported)]


def restrictions() -> str:
    """``; arm, disarm need {latent} bernoulli``: estimators that some latents refuse."""
    from reparam.models.dvae import estimators_for

    supported = {latent: estimators_for(latent) for latent in LATENTS}
    parts = []
    for latent, names in supported.items():
        own = [name for name in names if not all(name in o for o in supported.values())]
        if own:
            parts.append(f"; {', '.join(own)} need {{latent}} {latent}")
    return "".join(parts)


def _positive(value: Any, name: str) -> None:
    if value is not None:
        check_positive_number(value, name)


def _non_negative(value: Any, name: str) -> None:
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    if value is None or (real and math.isfinite(value) and value >= 0):
        return
    raise SettingsError("{0} must be a finite number >= 0, got {got}", name, got=repr(value))


@dataclass(frozen=True)
class DVAEConfig:
    """What a :class:`~reparam.models.DiscreteVAE` is; see its arguments."""

    latent: str = option(
        "bernoulli", "code type (default bernoulli)", one_of(LATENTS), choices=lambda: LATENTS
    )
    estimator: str | Estimator = option(  # noqa: RUF009 - a field specifier
        "gumbel-softmax",
        "gradient estimator for the discrete codes (default gumbel-softmax)",
        choices=discrete_estimators,
        note=restrictions,
    )
    hidden: tuple[int, ...] = option(
        (),
        "hidden widths of the encoder, mirrored in the decoder (default none: the linear "
        "784-200-784 model; e.g. 512,256 for an MLP)",
        widths(allow_none=True),
        kind="widths",
    )
    num_samples: int | None = option(
        None,
        "samples of z per example (antithetic pairs for arm/disarm; default the estimator's "
        "minimum: 2 for score-loo, else 1)",
        at_least(1, optional=True),
    )
    temperature: float | None = option(None, "initial tau (default 1)", _positive)
    anneal_rate: float | None = option(
        None, "tau = max(min, initial * exp(-rate * step)); default 0 (fixed)", _non_negative
    )
    min_temperature: float | None = option(
        None,
        f"floor of the annealing, at most {{temperature}} (default {MIN_TEMPERATURE}; without "
        "{anneal_rate} the temperature stays at {temperature}, however low)",
        _positive,
    )
    input_dim: int = option(784, "pixels per image", at_least(1), command_line=False)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        check_fields(self)
        estimator = resolve_estimator(self.estimator)
        if self.num_samples is not None and self.num_samples < estimator.min_samples:
            raise SettingsError(
                "{estimator} needs {0} >= {least}, got {got}",
                "num_samples",
                estimator=repr(estimator),
                least=estimator.min_samples,
                got=self.num_samples,
            )
        if isinstance(self.estimator, str):
            annealing(self.temperature, self.anneal_rate, self.min_temperature)

    @property
    def samples_per_example(self) -> int:
        """Posterior samples (or antithetic pairs) per example in a training step."""
        if self.num_samples is not None:
            return self.num_samples
        return resolve_estimator(self.estimator).min_samples
