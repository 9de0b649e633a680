"""Pictures of a trained model: real PNGs, also from a test set smaller than a grid."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reparam.models import GaussianVAE
from reparam.runs.pictures import save_reconstructions
from tests.images import png_size


@pytest.mark.parametrize("images", [1, 7, 19, 20, 64])
def test_reconstructions_from_any_number_of_test_images(tmp_path: Path, images: int) -> None:
    torch.manual_seed(0)
    model = GaussianVAE(input_dim=49, hidden=8, latent_dim=2)
    path = save_reconstructions(model, torch.rand(images, 49), tmp_path / "r.png", (7, 7))
    width, height = png_size(path)
    # Two pairs of rows of 10 from 20 images on; below, one pair of rows of up to 10.
    rows, cols = (4, 10) if images >= 20 else (2, min(images, 10))
    inches = 6.0 * rows / cols + 0.4  # the figure's height for a 6-inch width
    assert height == pytest.approx(width * inches / 6.0, abs=2), (images, width, height)
