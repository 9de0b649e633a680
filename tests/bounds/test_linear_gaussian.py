"""The bound and its gradients on the linear-Gaussian model, where answers are known.

``p(z) = N(mu, 1)``, ``p(x | z) = N(z, s^2)``, ``q = N(a x + b, c^2)``: ``log p(x)``,
the exact posterior and the ELBO are closed forms (:mod:`reparam.lab._iwae_model`).
Statistical checks are z-tests at a false-failure rate of 1e-4 per test (Bonferroni
over the values checked, see ``tests/stats.py``), on fixed seeds; the deliberately
wrong DReG variants of ``tests/bounds/wrong.py`` go through the same checks and
must fail them.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam import iwae_bound
from reparam.bounds._iwae import Gradient, LogJoint
from reparam.lab import LinearGaussian
from reparam.lab._iwae_model import elbo
from tests.bounds import wrong
from tests.bounds.helpers import Bound, gaussian_gradients
from tests.stats import FALSE_FAILURE_RATE, mean_z_scores, z_threshold

MODEL = LinearGaussian()
TRIALS = 4000
INFERENCE = slice(0, 3)
GENERATIVE = slice(3, 5)
KS = (1, 5, 50)


def choice(gradient: Gradient) -> Bound:
    def bound(log_joint: LogJoint, q: Distribution, k: int) -> Tensor:
        return iwae_bound(log_joint, q, num_samples=k, gradient=gradient)

    return bound


@functools.cache
def grads(bound: Bound, k: int, seed: int = 0, model: LinearGaussian = MODEL) -> Tensor:
    return gaussian_gradients(model, bound, k, TRIALS, seed)[1]


STANDARD, STL, DREG = choice("standard"), choice("stl"), choice("dreg")


DRAWS = 100_000
"""Draws per k in the bound's check: ``DRAWS / k`` independent estimates of ``L_k``."""


def test_bound_is_below_log_evidence_grows_with_k_and_approaches_it() -> None:
    log_px = MODEL.log_evidence()
    means, ses = [], []
    for k in (1, 5, 50, 500):
        values = gaussian_gradients(MODEL, STANDARD, k, DRAWS // k, seed=k)[0]
        means.append(float(values.mean()))
        ses.append(float(values.std()) / math.sqrt(values.numel()))
    limit = z_threshold(FALSE_FAILURE_RATE, 4 + 2 + 1)
    # Below log p(x): one-sided, the mean may exceed it by no more than noise.
    assert all((m - log_px) / se < limit for m, se in zip(means, ses, strict=True))
    # Grows with k: the steps 1 -> 5 -> 50 are resolved (independent draws per k;
    # 50 -> 500, about 1e-3, is not at this budget).
    for i in range(2):
        gap = means[i + 1] - means[i]
        assert gap / math.hypot(ses[i], ses[i + 1]) > limit, (means, ses)
    # Approaches it: L_k = log p(x) - O(1/k) (the gap at k = 50 is about 1.5e-3).
    assert log_px - means[3] < 2e-3 < (log_px - means[0]) / 40, (means, log_px)
    # k = 1 is the ELBO, whose closed form is known.
    exact = float(elbo(MODEL.values(), MODEL.x))
    assert abs(means[0] - exact) / ses[0] < limit


def assert_same_mean(left: Tensor, right: Tensor, count: int) -> None:
    """Paired z-test (same draws): the per-trial differences have mean zero."""
    z = mean_z_scores(left - right, 0.0)
    limit = z_threshold(FALSE_FAILURE_RATE, count)
    assert bool((z.abs() <= limit).all()), f"means differ by {z.abs().max():.1f} se > {limit:.1f}"


def check_dreg_mean(dreg: Bound) -> None:
    for k in KS:
        assert_same_mean(grads(STANDARD, k)[:, INFERENCE], grads(dreg, k)[:, INFERENCE], 9)


def test_dreg_has_the_standard_mean_at_k_1_5_50() -> None:
    check_dreg_mean(DREG)


def test_unsquared_dreg_fails_the_mean_check() -> None:
    with pytest.raises(AssertionError, match="means differ"):
        check_dreg_mean(wrong.unsquared_dreg)


def test_stl_has_the_standard_mean_at_k_1_only() -> None:
    assert_same_mean(grads(STANDARD, 1)[:, INFERENCE], grads(STL, 1)[:, INFERENCE], 3)
    with pytest.raises(AssertionError, match="means differ"):  # biased for L_5
        assert_same_mean(grads(STANDARD, 5)[:, INFERENCE], grads(STL, 5)[:, INFERENCE], 3)


@pytest.mark.parametrize("bound", [STANDARD, STL, DREG], ids=["standard", "stl", "dreg"])
def test_every_choice_is_unbiased_for_the_elbo_at_k_1(bound: Bound) -> None:
    exact = torch.stack(list(MODEL.elbo_gradient().values()))
    z = mean_z_scores(grads(bound, 1), exact)
    assert bool((z.abs() <= z_threshold(FALSE_FAILURE_RATE, 5)).all()), z


def inference_at_posterior(bound: Bound, k: int) -> Tensor:
    return gaussian_gradients(MODEL.exact_posterior(), bound, k, 200, seed=1)[1][:, INFERENCE]


@pytest.mark.parametrize("k", [1, 5, 50])
def test_stl_and_dreg_vanish_per_sample_at_the_exact_posterior(k: int) -> None:
    for bound in (STL, DREG):
        assert inference_at_posterior(bound, k).abs().max() < 1e-12
    assert inference_at_posterior(STANDARD, k).abs().max() > 0.1


def test_attached_dreg_does_not_vanish_at_the_exact_posterior() -> None:
    assert inference_at_posterior(wrong.attached_dreg, 5).abs().max() > 0.1


def check_same_generative_gradient(bound: Bound, k: int) -> None:
    reference = grads(STANDARD, k)[:, GENERATIVE]
    torch.testing.assert_close(grads(bound, k)[:, GENERATIVE], reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k", KS)
def test_generative_gradient_is_the_same_for_every_choice(k: int) -> None:
    for bound in (STL, DREG):
        check_same_generative_gradient(bound, k)


def test_squaring_every_weight_changes_the_generative_gradient() -> None:
    check_same_generative_gradient(wrong.all_squared_dreg, 1)  # v = 1: no change at k = 1
    with pytest.raises(AssertionError):
        check_same_generative_gradient(wrong.all_squared_dreg, 5)
