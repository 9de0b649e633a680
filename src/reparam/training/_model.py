"""What the trainer, the evaluation and the pictures need from a model."""

from __future__ import annotations

import abc
from typing import ClassVar

from torch import Tensor, nn


class LatentVariableModel(nn.Module, abc.ABC):
    """A latent-variable model of flattened images ``x`` of shape ``[B, D]``, pixels in [0, 1].

    Subclass it and implement the five methods; everything in
    ``reparam.training`` then works unchanged (see that package's docstring).

    Class facts:

    * ``continuous_latents``: whether codes live in R^d (a 2-D code space is then
      drawn as a scatter plus a decoded manifold); discrete models set ``False``.

    Attribute: ``latent_dim``, the size of one code.
    """

    continuous_latents: ClassVar[bool] = True
    latent_dim: int

    @abc.abstractmethod
    def loss(self, x: Tensor) -> Tensor:
        """Per-example surrogate ``[B]``, in nats; the trainer sums it over the batch and
        calls ``backward``.

        In training mode its value estimates the negated training objective (a
        one-sample ``-ELBO(x)``, or ``-L_k(x)`` for an importance-weighted
        objective) and its gradient is the model's chosen estimator of that
        objective's gradient. In evaluation mode (``model.eval()``) its value is a
        one-sample ``-ELBO(x)`` whatever the objective, so test figures stay
        comparable."""

    @abc.abstractmethod
    def log_weights(self, x: Tensor, k: int) -> Tensor:
        """``[k, B]``: ``log p(x, z_j) - log q(z_j | x)`` for ``z_1..z_k ~ q(. | x)``.

        ``logsumexp`` over ``j`` minus ``log k`` is the importance-weighted bound
        (Burda, Grosse and Salakhutdinov, 2016); its mean for ``k = 1`` is the ELBO.
        Called without gradients."""

    @abc.abstractmethod
    def decode(self, z: Tensor) -> Tensor:
        """Pixel means ``[*, D]`` in [0, 1] for codes ``z`` of shape ``[*, latent_dim]``."""

    @abc.abstractmethod
    def encode_mean(self, x: Tensor) -> Tensor:
        """A representative code ``[B, latent_dim]`` per image (the posterior mean or mode)."""

    @abc.abstractmethod
    def sample_prior(self, n: int) -> Tensor:
        """``n`` codes ``[n, latent_dim]`` drawn from the prior (global torch RNG)."""

    def reconstruct(self, x: Tensor) -> Tensor:
        """Pixel means ``[B, D]`` decoded from :meth:`encode_mean`."""
        return self.decode(self.encode_mean(x))
