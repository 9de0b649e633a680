"""``reparam dvae``: a VAE with discrete latent variables on dynamically binarized MNIST."""

from __future__ import annotations

import argparse

from reparam.cli._config_options import add_config_arguments, config_keys
from reparam.cli._training import (
    USAGE_ERRORS,
    add_eval_parser,
    add_train_arguments,
    train_command,
)
from reparam.estimators import ESTIMATORS
from reparam.models import DVAEConfig
from reparam.models._dvae_config import discrete_estimators

__all__ = ["DISCRETE_ESTIMATORS", "MODEL_KEYS", "RELAXED", "TEMPERATURE_KEYS", "add_parser"]

MODEL_KEYS = config_keys(DVAEConfig)
TEMPERATURE_KEYS = ("temperature", "anneal_rate", "min_temperature")
DISCRETE_ESTIMATORS = tuple(discrete_estimators())
"""The choices of ``--estimator``: every registered estimator some ``--latent`` supports."""
RELAXED = tuple(name for name in DISCRETE_ESTIMATORS if ESTIMATORS[name]().temperature is not None)
"""The estimators the temperature options apply to."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dvae",
        help="train a VAE with discrete latents on MNIST (Bernoulli or categorical codes)",
        description=(
            "Train a variational autoencoder with discrete codes on dynamically binarized "
            "MNIST: 200 Bernoulli units (--latent bernoulli) or 20 categorical variables with "
            "10 classes (--latent categorical), uniform prior, exact KL, the reconstruction "
            "term's gradient from --estimator. Biased estimators (gumbel-softmax, "
            "st-gumbel-softmax, straight-through) train on a relaxed or straight-through "
            "gradient; the losses reported are honest -ELBOs on exact discrete samples. "
            "Run folder, checkpoints, --resume, --json and pictures as in `reparam vae`; "
            "`reparam dvae eval RUN` re-evaluates a saved run."
        ),
    )
    model = parser.add_argument_group("model")
    temperatures = parser.add_argument_group(f"temperature ({', '.join(RELAXED)})")
    add_config_arguments(model, DVAEConfig, dict.fromkeys(TEMPERATURE_KEYS, temperatures))
    add_train_arguments(parser, "dvae")
    parser.set_defaults(target="binary")
    add_eval_parser(parser, "dvae")
    parser.set_defaults(
        run=lambda args: train_command(args, "dvae", MODEL_KEYS), usage_errors=USAGE_ERRORS
    )
