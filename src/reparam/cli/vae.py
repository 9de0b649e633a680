"""``reparam vae``: a VAE on MNIST with Gaussian or von Mises-Fisher latents, trained with
the trick."""

from __future__ import annotations

import argparse

from reparam.cli._config_options import add_config_arguments, config_keys
from reparam.cli._training import (
    USAGE_ERRORS,
    add_eval_parser,
    add_train_arguments,
    execution_option,
    train_command,
)
from reparam.models import VAEConfig
from reparam.training.monitor import REPLICATES

__all__ = ["MODEL_KEYS", "add_monitor_arguments", "add_parser"]

MODEL_KEYS = config_keys(VAEConfig)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "vae",
        help="train a VAE on MNIST (Gaussian or hyperspherical latents, reparameterized)",
        description=(
            "Train a variational autoencoder on MNIST: 784-400-20 MLPs, ReLU, Adam, sum of "
            "binary cross-entropy and analytic KL (the classic PyTorch example's defaults); "
            "--posterior vmf puts the codes on a sphere (the S-VAE of Davidson et al., 2018). "
            "Every epoch is checkpointed in the run folder; at the end the test -ELBO, the "
            "importance-weighted bound and pictures are written there. "
            "`reparam vae eval RUN` re-evaluates a saved run."
        ),
    )
    model = parser.add_argument_group("model")
    add_config_arguments(model, VAEConfig)
    add_train_arguments(parser, "vae")
    add_monitor_arguments(parser)
    add_eval_parser(parser, "vae")
    parser.set_defaults(
        run=lambda args: train_command(args, "vae", MODEL_KEYS), usage_errors=USAGE_ERRORS
    )


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    """Gradient monitoring: SNR and variance of the encoder's and decoder's gradients."""
    group = parser.add_argument_group("gradient monitoring")
    group.add_argument(
        "--snr-every",
        type=execution_option("monitor_every"),
        metavar="N",
        help="every N steps, measure the gradients' SNR and variance on one fixed batch "
        "(into metrics.jsonl and gradients.png; default: never)",
    )
    group.add_argument(
        "--snr-replicates",
        type=execution_option("monitor_replicates"),
        metavar="R",
        help=f"gradient estimates per measurement, with --snr-every (default {REPLICATES})",
    )
