"""Models trained with reparam's estimators."""

from reparam.models.vae import GaussianVAE as GaussianVAE
