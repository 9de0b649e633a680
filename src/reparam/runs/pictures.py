"""Pictures of a trained model, written into its run folder.

* ``reconstructions.png``: test images (odd rows) above their reconstructions;
* ``samples.png``: decoded draws from the prior;
* ``latent_space.png`` (continuous 2-D codes in the plane only): the test codes
  coloured by digit, beside the decoder's output over a grid of prior quantiles;
* ``latent_sphere.png`` (codes on the sphere S^2 in R^3 only): the test codes
  coloured by digit in the Lambert azimuthal equal-area projection of each
  hemisphere (Snyder, 1987, "Map Projections: A Working Manual", ch. 24), so that
  equal areas of the sphere get equal areas of the picture.

Noise is drawn inside :func:`~reparam.training._rng.seeded`, so pictures are
reproducible and do not disturb training.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from reparam.plotting import new_figure, save_figure
from reparam.training._model import LatentVariableModel
from reparam.training._rng import seeded

__all__ = [
    "lambert_equal_area",
    "save_latent_space",
    "save_latent_sphere",
    "save_pictures",
    "save_reconstructions",
    "save_samples",
    "tile",
]


def tile(images: Tensor, rows: int, cols: int) -> Tensor:
    """``[rows * cols, H, W]`` -> one ``[rows * H, cols * W]`` image, row-major."""
    _, height, width = images.shape
    grid = images.reshape(rows, cols, height, width).permute(0, 2, 1, 3)
    return grid.reshape(rows * height, cols * width)


def _save_grid(grid: Tensor, path: Path, title: str) -> Path:
    figure = new_figure(1, width=6.0, height=6.0 * grid.shape[0] / grid.shape[1] + 0.4)
    ax = figure.axes[0]
    ax.imshow(grid.cpu().numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
    return save_figure(figure, path)


def save_reconstructions(
    model: LatentVariableModel, pixels: Tensor, path: Path, shape: tuple[int, int], cols: int = 10
) -> Path:
    """Two pairs of rows: ``cols`` test images each, their reconstructions below.

    With fewer than ``2 cols`` test images, one pair of rows of as many as there are.
    """
    rows = 2 if pixels.shape[0] >= 2 * cols else 1
    cols = min(cols, pixels.shape[0])
    x = pixels[: rows * cols]
    with torch.inference_mode():
        recon = model.reconstruct(x)
    pairs = torch.stack([x.reshape(rows, cols, -1), recon.reshape(rows, cols, -1)], dim=1)
    grid = tile(pairs.reshape(2 * rows * cols, *shape), 2 * rows, cols)
    title = "test images (rows 1, 3) and reconstructions (rows 2, 4)"
    return _save_grid(grid, path, title if rows == 2 else "test images and reconstructions")


def save_samples(
    model: LatentVariableModel, path: Path, shape: tuple[int, int], seed: int = 0, side: int = 10
) -> Path:
    """A ``side`` x ``side`` grid of decoded prior samples."""
    device = next(model.parameters()).device
    with seeded(seed, device), torch.inference_mode():
        images = model.decode(model.sample_prior(side * side))
    return _save_grid(tile(images.reshape(-1, *shape), side, side), path, "samples from the prior")


def save_latent_space(
    model: LatentVariableModel,
    pixels: Tensor,
    labels: Tensor,
    path: Path,
    shape: tuple[int, int],
    side: int = 20,
) -> Path:
    """Scatter of 2-D test codes by label, and the decoded manifold over N(0, I) quantiles."""
    if model.latent_dim != 2 or not model.continuous_latents or model.spherical_latents:
        raise ValueError("the latent-space picture needs continuous 2-D codes in the plane")
    with torch.inference_mode():
        codes = torch.cat([model.encode_mean(x) for x in pixels.split(1000)]).cpu()
        device = next(model.parameters()).device
        quantiles = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, side))
        z1, z2 = torch.meshgrid(quantiles, quantiles.flip(0), indexing="xy")
        grid_codes = torch.stack([z1, z2], dim=-1).reshape(-1, 2).to(device)
        images = model.decode(grid_codes).reshape(-1, *shape)
    figure = new_figure(2, width=5.5, height=5.2)
    scatter_ax, manifold_ax = figure.axes
    points = scatter_ax.scatter(
        codes[:, 0], codes[:, 1], c=labels.cpu(), cmap="tab10", s=2, vmin=-0.5, vmax=9.5
    )
    figure.colorbar(points, ax=scatter_ax, ticks=range(10), label="digit")
    scatter_ax.set(title="test codes (posterior means)", xlabel="z1", ylabel="z2")
    low, high = quantiles[0].item(), quantiles[-1].item()
    manifold_ax.imshow(
        tile(images.cpu(), side, side).numpy(),
        cmap="gray",
        vmin=0.0,
        vmax=1.0,
        extent=(low, high, low, high),
    )
    manifold_ax.set(title="decoded grid of prior quantiles", xlabel="z1", ylabel="z2")
    return save_figure(figure, path)


def lambert_equal_area(points: Tensor) -> tuple[Tensor, Tensor]:
    """Unit vectors ``[N, 3]`` -> plane coordinates ``[N, 2]`` and hemisphere ``[N]`` (bool).

    Each hemisphere is projected from its own pole (``+e3`` for ``z3 >= 0``, else
    ``-e3``): ``(x, y) = sqrt(2 / (1 + |z3|)) (z1, z2)``, which keeps areas and maps
    the hemisphere onto the disc of radius ``sqrt(2)``.

    >>> import torch
    >>> xy, north = lambert_equal_area(torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    >>> xy.tolist(), north.tolist()
    ([[0.0, 0.0], [1.4142135381698608, 0.0]], [True, True])
    """
    north = points[:, 2] >= 0
    factor = torch.sqrt(2.0 / (1.0 + points[:, 2].abs()))
    return points[:, :2] * factor[:, None], north


def save_latent_sphere(
    model: LatentVariableModel, pixels: Tensor, labels: Tensor, path: Path
) -> Path:
    """Test codes on S^2 by label: equal-area maps of the northern and southern hemispheres."""
    if model.latent_dim != 3 or not model.spherical_latents:
        raise ValueError("the sphere picture needs codes on the sphere in R^3")
    with torch.inference_mode():
        codes = torch.cat([model.encode_mean(x) for x in pixels.split(1000)]).cpu().float()
    xy, north = lambert_equal_area(codes)
    figure = new_figure(2, width=5.0, height=4.8)
    limit = 2.0**0.5
    for ax, keep, name in zip(figure.axes, (north, ~north), ("northern", "southern"), strict=True):
        points = ax.scatter(
            xy[keep, 0], xy[keep, 1], c=labels.cpu()[keep], cmap="tab10", s=2, vmin=-0.5, vmax=9.5
        )
        rim = torch.linspace(0, 2 * torch.pi, 200)
        ax.plot(limit * rim.cos(), limit * rim.sin(), color="0.5", linewidth=0.8)
        pole = "+z3" if name == "northern" else "-z3"
        ax.set(title=f"{name} hemisphere, centred on {pole} ({int(keep.sum())} codes)")
        ax.set(xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), aspect="equal", xlabel="z1", ylabel="z2")
    figure.colorbar(points, ax=figure.axes[1], ticks=range(10), label="digit")
    figure.suptitle("test codes (posterior mean directions), Lambert equal-area projection")
    return save_figure(figure, path)


def save_pictures(
    model: LatentVariableModel,
    pixels: Tensor,
    labels: Tensor,
    folder: Path,
    shape: tuple[int, int] = (28, 28),
    seed: int = 0,
) -> list[Path]:
    """All pictures that apply to ``model``; returns their paths."""
    model.eval()
    paths = [
        save_reconstructions(model, pixels, folder / "reconstructions.png", shape),
        save_samples(model, folder / "samples.png", shape, seed=seed),
    ]
    if model.latent_dim == 2 and model.continuous_latents and not model.spherical_latents:
        paths.append(save_latent_space(model, pixels, labels, folder / "latent_space.png", shape))
    if model.latent_dim == 3 and model.spherical_latents:
        paths.append(save_latent_sphere(model, pixels, labels, folder / "latent_sphere.png"))
    return paths
