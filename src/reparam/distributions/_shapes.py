"""Shape types shared by the distributions."""

from __future__ import annotations

import torch

SampleShape = torch.Size | list[int] | tuple[int, ...]
"""What ``sample``/``rsample`` and ``expand`` accept as a shape."""
