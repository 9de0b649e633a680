"""A variational autoencoder with a diagonal Gaussian posterior (Kingma and Welling, 2014).

Generative model ``p(z) = N(0, I)``, ``p(x | z) = prod_i Bernoulli(x_i; sigmoid(g(z)_i))``;
inference model ``q(z | x) = N(mu(x), diag sigma(x)^2)``. Per example, the loss is

    -ELBO(x) = E_q[-log p(x | z)] + KL(q(z | x) || p(z)),

the first term a Monte Carlo estimate through :func:`reparam.expectation` (the
pathwise estimator by default: the reparameterization trick), the second in
closed form, ``KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)``.
``-log p(x | z)`` is the binary cross-entropy, summed over pixels; on grayscale
targets it is the classic example's loss rather than a normalised likelihood.

With ``objective="iwae"`` the training loss is instead ``-L_k(x)``, the
negated ``k``-sample importance-weighted bound of Burda, Grosse and
Salakhutdinov (2016), through :func:`reparam.iwae_bound` with the standard,
sticking-the-landing or doubly reparameterized gradient for the encoder. In
evaluation mode (``model.eval()``) the loss is the ``-ELBO`` estimate for every
objective, so test figures stay comparable between objectives.

The defaults are those of the classic PyTorch VAE example: 784-400-20, ReLU.

>>> import torch
>>> _ = torch.manual_seed(0)
>>> model = GaussianVAE(latent_dim=2)
>>> x = torch.rand(5, 784)
>>> model.loss(x).shape, model.log_weights(x, k=3).shape, model.sample_prior(4).shape
(torch.Size([5]), torch.Size([3, 5]), torch.Size([4, 2]))
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from reparam.bounds import GRADIENTS, iwae_bound
from reparam.bounds._iwae import Gradient
from reparam.distributions._detach import NotDetachableError, detach_parameters
from reparam.estimators import Estimator, expectation, resolve_estimator
from reparam.training import LatentVariableModel

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
OBJECTIVES = ("elbo", "iwae")
"""The training objectives of :class:`GaussianVAE`."""


class GaussianVAE(LatentVariableModel):
    """MLP encoder and decoder with one hidden ReLU layer each.

    Args:
        input_dim: pixels per image ``D``.
        hidden: width of the hidden layers.
        latent_dim: size of the code ``z``.
        estimator: gradient estimator for the reconstruction term, an
            :class:`~reparam.estimators.Estimator` or its short name
            (``"pathwise"``, ``"score"``, ...).
        samples: Monte Carlo samples of ``z`` per example in :meth:`loss`.
        objective: ``"elbo"`` (the loss above) or ``"iwae"`` (``-L_k`` with
            ``k = iw_k``; ``iw_k = 1`` is a one-sample ELBO with a Monte Carlo KL).
        iw_k: importance samples per example of the IWAE objective.
        iw_gradient: the IWAE objective's gradient for the encoder,
            ``"standard"``, ``"stl"`` or ``"dreg"`` (see :mod:`reparam.bounds`);
            the decoder's is the standard IWAE gradient in every case.
    """

    def __init__(
        self,
        input_dim: int = 784,
        hidden: int = 400,
        latent_dim: int = 20,
        estimator: str | Estimator = "pathwise",
        samples: int = 1,
        objective: str = "elbo",
        iw_k: int = 1,
        iw_gradient: str = "standard",
    ) -> None:
        super().__init__()
        sizes = {
            "input_dim": input_dim,
            "hidden": hidden,
            "latent_dim": latent_dim,
            "samples": samples,
        }
        for name, value in sizes.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.latent_dim = latent_dim
        self.samples = samples
        self.estimator = resolve_estimator(estimator)
        if samples < self.estimator.min_samples:
            raise ValueError(
                f"{self.estimator!r} needs at least {self.estimator.min_samples} samples "
                f"per example (--samples), got {samples}"
            )
        self.encoder = nn.Linear(input_dim, hidden)
        self.to_mean = nn.Linear(hidden, latent_dim)
        self.to_log_var = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, input_dim)
        )
        self.objective: str = objective
        self.iw_k: int = iw_k
        self.iw_gradient: str = iw_gradient
        _check_objective(self, input_dim)

    def posterior(self, x: Tensor) -> Independent:
        """``q(z | x)``: batch shape ``[B]``, event shape ``[latent_dim]``."""
        h = F.relu(self.encoder(x))
        scale = torch.exp(0.5 * self.to_log_var(h))
        return Independent(Normal(self.to_mean(h), scale, validate_args=False), 1)

    def decode_logits(self, z: Tensor) -> Tensor:
        """Bernoulli logits ``[*, D]`` for codes ``[*, latent_dim]``."""
        logits: Tensor = self.decoder(z)
        return logits

    def neg_log_likelihood(self, z: Tensor, x: Tensor) -> Tensor:
        """``-log p(x | z)`` summed over pixels: ``z [S, B, d]``, ``x [B, D]`` -> ``[S, B]``."""
        logits = self.decode_logits(z)
        bce = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
        return bce.sum(-1)

    def loss(self, x: Tensor) -> Tensor:
        q = self.posterior(x)
        if self.objective == "iwae" and self.training:
            gradient = cast(Gradient, self.iw_gradient)
            return -iwae_bound(lambda z: self.log_joint(z, x), q, self.iw_k, gradient)
        reconstruction = expectation(
            lambda z: self.neg_log_likelihood(z, x), q, self.estimator, self.samples
        )
        return reconstruction + self.kl_to_prior(q)

    def log_joint(self, z: Tensor, x: Tensor) -> Tensor:
        """``log p(x | z) + log N(z; 0, I)``: ``z [k, B, d]``, ``x [B, D]`` -> ``[k, B]``."""
        log_prior = -0.5 * z.square().sum(-1) - self.latent_dim * _HALF_LOG_2PI
        return log_prior - self.neg_log_likelihood(z, x)

    @staticmethod
    def kl_to_prior(q: Independent) -> Tensor:
        """``KL(q || N(0, I))`` in closed form, ``[B]``."""
        mean, scale = q.base_dist.loc, q.base_dist.scale
        return 0.5 * (mean.square() + scale.square() - 1.0).sum(-1) - scale.log().sum(-1)

    def log_weights(self, x: Tensor, k: int) -> Tensor:
        q = self.posterior(x)
        z = q.sample(torch.Size([k]))
        log_prior = -0.5 * z.square().sum(-1) - self.latent_dim * _HALF_LOG_2PI
        return -self.neg_log_likelihood(z, x) + log_prior - q.log_prob(z)

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def encode_mean(self, x: Tensor) -> Tensor:
        mean: Tensor = self.to_mean(F.relu(self.encoder(x)))
        return mean

    def sample_prior(self, n: int) -> Tensor:
        weight = self.to_mean.weight
        return torch.randn(n, self.latent_dim, device=weight.device, dtype=weight.dtype)


def _check_objective(model: GaussianVAE, input_dim: int) -> None:
    """Refuse, before training, an objective whose options do not fit together."""
    objective, k, gradient = model.objective, model.iw_k, model.iw_gradient
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(
            f"iw_k (--iw-k) must be an integer >= 1, the importance samples per example; got {k!r}"
        )
    if gradient not in GRADIENTS:
        raise ValueError(f"iw_gradient must be one of {', '.join(GRADIENTS)}, got {gradient!r}")
    if objective == "elbo":
        _check_elbo_options(k, gradient)
        return
    if model.estimator.name != "pathwise" or model.samples != 1:
        raise ValueError(
            f"estimator {model.estimator.name!r} with samples {model.samples} (--estimator, "
            "--samples) apply to the ELBO objective; the IWAE objective is reparameterized, "
            "with its k set by --iw-k and its encoder gradient by --iw-gradient"
        )
    weight = model.to_mean.weight
    with torch.no_grad():
        q = model.posterior(torch.zeros(1, input_dim, device=weight.device, dtype=weight.dtype))
    _check_posterior(q, gradient)


def _check_elbo_options(k: int, gradient: str) -> None:
    if k != 1:
        raise ValueError(
            f"iw_k (--iw-k {k}) applies to the IWAE objective: add --objective iwae "
            "(the ELBO's samples per example are --samples)"
        )
    if gradient != "standard":
        raise ValueError(
            f"iw_gradient {gradient!r} (--iw-gradient) applies to the IWAE objective: add "
            "--objective iwae (with --iw-k 1 it is the ELBO with that gradient)"
        )


def _check_posterior(q: Distribution, gradient: str) -> None:
    """The IWAE objective needs ``rsample``; STL and DReG need detachable parameters."""
    if not q.has_rsample:
        raise ValueError(
            f"the IWAE objective needs a reparameterizable posterior, and "
            f"{type(q).__name__} has no rsample; use the ELBO objective with a score-function "
            "estimator"
        )
    if gradient == "standard":
        return
    try:
        detach_parameters(q)
    except NotDetachableError as error:
        raise ValueError(
            f"iw_gradient {gradient!r} evaluates log q with the posterior's parameters "
            f"detached, which fails here: {error}. Use --iw-gradient standard"
        ) from None
