"""Models trained with reparam's estimators, and the families a training run can name."""

from collections.abc import Callable, Mapping
from types import MappingProxyType

from reparam.models._dvae_config import DVAEConfig as DVAEConfig
from reparam.models._vae_config import VAEConfig as VAEConfig
from reparam.models.dvae import DiscreteVAE as DiscreteVAE
from reparam.models.vae import GaussianVAE as GaussianVAE
from reparam.training import LatentVariableModel

MODEL_FAMILIES: Mapping[str, Callable[..., LatentVariableModel]] = MappingProxyType(
    {"vae": GaussianVAE, "dvae": DiscreteVAE}
)
"""Model family name (the command, ``reparam vae`` / ``reparam dvae``) -> its class."""

__all__ = ["CONFIGS", "MODEL_FAMILIES", "DVAEConfig", "DiscreteVAE", "GaussianVAE", "VAEConfig"]

CONFIGS: Mapping[str, type] = MappingProxyType({"vae": VAEConfig, "dvae": DVAEConfig})
"""Model family name -> its config class (the fields are its options)."""
