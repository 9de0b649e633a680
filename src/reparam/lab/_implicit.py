"""Problems for implicit reparameterization: Gamma and Dirichlet with polynomial costs.

PyTorch samples Gamma and Dirichlet by rejection and differentiates the samples
implicitly (Figurnov, Mohamed and Mnih, 2018), so these are the problems where
``pathwise`` means *implicit* pathwise. Polynomial costs have closed-form
expectations through the moments

    Gamma(alpha, beta):  E[z^k] = Gamma(alpha + k) / (Gamma(alpha) beta^k),
    Dirichlet(alpha):    E[prod_j z_j^k_j] = B(alpha + k) / B(alpha),

whose autograd gradients are the exact answers. Exact per-sample variances:

* Gamma: both estimators, by Gauss-Laguerre over ``w = beta z ~ Gamma(alpha, 1)``;
  the pathwise term for ``alpha`` is ``f'(z) (dw/dalpha) / beta`` with ``dw/dalpha``
  itself integrated (:func:`~reparam.lab._quadrature.standard_gamma_dalpha`);
* Dirichlet: the score function in closed form, since under the tilted
  ``Dirichlet(alpha + k)`` the score ``log z_j - psi(alpha_j) + psi(alpha_0)`` has
  known mean and variance (digamma and trigamma); the implicit pathwise
  variance of a Dirichlet has no such form and is left unknown.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Dirichlet, Gamma

from reparam.estimators import Cost
from reparam.lab._problem import Params, Problem, gradient_of, scalars
from reparam.lab._quadrature import gamma_rule, moments, standard_gamma_dalpha
from reparam.lab._quadrature import value_and_derivative as with_slope


def gamma_poly(concentration: float = 2.0, rate: float = 1.0) -> Problem:
    """``z ~ Gamma(alpha, beta)`` (concentration, rate), ``f(z) = (z - 1)^2``."""
    if concentration < 1:
        raise ValueError("gamma-poly integrates exactly for concentration >= 1 only")
    values = scalars(concentration=concentration, rate=rate)
    alpha, beta = concentration, rate

    def cost(z: Tensor) -> Tensor:
        return (z - 1).square()

    def build(p: Params) -> tuple[Cost, Gamma]:
        return cost, Gamma(p["concentration"], p["rate"])

    def objective(p: Params) -> Tensor:
        a, b = p["concentration"], p["rate"]
        return a * (a + 1) / b.square() - 2 * a / b + 1

    def pathwise() -> dict[str, Tensor]:
        w, weights = gamma_rule(alpha)
        _, slope = with_slope(cost, w / beta)
        terms = {"concentration": slope * standard_gamma_dalpha(w, alpha) / beta}
        terms["rate"] = -slope * w / beta**2
        return {n: moments(t, weights)[1] for n, t in terms.items()}

    def score() -> dict[str, Tensor]:
        w, weights = gamma_rule(alpha)
        f = cost(w / beta)
        psi = torch.special.digamma(torch.tensor(alpha, dtype=torch.float64))
        terms = {"concentration": f * (torch.log(w) - psi), "rate": f * (alpha / beta - w / beta)}
        return {n: moments(t, weights)[1] for n, t in terms.items()}

    return Problem(
        name="gamma-poly",
        summary=f"z ~ Gamma(concentration={alpha:g}, rate={beta:g}), f(z) = (z - 1)^2",
        values=values,
        build=build,
        exact_gradient=gradient_of(objective, values),
        per_sample_variances={"pathwise": pathwise, "score": score},
    )


def dirichlet_poly(concentration: tuple[float, ...] = (1.5, 2.0, 2.5)) -> Problem:
    """``z ~ Dirichlet(alpha)``, ``f(z) = sum_j (j + 1) z_j^2``."""
    values = {"concentration": torch.tensor(concentration, dtype=torch.float64)}
    size = len(concentration)
    coefficients = torch.arange(1, size + 1, dtype=torch.float64)
    exponents = 2 * torch.eye(size, dtype=torch.float64)  # monomial m is z_m^2

    def cost(z: Tensor) -> Tensor:
        return (coefficients * z.square()).sum(-1)

    def build(p: Params) -> tuple[Cost, Dirichlet]:
        return cost, Dirichlet(p["concentration"])

    def objective(p: Params) -> Tensor:
        return (coefficients * _log_moment(p["concentration"], exponents).exp()).sum()

    def score() -> dict[str, Tensor]:
        alpha = values["concentration"]
        pairs = exponents[:, None, :] + exponents[None, :, :]  # monomials of f^2
        weight = coefficients[:, None] * coefficients[None, :] * _log_moment(alpha, pairs).exp()
        tilted = alpha + pairs
        shift = _mean_log(tilted) - _mean_log(alpha)  # E'[score_j], [M, M, d]
        spread = torch.polygamma(1, tilted) - torch.polygamma(1, tilted.sum(-1, keepdim=True))
        second = (weight[..., None] * (shift.square() + spread)).sum((0, 1))
        gradient = gradient_of(objective, values)["concentration"]
        return {"concentration": second - gradient.square()}

    shown = ", ".join(f"{a:g}" for a in concentration)
    return Problem(
        name="dirichlet-poly",
        summary=f"z ~ Dirichlet(concentration=({shown})), f(z) = sum_j (j + 1) z_j^2",
        values=values,
        build=build,
        exact_gradient=gradient_of(objective, values),
        per_sample_variances={"score": score},
    )


def _log_moment(alpha: Tensor, k: Tensor) -> Tensor:
    """``log E[prod_j z_j^k_j]`` under ``Dirichlet(alpha)``, for exponents ``k [..., d]``."""
    total = alpha.sum(-1)
    return (
        (torch.lgamma(alpha + k) - torch.lgamma(alpha)).sum(-1)
        + torch.lgamma(total)
        - torch.lgamma(total + k.sum(-1))
    )


def _mean_log(alpha: Tensor) -> Tensor:
    """``E[log z_j] = psi(alpha_j) - psi(alpha_0)`` under ``Dirichlet(alpha)``."""
    return torch.digamma(alpha) - torch.digamma(alpha.sum(-1, keepdim=True))
