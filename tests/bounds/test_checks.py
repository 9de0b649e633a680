"""``iwae_bound`` checks its log joint as ``expectation`` checks its cost.

Under ``strict()`` a log joint without a gradient path to its samples raises; a
nan or inf log joint raises where ``expectation`` would raise on such a cost,
with the same ``check_finite`` choice, and no host read when it is off.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch.distributions import Normal

import reparam
from reparam import GradientCutError, iwae_bound, strict
from reparam.estimators import CostError
from tests.host_reads import HostReads

LogJoint = Callable[[torch.Tensor], torch.Tensor]


def _mu() -> torch.Tensor:
    return torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("gradient", ["standard", "stl", "dreg"])
def test_a_detaching_log_joint_raises_inside_strict(gradient: str) -> None:
    with strict(), pytest.raises(GradientCutError) as caught:
        iwae_bound(lambda z: -(z.detach() ** 2), Normal(_mu(), 1.0), 4, gradient)  # type: ignore[arg-type]
    assert caught.value.parameter == "loc"
    assert str(caught.value).startswith("iwae_bound(log_joint, Normal) cuts the gradient")


def test_the_detached_gradient_is_set_and_wrong_outside_strict() -> None:
    """What the check guards against: no error, a gradient, the wrong one."""
    mu = _mu()
    torch.manual_seed(0)
    iwae_bound(lambda z: -(z.detach() ** 2), Normal(mu, 1.0), 4).sum().backward()
    cut = mu.grad.clone()  # type: ignore[union-attr]
    mu.grad = None
    torch.manual_seed(0)
    iwae_bound(lambda z: -(z**2), Normal(mu, 1.0), 4).sum().backward()
    assert not torch.allclose(cut, mu.grad)  # type: ignore[arg-type]


def test_log_joints_with_a_path_or_needing_none_pass_inside_strict() -> None:
    mu = _mu()
    with strict():
        iwae_bound(lambda z: -(z**2), Normal(mu, 1.0), 4).sum().backward()
        iwae_bound(lambda z: -(z.detach() ** 2), Normal(torch.zeros(2), 1.0), 4)
        with torch.no_grad():
            iwae_bound(lambda z: -(z.detach() ** 2), Normal(mu, 1.0), 4)
    assert mu.grad is not None


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_log_joint_raises_like_a_cost(bad: float) -> None:
    with pytest.raises(CostError, match=r"log_joint returned 4 non-finite value\(s\)"):
        iwae_bound(lambda z: z * bad, Normal(_mu()[0], 1.0), 4)
    with pytest.raises(CostError, match="f returned"):  # the same case in expectation
        reparam.expectation(lambda z: z * bad, Normal(_mu()[0], 1.0), "pathwise", 4)


def _nan(z: torch.Tensor) -> torch.Tensor:
    return z * float("nan")


def _unvalidated(mu: torch.Tensor) -> Normal:
    return Normal(mu, 1.0, validate_args=False)  # torch's validation reads on the host


def test_check_finite_false_skips_the_check_without_a_host_read() -> None:
    with HostReads() as reads:
        value = iwae_bound(_nan, _unvalidated(_mu()), 4, check_finite=False)
    assert reads.ops == []
    assert torch.isnan(value).all()
    # the check's read is what check_finite=True asks for
    with HostReads() as reads, pytest.raises(CostError):
        iwae_bound(_nan, _unvalidated(_mu()), 4, check_finite=True)
    assert reads.ops


def test_inside_strict_the_log_joint_is_checked_unless_turned_off() -> None:
    """Inside strict() the check runs on every device; an explicit False still wins."""
    mu = _mu()
    with strict(), pytest.raises(CostError):
        iwae_bound(_nan, Normal(mu, 1.0), 4)
    with strict():
        iwae_bound(_nan, Normal(mu, 1.0), 4, check_finite=False)
