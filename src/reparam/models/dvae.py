"""A variational autoencoder with discrete latent variables.

Generative model: a uniform prior over the codes and
``p(x | z) = prod_i Bernoulli(x_i; sigmoid(g(z)_i))``; inference model
``q(z | x)``, either

* ``latent="bernoulli"``: 200 independent binary units, ``Bernoulli(sigmoid(e(x)))``
  with prior ``Bernoulli(1/2)``; or
* ``latent="categorical"``: 20 independent one-hot variables with 10 classes
  each, prior uniform; codes are the 20 one-hot vectors flattened to 200 numbers.

Per example the loss is ``-ELBO(x) = E_q[-log p(x | z)] + KL(q(z | x) || p(z))``.
The KL is exact, ``sum (q log q) + (units) log(classes)``; the expectation goes
through :func:`reparam.expectation` with any estimator that supports the
posterior (:func:`estimators_for` lists them, from the registry). With the
relaxed estimators the decoder sees relaxed codes during training; the loss is
still an honest one-sample ``-ELBO`` on exact discrete samples, because every
estimator's value is ``f`` at exact samples (the estimators' contract).

Encoder and decoder are MLPs ``784 - hidden... - 200`` and back; ``hidden=()``
(the default) is the linear "784-200-784" model of the ARM and DisARM papers,
``hidden=(512, 256)`` a two-layer MLP like those of Jang, Gu and Poole (2017).

An estimator's learned part (RELAX's control variate) is part of the model,
as the submodule ``control_variate``; its parameters are trained by the
estimator's :meth:`~reparam.estimators.Estimator.training_term` to minimise the
summed squared gradient estimate with respect to the encoder's logits (a
per-example proxy of the variance objective of Grathwohl et al., 2018), folded
into their gradient so that one ``backward`` trains everything.

Temperatures (relaxed estimators only): an estimator given *by name* gets the
model's schedule, whose floor only stops the annealing; one given *as an
object* keeps its own temperature (rules in ``reparam.models._temperatures``).

>>> import torch
>>> _ = torch.manual_seed(0)
>>> model = DiscreteVAE("categorical", estimator="gumbel-softmax")
>>> x = torch.rand(5, 784).round()
>>> model.loss(x).shape, model.log_weights(x, k=3).shape, model.sample_prior(4).shape
(torch.Size([5]), torch.Size([3, 5]), torch.Size([4, 200]))
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, OneHotCategorical

from reparam.estimators import (
    Estimator,
    applicable_estimators,
    expectation,
    resolve_estimator,
)
from reparam.models._temperatures import MIN_TEMPERATURE as MIN_TEMPERATURE
from reparam.models._temperatures import schedule_for
from reparam.training import LatentVariableModel

LATENTS = ("bernoulli", "categorical")
VARIABLES, CLASSES, UNITS = 20, 10, 200


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, ReLU between them."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i > 0:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class DiscreteVAE(LatentVariableModel):
    """VAE with Bernoulli or categorical codes, trained with a discrete-latent estimator.

    Args:
        latent: ``"bernoulli"`` (200 units) or ``"categorical"`` (20 x 10).
        estimator: an estimator or its short name; it must support the posterior.
        hidden: hidden widths of the encoder (mirrored in the decoder).
        num_samples: samples (or antithetic pairs) per example, the ``num_samples``
            of :func:`reparam.expectation`; default the estimator's minimum.
        temperature, anneal_rate, min_temperature: for a relaxed estimator given
            by name, ``tau = max(min_temperature, temperature * exp(-anneal_rate *
            step))`` with ``step`` the number of training steps taken, the
            model's buffer ``steps`` (so it is checkpointed). Each training step
            hands the schedule a copy of it (``schedule.step``, a tensor), so the
            temperature is a tensor computed on the device: no step waits for
            the device to read it, and one compiled graph serves every step.
            Defaults 1, 0 and 0.5 (see
            ``reparam.models._temperatures``). Ignored by estimators without a temperature;
            refused with one given as an object (it keeps its own).
    """

    continuous_latents = False

    def __init__(
        self,
        latent: str = "bernoulli",
        estimator: str | Estimator = "gumbel-softmax",
        hidden: Sequence[int] = (),
        num_samples: int | None = None,
        temperature: float | None = None,
        anneal_rate: float | None = None,
        min_temperature: float | None = None,
        input_dim: int = 784,
    ) -> None:
        super().__init__()
        if latent not in LATENTS:
            raise ValueError(f"latent must be one of {', '.join(LATENTS)}, got {latent!r}")
        self.latent = latent
        self.latent_dim = UNITS
        self.log_codes = (
            UNITS * math.log(2.0) if latent == "bernoulli" else VARIABLES * math.log(CLASSES)
        )
        self.estimator = resolve_estimator(estimator)
        if self.estimator.name == "relax":
            self.eager_reason = (
                "RELAX fits its control variate with torch.autograd.grad inside each step, "
                "which torch.compile cannot compile with the step's backward pass"
            )
        self.num_samples = self.estimator.min_samples if num_samples is None else num_samples
        if self.num_samples < self.estimator.min_samples:
            raise ValueError(
                f"{self.estimator!r} needs num_samples >= {self.estimator.min_samples} "
                f"(--num-samples), got {self.num_samples}"
            )
        options = {
            "temperature": temperature,
            "anneal_rate": anneal_rate,
            "min_temperature": min_temperature,
        }
        self.schedule = schedule_for(estimator, self.estimator, options)
        self.steps: Tensor
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        widths = [int(w) for w in hidden]
        self.encoder = mlp([input_dim, *widths, UNITS])
        self.decoder = mlp([UNITS, *widths[::-1], input_dim])
        learned = self.estimator.trainable()
        if learned is not None:
            self.control_variate = learned
        self.estimator.check_supports(posterior(latent, torch.zeros(1, UNITS)))

    def posterior(self, x: Tensor) -> Distribution:
        """``q(z | x)``, batch shape ``[B]``: event ``[200]`` or ``[20, 10]``."""
        return posterior(self.latent, self.encoder(x))

    def neg_log_likelihood(self, z: Tensor, x: Tensor) -> Tensor:
        """``-log p(x | z)`` summed over pixels: codes ``[S, B, *event]`` -> ``[S, B]``."""
        logits = self.decoder(z.reshape(*z.shape[:2], UNITS))
        return F.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none"
        ).sum(-1)

    def kl(self, q: Distribution) -> Tensor:
        """``KL(q || p)`` per example: ``log(number of codes) - entropy(q)``."""
        return self.log_codes - q.entropy()

    def loss(self, x: Tensor) -> Tensor:
        q = self.posterior(x)
        kl = self.kl(q)
        if not torch.is_grad_enabled():
            return self._sampled_nll(q, x) + kl
        if self.training:
            if self.schedule is not None and self.schedule.rate > 0:
                # the count before this step, a copy (``steps`` changes next): the
                # temperature is computed on the device, no graph is specialised on it.
                # A schedule that does not anneal keeps its step 0 and its number.
                self.schedule.step = self.steps.clone()
            self.steps += 1
        surrogate = expectation(
            lambda z: self.neg_log_likelihood(z, x), q, self.estimator, self.num_samples
        )
        if self.training and self.estimator.trainable() is not None:
            term = self.estimator.training_term(surrogate.sum(), [_logits(q)])
            surrogate = surrogate + term / x.shape[0]
        return surrogate + kl

    def _sampled_nll(self, q: Distribution, x: Tensor) -> Tensor:
        return self.neg_log_likelihood(q.sample(torch.Size([1])), x)[0]

    def log_weights(self, x: Tensor, k: int) -> Tensor:
        q = self.posterior(x)
        z = q.sample(torch.Size([k]))
        return -self.neg_log_likelihood(z, x) - self.log_codes - q.log_prob(z)

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(z))

    def encode_mean(self, x: Tensor) -> Tensor:
        q = self.posterior(x)
        return q.mean.reshape(x.shape[0], UNITS)

    def sample_prior(self, n: int) -> Tensor:
        device = self.steps.device
        if self.latent == "bernoulli":
            return torch.randint(0, 2, (n, UNITS), device=device).float()
        classes = torch.randint(0, CLASSES, (n, VARIABLES), device=device)
        return F.one_hot(classes, CLASSES).float().reshape(n, UNITS)


def posterior(latent: str, logits: Tensor) -> Distribution:
    """The posterior family of ``latent`` with encoder outputs ``logits`` ``[B, 200]``."""
    if latent == "bernoulli":
        return Independent(Bernoulli(logits=logits, validate_args=False), 1)
    logits = logits.reshape(*logits.shape[:-1], VARIABLES, CLASSES)
    return Independent(OneHotCategorical(logits=logits, validate_args=False), 1)


def estimators_for(latent: str) -> list[str]:
    """The registered estimators that support ``latent``'s posterior, in registry order.

    >>> estimators_for("categorical")
    ['score', 'score-loo', 'gumbel-softmax', 'st-gumbel-softmax', 'straight-through', 'relax']
    """
    return applicable_estimators(posterior(latent, torch.zeros(1, UNITS)))


def _logits(q: Distribution) -> Tensor:
    base = q.base_dist if isinstance(q, Independent) else q
    logits: Tensor = getattr(base, "logits")  # noqa: B009 - Bernoulli or OneHotCategorical
    return logits
