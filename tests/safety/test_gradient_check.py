"""``reparam.check_gradients``: cut and wrong gradients that ``strict()`` cannot see."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, Normal

import reparam
from reparam import GradientCheckError, check_gradients


class Model(nn.Module):
    """A Gaussian VAE in miniature: the encoder gives the posterior's mean and log-scale."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.Linear(3, 4).double()
        self.dec = nn.Linear(2, 3).double()
        self.x = torch.randn(5, 3, dtype=torch.float64)

    def log_joint(self, detach: bool) -> reparam.bounds._iwae.LogJoint:
        def log_p(z: Tensor) -> Tensor:
            z = z.detach() if detach else z
            prior = Normal(0.0, 1.0).log_prob(z).sum(-1)
            return prior + Normal(self.dec(z), 1.0).log_prob(self.x).sum(-1)

        return log_p

    def posterior(self) -> Independent:
        loc, log_scale = self.enc(self.x).chunk(2, dim=-1)
        return Independent(Normal(loc, log_scale.exp()), 1)

    def iwae_loss(self, detach: bool = False) -> Tensor:
        q = self.posterior()
        return -reparam.iwae_bound(self.log_joint(detach), q, 4).sum()

    def hand_written_loss(self, detach: bool = False) -> Tensor:
        z = self.posterior().rsample()
        z = z.detach() if detach else z
        return ((self.dec(z) - self.x) ** 2).sum()


def test_both_silent_cuts_are_caught_and_a_correct_model_raises_no_alarm() -> None:
    model = Model()
    # correct: neither check finds anything, for either loss
    for loss in (model.iwae_loss, model.hand_written_loss):
        result = check_gradients(loss, model, finite_difference=True)
        assert result.ok and result.checked == ("enc.weight", "enc.bias", "dec.weight", "dec.bias")
    # a .detach() in a hand-written loss: enc.weight.grad stays None, silently
    model.hand_written_loss(detach=True).backward()
    assert model.enc.weight.grad is None
    with pytest.raises(GradientCheckError) as caught:
        check_gradients(lambda: model.hand_written_loss(detach=True), model)
    found = {f.parameter: f.kind for f in caught.value.check.findings}  # type: ignore[attr-defined]
    assert found == {"enc.weight": "cut", "enc.bias": "cut"}
    assert "enc.weight: gradient" in str(caught.value)
    # a .detach() inside iwae_bound's log joint: the gradient is set, and wrong
    model.zero_grad()
    model.iwae_loss(detach=True).backward()
    assert model.enc.weight.grad is not None and model.enc.weight.grad.any()
    result = check_gradients(
        lambda: model.iwae_loss(detach=True), model, finite_difference=True, raise_error=False
    )
    found = {f.parameter: f.kind for f in result.findings}
    assert found == {"enc.weight": "mismatch", "enc.bias": "mismatch"}


def test_a_parameter_that_does_not_influence_the_loss_is_not_reported() -> None:
    used = torch.tensor([1.0, 2.0], requires_grad=True)
    unused = torch.tensor(3.0, requires_grad=True)
    dead = torch.tensor(-1.0, requires_grad=True)  # relu(dead * ...) is zero around it
    check = check_gradients(lambda: (used**2).sum() + torch.relu(dead * 2.0), [used, unused, dead])
    assert check.ok and check.checked == ("params[0]", "params[1]", "params[2]")


def test_a_score_function_loss_passes_and_a_discrete_cut_is_left_to_strict() -> None:
    """A discrete sample barely moves under a small step: check 1 cannot see that cut."""
    logits = torch.tensor([0.2, -0.4, 1.0], dtype=torch.float64, requires_grad=True)

    def right() -> Tensor:
        return reparam.expectation(
            lambda b: ((b - 0.3) ** 2).sum(-1), Independent(Bernoulli(logits=logits), 1), "score"
        )

    def wrong() -> Tensor:  # .sample() has no gradient path: logits.grad stays None
        return ((Bernoulli(logits=logits).sample() - 0.3) ** 2).sum()

    assert check_gradients(right, {"logits": logits}).ok
    assert check_gradients(wrong, {"logits": logits}).ok  # the documented blind spot
    with reparam.strict(), pytest.raises(reparam.GradientCutError):
        wrong()


def test_the_random_state_and_the_parameters_are_left_as_they_were() -> None:
    model = Model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    torch.manual_seed(9)
    expected = torch.rand(2)
    torch.manual_seed(9)
    check_gradients(model.iwae_loss, model, finite_difference=True, replicates=4)
    assert torch.equal(torch.rand(2), expected)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name])


@pytest.mark.parametrize(
    ("loss", "params", "message"),
    [
        (lambda: torch.ones(2, requires_grad=True), None, "must return a scalar tensor"),
        (lambda: torch.ones(()), [], "holds no tensor"),
        (lambda: torch.ones(()), [torch.ones(2)], "requires grad"),
        (lambda: torch.ones(()), [torch.ones(2, requires_grad=True) * 2], "computed from"),
    ],
)
def test_bad_input(loss: object, params: object, message: str) -> None:
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match=message):
        check_gradients(loss, [w] if params is None else params)  # type: ignore[arg-type]
