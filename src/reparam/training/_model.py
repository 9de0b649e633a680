"""What the trainer, the evaluation and the pictures need from a model."""

from __future__ import annotations

import abc
from collections.abc import Collection
from typing import ClassVar

from torch import Tensor, nn


class LatentVariableModel(nn.Module, abc.ABC):
    """A latent-variable model of flattened images ``x`` of shape ``[B, D]``, pixels in [0, 1].

    Subclass it and implement the five methods; everything in
    ``reparam.training`` then works unchanged (see that package's docstring).

    Class facts:

    * ``continuous_latents``: whether codes live in R^d (a 2-D code space is then
      drawn as a scatter plus a decoded manifold); discrete models set ``False``.

    Attributes: ``latent_dim``, the size of one code; ``spherical_latents``,
    whether codes lie on the unit sphere in R^latent_dim (a 3-D code space is then
    drawn on the sphere; default ``False``); ``eager_reason``, why the training
    step cannot be compiled with ``torch.compile`` (``None``: it can).
    """

    continuous_latents: ClassVar[bool] = True
    latent_dim: int
    spherical_latents: bool = False
    eager_reason: str | None = None

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

    def explain_weights(self, names: Collection[str]) -> str | None:
        """Why a checkpoint with the weight ``names`` does not fit this model, in words a
        user knows (e.g. the option that differs), or ``None`` when the model cannot tell."""
        return None

    def reconstruct(self, x: Tensor) -> Tensor:
        """Pixel means ``[B, D]`` decoded from :meth:`encode_mean`."""
        return self.decode(self.encode_mean(x))
