"""The uniform distribution on the unit sphere ``S^{d-1}`` in ``R^d``."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.distributions._constraints import unit_vector
from reparam.distributions._shapes import SampleShape
from reparam.distributions._special.sphere import log_sphere_area


class HypersphericalUniform(Distribution):
    """Uniform on ``S^{d-1}``: density ``1 / |S^{d-1}|``, ``|S^{d-1}| = 2 pi^(d/2) / Gamma(d/2)``.

    The prior of hyperspherical VAEs (Davidson et al., 2018). It has no
    parameters, so its samples (normalized Gaussians) are trivially reparameterized.

    Args:
        dim: ``d >= 2``.
        batch_shape: batch shape of the distribution.
        dtype, device: of the samples.

    >>> import torch
    >>> from reparam.distributions import HypersphericalUniform
    >>> HypersphericalUniform(3).sample((2,)).shape
    torch.Size([2, 3])
    >>> round(HypersphericalUniform(3).entropy().item(), 4)  # log(4 pi)
    2.531
    """

    arg_constraints: dict[str, torch.distributions.constraints.Constraint] = {}  # noqa: RUF012
    support = unit_vector
    has_rsample = True

    def __init__(
        self,
        dim: int,
        batch_shape: SampleShape = (),
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"dim must be an int >= 2 (the sphere S^(dim-1) in R^dim), got {dim}")
        self._dtype = dtype if dtype is not None else torch.get_default_dtype()
        # torch's default device (``torch.set_default_device``) when none is given
        self._device = torch.device(device) if device is not None else torch.empty(0).device
        super().__init__(torch.Size(batch_shape), torch.Size([dim]), validate_args)

    @property
    def dim(self) -> int:
        return int(self.event_shape[0])

    def expand(
        self, batch_shape: SampleShape, _instance: Distribution | None = None
    ) -> HypersphericalUniform:
        new = self._get_checked_instance(HypersphericalUniform, _instance)
        new._dtype, new._device = self._dtype, self._device
        Distribution.__init__(new, torch.Size(batch_shape), self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: SampleShape = ()) -> Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        x = torch.randn(shape, dtype=self._dtype, device=self._device)
        return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        shape = torch.broadcast_shapes(value.shape[:-1], self.batch_shape)
        return value.new_full(shape, -log_sphere_area(self.dim))

    def entropy(self) -> Tensor:
        return torch.full(
            self.batch_shape, log_sphere_area(self.dim), dtype=self._dtype, device=self._device
        )

    @property
    def mean(self) -> Tensor:
        return torch.zeros(
            self.batch_shape + self.event_shape, dtype=self._dtype, device=self._device
        )

    @property
    def mode(self) -> Tensor:
        """Every point is a mode, so it is NaN (torch's convention, as ``Uniform.mode``)."""
        return torch.full(
            self.batch_shape + self.event_shape, torch.nan, dtype=self._dtype, device=self._device
        )

    @property
    def variance(self) -> Tensor:
        return torch.full(
            self.batch_shape + self.event_shape,
            1.0 / self.dim,
            dtype=self._dtype,
            device=self._device,
        )
