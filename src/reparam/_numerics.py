"""Numerics shared by the distributions, the lab and the models: constants and Gauss rules.

>>> x, w = legendre_rule(0.0, 2.0, 3)
>>> round(float((w * x**5).sum()), 12)  # exact up to degree 5: int_0^2 x^5 dx = 32/3
10.666666666667
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
"""``log sqrt(2 pi)``, the standard normal density's log normaliser."""


@functools.cache
def gauss_rule(kind: str, nodes: int) -> tuple[Tensor, Tensor]:
    """Nodes and weights of a classical Gauss rule (float64, CPU), once per process.

    ``kind`` is ``legendre`` (weight 1 on [-1, 1]), ``hermite_e`` (weight
    ``exp(-x^2 / 2)`` on the real line) or ``laguerre`` (weight ``exp(-x)`` on
    ``[0, inf)``). The nodes are the eigenvalues of the symmetric tridiagonal
    Jacobi matrix of the orthogonal polynomials' three-term recurrence; the
    weights are the weight function's total mass times the squared first
    components of the eigenvectors (Golub and Welsch, 1969). Computed with torch
    on one thread: numpy's rules call a multi-threaded eigensolver that can take
    seconds on a busy machine.
    """
    k = torch.arange(1, nodes, dtype=torch.float64)
    if kind == "legendre":
        diagonal, off, mass = (
            torch.zeros(nodes, dtype=torch.float64),
            k / (4 * k**2 - 1).sqrt(),
            2.0,
        )
    elif kind == "hermite_e":
        diagonal, off, mass = (
            torch.zeros(nodes, dtype=torch.float64),
            k.sqrt(),
            math.sqrt(2 * math.pi),
        )
    elif kind == "laguerre":
        diagonal, off, mass = 2 * torch.arange(nodes, dtype=torch.float64) + 1, k, 1.0
    else:
        raise ValueError(f"unknown Gauss rule {kind!r}; use legendre, hermite_e or laguerre")
    jacobi = torch.diag(diagonal) + torch.diag(off, 1) + torch.diag(off, -1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, vectors = torch.linalg.eigh(jacobi)
    finally:
        torch.set_num_threads(threads)
    return x, mass * vectors[0].square()


def legendre_rule(start: float, end: float, nodes: int) -> tuple[Tensor, Tensor]:
    """Gauss-Legendre nodes and weights on ``[start, end]`` (float64, CPU)."""
    x, w = gauss_rule("legendre", nodes)
    half = (end - start) / 2
    return start + half * (x + 1), half * w
