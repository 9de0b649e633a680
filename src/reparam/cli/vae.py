"""``reparam vae``: a VAE on MNIST with Gaussian or von Mises-Fisher latents, trained with
the trick."""

from __future__ import annotations

import argparse

import torch
from torch.distributions import Independent, Normal

from reparam.bounds import GRADIENTS
from reparam.cli._parser import comma_list, int_at_least
from reparam.cli._training import (
    USAGE_ERRORS,
    add_eval_parser,
    add_train_arguments,
    execution_option,
    train_command,
)
from reparam.estimators import ESTIMATORS
from reparam.models.vae import OBJECTIVES, POSTERIORS, GaussianVAE
from reparam.training.monitor import REPLICATES

MODEL_KEYS = (
    "latent_dim",
    "hidden",
    "estimator",
    "num_samples",
    "objective",
    "iw_k",
    "iw_gradient",
    "posterior",
)


def gaussian_estimators() -> list[str]:
    """The registered estimators that apply to a diagonal Gaussian posterior."""
    posterior = Independent(Normal(torch.zeros(1, 2), torch.ones(1, 2)), 1)
    return [name for name, make in ESTIMATORS.items() if make().supports(posterior)]


def _normal_only() -> str:
    """``; mvd, mvd-uncoupled need normal``: the estimators the vMF posterior refuses."""
    model = GaussianVAE(input_dim=1, hidden=1, latent_dim=2, posterior="vmf")
    vmf = model.posterior(torch.zeros(1, 1))
    refused = [name for name in gaussian_estimators() if not ESTIMATORS[name]().supports(vmf)]
    return f"; {', '.join(refused)} need normal" if refused else ""


def hidden_widths(text: str) -> int | list[int]:
    """``--hidden``: widths as in ``reparam dvae``; one width stays a number (saved as before).

    >>> hidden_widths("400"), hidden_widths("256,128")
    (400, [256, 128])
    """
    widths = comma_list(int_at_least(1), "hidden widths")(text)
    return widths[0] if len(widths) == 1 else widths


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
    model.add_argument(
        "--posterior",
        choices=POSTERIORS,
        help="normal: diagonal Gaussian, prior N(0, I) (default); vmf: von Mises-Fisher on the "
        "sphere S^(d-1) in R^d, d = --latent-dim >= 2, uniform prior (the S-VAE)" + _normal_only(),
    )
    model.add_argument(
        "--latent-dim",
        type=int_at_least(1),
        help="code size (default 20); with --posterior vmf the dimension d of the space "
        "around the sphere",
    )
    model.add_argument(
        "--hidden",
        type=hidden_widths,
        metavar="W1,W2,...",
        help="hidden widths of the encoder, mirrored in the decoder (default 400; e.g. "
        "256,128 for the S-VAE paper's networks)",
    )
    model.add_argument(
        "--estimator",
        choices=gaussian_estimators(),
        help="gradient estimator of the reconstruction term (default pathwise: the trick)",
    )
    model.add_argument(
        "--num-samples",
        "--samples",
        dest="num_samples",
        type=int_at_least(1),
        metavar="N",
        help="samples of z per example (default 1)",
    )
    add_objective_arguments(model)
    add_train_arguments(parser, "vae")
    add_monitor_arguments(parser)
    add_eval_parser(parser, "vae")
    parser.set_defaults(
        run=lambda args: train_command(args, "vae", MODEL_KEYS), usage_errors=USAGE_ERRORS
    )


def add_objective_arguments(model: argparse._ArgumentGroup) -> None:
    """The training objective: the ELBO, or the IWAE bound with its k and encoder gradient."""
    model.add_argument(
        "--objective",
        choices=OBJECTIVES,
        help="elbo (default) or iwae: the k-sample importance-weighted bound (Burda et al.)",
    )
    model.add_argument(
        "--iw-k",
        type=int_at_least(1),
        metavar="K",
        help="importance samples per example of --objective iwae (default 1)",
    )
    model.add_argument(
        "--iw-gradient",
        choices=GRADIENTS,
        help="encoder gradient of --objective iwae: standard (default), stl (sticking the "
        "landing; biased for k > 1) or dreg (doubly reparameterized)",
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
