"""``reparam dvae``: a VAE with discrete latent variables on dynamically binarized MNIST."""

from __future__ import annotations

import argparse

from reparam.cli._parser import comma_list, finite_float, int_at_least, positive_float
from reparam.cli._training import (
    USAGE_ERRORS,
    add_eval_parser,
    add_train_arguments,
    train_command,
)
from reparam.estimators import ESTIMATORS
from reparam.models.dvae import LATENTS, MIN_TEMPERATURE, estimators_for

SUPPORTED = {latent: estimators_for(latent) for latent in LATENTS}
DISCRETE_ESTIMATORS = tuple(
    name for name in ESTIMATORS if any(name in names for names in SUPPORTED.values())
)
"""Every registered estimator that supports the codes of some ``--latent``, in registry order."""
RELAXED = tuple(name for name in DISCRETE_ESTIMATORS if ESTIMATORS[name]().temperature is not None)
MODEL_KEYS = (
    "latent",
    "estimator",
    "hidden",
    "num_samples",
    "temperature",
    "anneal_rate",
    "min_temperature",
)


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
        help="gradient estimator for the discrete codes (default gumbel-softmax)" + _restrictions(),
    )
    model.add_argument(
        "--hidden",
        type=_widths,
        metavar="W1,W2,...",
        help="hidden widths of the encoder, mirrored in the decoder (default none: the linear "
        "784-200-784 model; e.g. 512,256 for an MLP)",
    )
    model.add_argument(
        "--num-samples",
        "--samples",
        dest="num_samples",
        type=int_at_least(1),
        metavar="N",
        help="samples of z per example (antithetic pairs for arm/disarm; default the "
        "estimator's minimum: 2 for score-loo, else 1)",
    )
    relaxed = parser.add_argument_group(f"temperature ({', '.join(RELAXED)})")
    relaxed.add_argument("--temperature", type=positive_float, help="initial tau (default 1)")
    relaxed.add_argument(
        "--anneal-rate",
        type=_non_negative,
        help="tau = max(min, initial * exp(-rate * step)); default 0 (fixed)",
    )
    relaxed.add_argument(
        "--min-temperature",
        type=positive_float,
        help=f"floor of the annealing, at most --temperature (default {MIN_TEMPERATURE}; "
        "without --anneal-rate the temperature stays at --temperature, however low)",
    )
    add_train_arguments(parser, "dvae")
    parser.set_defaults(target="binary")
    add_eval_parser(parser, "dvae")
    parser.set_defaults(
        run=lambda args: train_command(args, "dvae", MODEL_KEYS), usage_errors=USAGE_ERRORS
    )


_widths = comma_list(int_at_least(1), "hidden widths")


def _restrictions() -> str:
    """``; arm, disarm need --latent bernoulli``: estimators that some latents refuse."""
    parts = []
    for latent, names in SUPPORTED.items():
        own = [name for name in names if not all(name in o for o in SUPPORTED.values())]
        if own:
            parts.append(f"; {', '.join(own)} need --latent {latent}")
    return "".join(parts)


def _non_negative(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value
