"""A variational autoencoder with a diagonal Gaussian posterior (Kingma and Welling, 2014),
or a von Mises-Fisher posterior on the sphere (the S-VAE of Davidson et al., 2018).

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

With ``posterior="vmf"`` (Davidson, Falorsi, De Cao, Kipf and Tomczak, 2018,
"Hyperspherical Variational Auto-Encoders") the codes lie on the unit sphere
``S^(d-1)`` in ``R^d`` (``d = latent_dim >= 2``): ``p(z)`` is uniform there and
``q(z | x) = vMF(mu(x), k(x))``, with ``mu(x)`` the normalised output of a linear
head and ``k(x) = softplus(a(x)) + MIN_CONCENTRATION`` (positive; linear in
``a`` for large ``a``, so neither end saturates). The KL has the closed form
``k A_d(k) + log C_d(k) + log |S^(d-1)|`` (:func:`reparam.distributions.kl_vmf_uniform`),
and the reconstruction term goes through the same :func:`reparam.expectation`,
pathwise by default (implicit reparameterization of the vMF angle, unbiased in
every dimension) or with the score function.

The defaults are those of the classic PyTorch VAE example: 784-400-20, ReLU.
``hidden`` may also be a sequence of widths, e.g. ``(256, 128)`` for the S-VAE
paper's 784-256-128 encoder and its mirror image as decoder.

>>> import torch
>>> _ = torch.manual_seed(0)
>>> model = GaussianVAE(latent_dim=2)
>>> x = torch.rand(5, 784)
>>> model.loss(x).shape, model.log_weights(x, k=3).shape, model.sample_prior(4).shape
(torch.Size([5]), torch.Size([3, 5]), torch.Size([4, 2]))
>>> spherical = GaussianVAE(hidden=(32, 16), latent_dim=3, posterior="vmf")
>>> codes = spherical.sample_prior(4)
>>> spherical.loss(x).shape, bool(torch.allclose(codes.norm(dim=-1), torch.ones(4)))
(torch.Size([5]), True)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from reparam._numerics import HALF_LOG_2PI
from reparam.bounds import GRADIENTS, Gradient, iwae_bound
from reparam.distributions import (
    HypersphericalUniform,
    NotDetachableError,
    VonMisesFisher,
    detach_parameters,
    kl_vmf_uniform,
)
from reparam.estimators import (
    Estimator,
    UnsupportedDistributionError,
    applicable_estimators,
    expectation,
    resolve_estimator,
)
from reparam.models.dvae import mlp
from reparam.training import LatentVariableModel

OBJECTIVES = ("elbo", "iwae")
"""The training objectives of :class:`GaussianVAE`."""
POSTERIORS = ("normal", "vmf")
"""``posterior`` of :class:`GaussianVAE`: diagonal Gaussian, or von Mises-Fisher on the sphere."""
MIN_CONCENTRATION = 1e-2
"""Floor of the vMF concentration, the low end of the range its numerics are tested on."""


class GaussianVAE(LatentVariableModel):
    """MLP encoder and decoder with one hidden ReLU layer each.

    Args:
        input_dim: pixels per image ``D``.
        hidden: width of the hidden layer, or the widths of the encoder's hidden
            layers (mirrored in the decoder).
        latent_dim: size of the code ``z``; with ``posterior="vmf"`` the ambient
            dimension ``d`` of the sphere ``S^(d-1)``, at least 2.
        estimator: gradient estimator for the reconstruction term, an
            :class:`~reparam.estimators.Estimator` or its short name
            (``"pathwise"``, ``"score"``, ...).
        num_samples: Monte Carlo samples of ``z`` per example in :meth:`loss` (the
            ``num_samples`` of :func:`reparam.expectation`).
        objective: ``"elbo"`` (the loss above) or ``"iwae"`` (``-L_k`` with
            ``k = iw_k``; ``iw_k = 1`` is a one-sample ELBO with a Monte Carlo KL).
        iw_k: importance samples per example of the IWAE objective.
        iw_gradient: the IWAE objective's gradient for the encoder,
            ``"standard"``, ``"stl"`` or ``"dreg"`` (see :mod:`reparam.bounds`);
            the decoder's is the standard IWAE gradient in every case.
        posterior: ``"normal"`` (diagonal Gaussian, prior N(0, I)) or ``"vmf"``
            (von Mises-Fisher, prior uniform on the sphere).
    """

    def __init__(
        self,
        input_dim: int = 784,
        hidden: int | Sequence[int] = 400,
        latent_dim: int = 20,
        estimator: str | Estimator = "pathwise",
        num_samples: int = 1,
        objective: str = "elbo",
        iw_k: int = 1,
        iw_gradient: str = "standard",
        posterior: str = "normal",
    ) -> None:
        super().__init__()
        widths = [hidden] if isinstance(hidden, int) else [int(w) for w in hidden]
        sizes = {
            "input_dim": input_dim,
            "hidden": min(widths, default=0),
            "latent_dim": latent_dim,
            "num_samples": num_samples,
        }
        for name, value in sizes.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        _check_posterior(posterior, latent_dim)
        self.spherical_latents = posterior == "vmf"
        self.latent_dim = latent_dim
        self.num_samples = num_samples
        self.estimator = resolve_estimator(estimator)
        if num_samples < self.estimator.min_samples:
            raise ValueError(
                f"{self.estimator!r} needs at least {self.estimator.min_samples} samples "
                f"per example (--num-samples), got {num_samples}"
            )
        self.encoder = (
            mlp([input_dim, *widths]) if len(widths) > 1 else nn.Linear(input_dim, widths[0])
        )
        self.to_mean = nn.Linear(widths[-1], latent_dim)
        if self.spherical_latents:
            self.to_concentration = nn.Linear(widths[-1], 1)
        else:
            self.to_log_var = nn.Linear(widths[-1], latent_dim)
        self.decoder = mlp([latent_dim, *widths[::-1], input_dim])
        self.objective: str = objective
        self.iw_k: int = iw_k
        self.iw_gradient: str = iw_gradient
        _check_objective(self, input_dim)
        if objective == "elbo":  # the IWAE objective is reparameterized, estimator unused
            self._check_estimator(posterior, input_dim)

    def posterior(self, x: Tensor) -> Distribution:
        """``q(z | x)``: batch shape ``[B]``, event shape ``[latent_dim]``."""
        h = F.relu(self.encoder(x))
        if self.spherical_latents:
            concentration = F.softplus(self.to_concentration(h)).squeeze(-1) + MIN_CONCENTRATION
            return VonMisesFisher(self._direction(h), concentration, validate_args=False)
        scale = torch.exp(0.5 * self.to_log_var(h))
        return Independent(Normal(self.to_mean(h), scale, validate_args=False), 1)

    def _check_estimator(self, posterior: str, input_dim: int) -> None:
        q = self.posterior(torch.zeros(1, input_dim))
        try:
            self.estimator.check_supports(q)
        except UnsupportedDistributionError as error:
            raise UnsupportedDistributionError(
                f"--estimator {self.estimator.name} does not apply to --posterior {posterior} "
                f"({error}); choose one of: {', '.join(applicable_estimators(q))}"
            ) from None

    def _direction(self, h: Tensor) -> Tensor:
        """The vMF mean direction: the mean head's output scaled to unit length."""
        return F.normalize(self.to_mean(h), dim=-1)

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
            lambda z: self.neg_log_likelihood(z, x), q, self.estimator, self.num_samples
        )
        return reconstruction + self.kl_to_prior(q)

    def log_joint(self, z: Tensor, x: Tensor) -> Tensor:
        """``log p(x | z) + log p(z)``: ``z [k, B, d]``, ``x [B, D]`` -> ``[k, B]``."""
        return self.log_prior(z) - self.neg_log_likelihood(z, x)

    def kl_to_prior(self, q: Distribution) -> Tensor:
        """``KL(q || p(z))`` in closed form, ``[B]``."""
        if isinstance(q, VonMisesFisher):
            return kl_vmf_uniform(q, self._uniform(q.loc))
        assert isinstance(q, Independent) and isinstance(q.base_dist, Normal)
        mean, scale = q.base_dist.loc, q.base_dist.scale
        return 0.5 * (mean.square() + scale.square() - 1.0).sum(-1) - scale.log().sum(-1)

    def log_prior(self, z: Tensor) -> Tensor:
        """``log p(z)`` for codes ``[*, latent_dim]`` -> ``[*]``."""
        if self.spherical_latents:
            return self._uniform(z).log_prob(z)
        return -0.5 * z.square().sum(-1) - self.latent_dim * HALF_LOG_2PI

    def _uniform(self, like: Tensor) -> HypersphericalUniform:
        return HypersphericalUniform(self.latent_dim, dtype=like.dtype, device=like.device)

    def log_weights(self, x: Tensor, k: int) -> Tensor:
        q = self.posterior(x)
        z = q.sample(torch.Size([k]))
        return -self.neg_log_likelihood(z, x) + self.log_prior(z) - q.log_prob(z)

    def explain_weights(self, names: Collection[str]) -> str | None:
        """Name the posterior of a checkpoint whose heads are another family's."""
        heads = {"to_log_var.weight": "normal", "to_concentration.weight": "vmf"}
        theirs = {family for name, family in heads.items() if name in names}
        ours = "vmf" if self.spherical_latents else "normal"
        if len(theirs) == 1 and ours not in theirs:
            return f"the checkpoint has a --posterior {theirs.pop()} model, the settings say {ours}"
        return None

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def encode_mean(self, x: Tensor) -> Tensor:
        """The posterior mean, or for vMF its mode (the mean direction, on the sphere)."""
        h = F.relu(self.encoder(x))
        if self.spherical_latents:
            return self._direction(h)
        mean: Tensor = self.to_mean(h)
        return mean

    def sample_prior(self, n: int) -> Tensor:
        weight = self.to_mean.weight
        if self.spherical_latents:
            return self._uniform(weight).sample(torch.Size([n]))
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
    given = []
    if model.estimator.name != "pathwise":
        given.append(f"estimator {model.estimator.name!r} (--estimator)")
    if model.num_samples != 1:
        given.append(f"num_samples {model.num_samples} (--num-samples)")
    if given:
        raise ValueError(
            f"{' and '.join(given)}: these options apply to the ELBO objective; the IWAE "
            "objective is reparameterized, with its k set by --iw-k and its encoder gradient "
            "by --iw-gradient"
        )
    weight = model.to_mean.weight
    with torch.no_grad():
        q = model.posterior(torch.zeros(1, input_dim, device=weight.device, dtype=weight.dtype))
    _check_iwae_posterior(q, gradient)


def _check_elbo_options(k: int, gradient: str) -> None:
    if k != 1:
        raise ValueError(
            f"iw_k (--iw-k {k}) applies to the IWAE objective: add --objective iwae "
            "(the ELBO's samples per example are --num-samples)"
        )
    if gradient != "standard":
        raise ValueError(
            f"iw_gradient {gradient!r} (--iw-gradient) applies to the IWAE objective: add "
            "--objective iwae (with --iw-k 1 it is the ELBO with that gradient)"
        )


def _check_iwae_posterior(q: Distribution, gradient: str) -> None:
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


def _check_posterior(posterior: str, latent_dim: int) -> str:
    if posterior not in POSTERIORS:
        raise ValueError(f"posterior must be one of {', '.join(POSTERIORS)}, got {posterior!r}")
    if posterior == "vmf" and latent_dim < 2:
        raise ValueError(
            f"posterior 'vmf' needs latent_dim >= 2 (--latent-dim): the codes lie on the "
            f"sphere S^(d-1) in R^d and R^{latent_dim} has none; got {latent_dim}"
        )
    return posterior
