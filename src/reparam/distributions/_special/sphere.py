"""The area of the unit sphere ``S^{d-1}`` in ``R^d``."""

from __future__ import annotations

import math


def log_sphere_area(dim: int) -> float:
    """``log |S^{d-1}| = log(2 pi^(d/2) / Gamma(d/2))``.

    >>> round(math.exp(log_sphere_area(3)), 10) == round(4 * math.pi, 10)
    True
    """
    return math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)
