"""The settings of :class:`~reparam.models.GaussianVAE`: a typed, frozen, self-checking config.

>>> config = VAEConfig(objective="iwae", iw_k=5)
>>> config.samples_per_example
5
>>> VAEConfig(iw_k=5)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
reparam.training._checks.SettingsError: iw_k=5 applies to the IWAE objective: ...
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Independent, Normal

from reparam.bounds import GRADIENTS
from reparam.estimators import ESTIMATORS, Estimator, resolve_estimator
from reparam.models.config import at_least, check_fields, one_of, option, widths
from reparam.training._checks import SettingsError

__all__ = ["OBJECTIVES", "POSTERIORS", "VAEConfig", "gaussian_estimators"]

OBJECTIVES = ("elbo", "iwae")
"""The training objectives of :class:`~reparam.models.GaussianVAE`."""
POSTERIORS = ("normal", "vmf")
"""``posterior``: diagonal Gaussian, or von Mises-Fisher on the sphere."""


def gaussian_estimators() -> list[str]:
    """The registered estimators that apply to a diagonal Gaussian posterior."""
    posterior = Independent(Normal(torch.zeros(1, 2), torch.ones(1, 2)), 1)
    return [name for name, make in ESTIMATORS.items() if make().supports(posterior)]


def normal_only() -> str:
    """``; mvd, mvd-uncoupled need normal``: the estimators the vMF posterior refuses."""
    from reparam.models.vae import GaussianVAE

    model = GaussianVAE(input_dim=1, hidden=1, latent_dim=2, posterior="vmf")
    vmf = model.posterior(torch.zeros(1, 1))
    refused = [name for name in gaussian_estimators() if not ESTIMATORS[name]().supports(vmf)]
    return f"; {', '.join(refused)} need normal" if refused else ""


@dataclass(frozen=True)
class VAEConfig:
    """What a :class:`~reparam.models.GaussianVAE` is; see its arguments."""

    input_dim: int = option(784, "pixels per image", at_least(1), command_line=False)
    posterior: str = option(
        "normal",
        "normal: diagonal Gaussian, prior N(0, I) (default); vmf: von Mises-Fisher on the "
        "sphere S^(d-1) in R^d, d = {latent_dim} >= 2, uniform prior (the S-VAE)",
        one_of(POSTERIORS),
        choices=lambda: POSTERIORS,
        note=normal_only,
    )
    latent_dim: int = option(
        20,
        "code size (default 20); with {posterior} vmf the dimension d of the space around "
        "the sphere",
        at_least(1),
    )
    hidden: int | tuple[int, ...] = option(
        400,
        "hidden widths of the encoder, mirrored in the decoder (default 400; e.g. 256,128 "
        "for the S-VAE paper's networks)",
        widths(allow_none=False),
        kind="widths",
    )
    estimator: str | Estimator = option(  # noqa: RUF009 - a field specifier
        "pathwise",
        "gradient estimator of the reconstruction term (default pathwise: the trick)",
        choices=gaussian_estimators,
    )
    num_samples: int = option(1, "samples of z per example (default 1)", at_least(1))
    objective: str = option(
        "elbo",
        "elbo (default) or iwae: the k-sample importance-weighted bound (Burda et al.)",
        one_of(OBJECTIVES),
        choices=lambda: OBJECTIVES,
    )
    iw_k: int = option(
        1, "importance samples per example of {objective} iwae (default 1)", at_least(1)
    )
    iw_gradient: str = option(
        "standard",
        "encoder gradient of {objective} iwae: standard (default), stl (sticking the "
        "landing; biased for k > 1) or dreg (doubly reparameterized)",
        one_of(GRADIENTS),
        choices=lambda: GRADIENTS,
    )

    def __post_init__(self) -> None:
        if isinstance(self.hidden, (list, tuple)):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        check_fields(self)
        if self.posterior == "vmf" and self.latent_dim < 2:
            raise SettingsError(
                "posterior 'vmf' needs {0} >= 2: the codes lie on the sphere S^(d-1) in R^d "
                "and R^{got} has none; got {got}",
                "latent_dim",
                got=self.latent_dim,
            )
        estimator = resolve_estimator(self.estimator)
        if self.num_samples < estimator.min_samples:
            raise SettingsError(
                "{estimator} needs at least {least} samples per example ({0}), got {got}",
                "num_samples",
                estimator=repr(estimator),
                least=estimator.min_samples,
                got=self.num_samples,
            )
        if self.objective == "elbo":
            self._check_elbo_options()
        else:
            self._check_iwae_options(estimator)

    def _check_elbo_options(self) -> None:
        if self.iw_k != 1:
            raise SettingsError(
                f"iw_k={self.iw_k} applies to the IWAE objective: add objective='iwae' "
                "(the ELBO's samples per example are num_samples)"
            )
        if self.iw_gradient != "standard":
            raise SettingsError(
                f"iw_gradient={self.iw_gradient!r} applies to the IWAE objective: add "
                "objective='iwae' (with iw_k=1 it is the ELBO with that gradient)"
            )

    def _check_iwae_options(self, estimator: Estimator) -> None:
        given = []
        if estimator.name != "pathwise":
            given.append(f"estimator={estimator.name!r}")
        if self.num_samples != 1:
            given.append(f"num_samples={self.num_samples}")
        if given:
            raise SettingsError(
                f"{' and '.join(given)}: these options apply to the ELBO objective; the IWAE "
                "objective is reparameterized, with its k set by iw_k and its encoder "
                "gradient by iw_gradient"
            )

    @property
    def widths(self) -> list[int]:
        """The hidden widths as a list."""
        return [self.hidden] if isinstance(self.hidden, int) else list(self.hidden)

    @property
    def samples_per_example(self) -> int:
        """Posterior samples drawn per example in a training step (what memory scales with)."""
        return self.iw_k if self.objective == "iwae" else self.num_samples
