"""``reparam dvae``: a VAE with discrete latent variables on dynamically binarized MNIST."""

from __future__ import annotations

import argparse
from typing import Any

from reparam.cli._parser import comma_list, finite_float, int_at_least, positive_float
from reparam.cli._training import add_eval_parser, add_train_arguments, train_command
from reparam.models.dvae import LATENTS, DiscreteVAE
from reparam.training import LatentVariableModel

DISCRETE_ESTIMATORS = (
    "gumbel-softmax",
    "st-gumbel-softmax",
    "straight-through",
    "score",
    "score-loo",
    "arm",
    "disarm",
    "relax",
)
MODEL_KEYS = (
    "latent",
    "estimator",
    "hidden",
    "samples",
    "temperature",
    "anneal_rate",
    "min_temperature",
)


def build(options: dict[str, Any]) -> LatentVariableModel:
    """The model from its saved options (missing ones take the defaults)."""
    return DiscreteVAE(**options)


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
    model.add_argument("--latent", choices=LATENTS, help="code type (default bernoulli)")
    model.add_argument(
        "--estimator",
        choices=DISCRETE_ESTIMATORS,
        help="gradient estimator for the discrete codes (default gumbel-softmax); "
        "arm and disarm need --latent bernoulli",
    )
    model.add_argument(
        "--hidden",
        type=_widths,
        metavar="W1,W2,...",
        help="hidden widths of the encoder, mirrored in the decoder (default none: the linear "
        "784-200-784 model; e.g. 512,256 for an MLP)",
    )
    model.add_argument(
        "--samples",
        type=int_at_least(1),
        help="samples of z per example (antithetic pairs for arm/disarm; default the "
        "estimator's minimum: 2 for score-loo, else 1)",
    )
    relaxed = parser.add_argument_group("temperature (gumbel-softmax, st-gumbel-softmax)")
    relaxed.add_argument("--temperature", type=positive_float, help="initial tau (default 1)")
    relaxed.add_argument(
        "--anneal-rate",
        type=_non_negative,
        help="tau = max(min, initial * exp(-rate * step)); default 0 (fixed)",
    )
    relaxed.add_argument(
        "--min-temperature", type=positive_float, help="floor of the annealing (default 0.5)"
    )
    add_train_arguments(parser, "dvae")
    parser.set_defaults(target="binary")
    add_eval_parser(parser, build)
    parser.set_defaults(run=lambda args: train_command(args, "dvae", MODEL_KEYS, build))


_widths = comma_list(int_at_least(1), "hidden widths")


def _non_negative(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value
