"""``reparam.strict()``: sampling that would cut a gradient raises; nothing else changes."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Categorical,
    Dirichlet,
    Distribution,
    Gamma,
    Independent,
    LogNormal,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    TransformedDistribution,
)
from torch.distributions.transforms import AffineTransform
from torch.overrides import _get_current_function_mode_stack

import reparam
import reparam.distributions
from reparam import GradientCutError, strict
from reparam.distributions import (
    HypersphericalUniform,
    MixtureSameFamily,
    TruncatedNormal,
    VonMises,
    VonMisesFisher,
)
from reparam.models.dvae import DiscreteVAE


def _leaf(value: object) -> torch.Tensor:
    return torch.tensor(value, requires_grad=True)


DISTRIBUTIONS = [
    pytest.param(lambda: Normal(0.0, _leaf(1.0)), "Normal.sample()", "scale", id="Normal"),
    pytest.param(lambda: Gamma(_leaf(2.0), 1.0), "Gamma.sample()", "concentration", id="Gamma"),
    pytest.param(
        lambda: Bernoulli(logits=_leaf([0.1, 0.2])), "Bernoulli.sample()", "logits", id="Bernoulli"
    ),
    pytest.param(
        lambda: Categorical(probs=_leaf([0.2, 0.8])), "Categorical.sample()", "probs", id="Cat"
    ),
    pytest.param(
        lambda: OneHotCategorical(logits=_leaf([0.0, 1.0])),
        "OneHotCategorical.sample()",
        "logits",
        id="OneHotCategorical",
    ),
    pytest.param(
        lambda: Dirichlet(_leaf([1.0, 2.0])), "Dirichlet.sample()", "concentration", id="Dirichlet"
    ),
    pytest.param(
        lambda: MultivariateNormal(_leaf([0.0, 0.0]), torch.eye(2)),
        "MultivariateNormal.sample()",
        "loc",
        id="MultivariateNormal",
    ),
    pytest.param(lambda: LogNormal(_leaf(0.0), 1.0), "LogNormal.sample()", "loc", id="LogNormal"),
    pytest.param(
        lambda: TransformedDistribution(Normal(0.0, 1.0), [AffineTransform(0.0, _leaf(2.0))]),
        "TransformedDistribution.sample()",
        "transforms[0].scale",
        id="affine-transform",
    ),
]


@pytest.mark.parametrize(("make", "call", "parameter"), DISTRIBUTIONS)
def test_sample_with_a_parameter_requiring_grad_raises(
    make: Callable[[], Distribution], call: str, parameter: str
) -> None:
    dist = make()
    with strict(), pytest.raises(GradientCutError) as caught:
        dist.sample()
    error = caught.value
    assert (error.call, error.parameter) == (call, parameter)
    assert "without a gradient path" in error.reason
    assert "rsample()" in error.fix and "estimator='score'" in error.fix
    assert str(error).startswith(f"{call} cuts the gradient to '{parameter}'")


SAMPLERS = [
    pytest.param(
        lambda: torch.normal(torch.zeros(3), _leaf([1.0, 1.0, 1.0])), "std", id="normal-std"
    ),
    pytest.param(lambda: torch.normal(_leaf([0.0, 1.0]), 1.0), "mean", id="normal-mean"),
    pytest.param(lambda: torch.bernoulli(_leaf([0.3, 0.6])), "input", id="bernoulli"),
    pytest.param(lambda: _leaf([0.3, 0.6]).bernoulli(), "input", id="Tensor.bernoulli"),
    pytest.param(lambda: torch.poisson(_leaf([1.0, 4.0])), "input", id="poisson"),
    pytest.param(lambda: torch.multinomial(_leaf([0.3, 0.7]), 2), "input", id="multinomial"),
]


@pytest.mark.parametrize(("draw", "parameter"), SAMPLERS)
def test_tensor_samplers_with_inputs_requiring_grad_raise(
    draw: Callable[[], torch.Tensor], parameter: str
) -> None:
    with strict(), pytest.raises(GradientCutError) as caught:
        draw()
    error = caught.value
    assert error.parameter == parameter
    assert "not differentiable in its inputs" in error.reason
    assert "randn_like" in error.fix


def test_normal_with_a_grad_std_really_gives_a_silent_zero() -> None:
    """What strict() guards against: outside it, ``std`` gets a zero gradient, silently."""
    std = _leaf([1.0, 2.0])
    mean = _leaf([0.0, 0.0])
    torch.normal(mean, std).sum().backward()
    assert std.grad is None or bool((std.grad == 0).all())


def test_reparameterized_and_gradient_free_sampling_pass() -> None:
    scale = _leaf(1.5)
    with strict():
        assert Normal(0.0, scale).rsample((4,)).requires_grad
        assert Gamma(_leaf(2.0), 1.0).rsample().requires_grad
        assert Dirichlet(_leaf([1.0, 2.0])).rsample().requires_grad
        Normal(0.0, 1.0).sample((3,))
        Bernoulli(logits=torch.zeros(2)).sample()
        torch.normal(torch.zeros(2), torch.ones(2))
        torch.bernoulli(torch.full((2,), 0.5))
        with torch.no_grad():
            torch.normal(torch.zeros(2), scale.expand(2))
        torch.randn(3)


@pytest.mark.parametrize("estimator", ["pathwise", "score", "score-loo", "mvd"])
def test_estimators_work_inside_strict(estimator: str) -> None:
    """The score function and the measure-valued estimator sample without a path on purpose."""
    mu = torch.zeros(3, requires_grad=True)
    with strict():
        reparam.expectation(lambda z: z**2, Normal(mu, 1.0), estimator, 4).sum().backward()
        with pytest.raises(GradientCutError):  # the deliberate cut does not leak out
            Normal(mu, 1.0).sample()
    assert mu.grad is not None


def test_score_function_on_a_discrete_distribution_inside_strict() -> None:
    logits = torch.zeros(3, requires_grad=True)
    with strict():
        reparam.expectation(lambda z: z, Bernoulli(logits=logits), "score", 2).sum().backward()
    assert logits.grad is not None


def test_outside_the_context_nothing_is_changed() -> None:
    before = (torch.normal, torch.bernoulli, Distribution.sample, Normal.sample)
    assert not _get_current_function_mode_stack()
    with strict():
        assert (torch.normal, torch.bernoulli, Distribution.sample, Normal.sample) == before
        assert len(_get_current_function_mode_stack()) == 1
    assert (torch.normal, torch.bernoulli, Distribution.sample, Normal.sample) == before
    assert not _get_current_function_mode_stack()
    Normal(0.0, _leaf(1.0)).sample()  # no error outside


def test_the_mode_is_removed_when_the_body_raises() -> None:
    with pytest.raises(GradientCutError), strict():
        Normal(0.0, _leaf(1.0)).sample()
    assert not _get_current_function_mode_stack()


@pytest.mark.slow
def test_importing_reparam_patches_nothing() -> None:
    """In a fresh interpreter: the same torch objects before and after ``import reparam``."""
    script = """
import torch
from torch.distributions import Distribution, Normal
from torch.overrides import _get_current_function_mode_stack
names = ["normal", "bernoulli", "poisson", "multinomial", "randn", "rand"]
before = [getattr(torch, n) for n in names] + [Distribution.sample, Normal.sample,
          Normal.rsample, torch.Tensor.bernoulli, torch.Tensor.normal_]
import reparam
after = [getattr(torch, n) for n in names] + [Distribution.sample, Normal.sample,
         Normal.rsample, torch.Tensor.bernoulli, torch.Tensor.normal_]
assert all(a is b for a, b in zip(before, after)), "torch was patched"
assert not _get_current_function_mode_stack(), "a torch function mode is active"
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


# --- the distributions of reparam.distributions ------------------------------------


def _north() -> torch.Tensor:
    return torch.tensor([0.0, 0.0, 1.0])


def _mixture(logits: torch.Tensor, component: Distribution) -> MixtureSameFamily:
    return MixtureSameFamily(Categorical(logits=logits), component)


OUR_DISTRIBUTIONS = [
    pytest.param(lambda: VonMises(_leaf(0.5), torch.tensor(2.0)), "loc", id="VonMises-loc"),
    pytest.param(
        lambda: VonMises(torch.tensor(0.5), _leaf(2.0)), "concentration", id="VonMises-kappa"
    ),
    pytest.param(
        lambda: VonMisesFisher(_leaf([0.0, 0.0, 1.0]), torch.tensor(5.0)), "loc", id="vMF-loc"
    ),
    pytest.param(lambda: VonMisesFisher(_north(), _leaf(5.0)), "concentration", id="vMF-kappa"),
    pytest.param(lambda: TruncatedNormal(_leaf(0.2), 1.0, -1.0, 2.0), "loc", id="TN-loc"),
    pytest.param(lambda: TruncatedNormal(0.2, _leaf(1.0), -1.0, 2.0), "scale", id="TN-scale"),
    pytest.param(lambda: TruncatedNormal(0.2, 1.0, -1.0, _leaf(2.0)), "high", id="TN-high"),
    pytest.param(
        lambda: _mixture(_leaf([0.0, 1.0]), Normal(torch.tensor([-1.0, 1.0]), 1.0)),
        "mixture_distribution.logits",
        id="mixture-logits",
    ),
    pytest.param(
        lambda: _mixture(torch.zeros(2), Normal(_leaf([-1.0, 1.0]), 1.0)),
        "component_distribution.loc",
        id="mixture-loc",
    ),
    pytest.param(
        lambda: _mixture(torch.zeros(2), Independent(Normal(_leaf([[0.0, 1.0]] * 2), 1.0), 1)),
        "component_distribution.loc",
        id="mixture-diagonal",
    ),
    pytest.param(
        lambda: _mixture(torch.zeros(2), VonMises(torch.tensor([0.0, 2.0]), _leaf([1.0, 3.0]))),
        "component_distribution.concentration",
        id="mixture-von-mises",
    ),
]
PARAMETER_FREE = [lambda: HypersphericalUniform(3, batch_shape=(2,))]


@pytest.mark.parametrize(("make", "parameter"), OUR_DISTRIBUTIONS)
def test_our_distributions_sample_raises_and_rsample_passes(
    make: Callable[[], Distribution], parameter: str
) -> None:
    torch.manual_seed(0)
    dist = make()
    call = f"{type(dist).__name__}.sample()"
    with strict():
        assert dist.rsample((2,)).requires_grad
        with pytest.raises(GradientCutError) as caught:
            dist.sample((2,))
    error = caught.value
    assert (error.call, error.parameter) == (call, parameter)
    assert "rsample()" in error.fix
    assert str(error).startswith(f"{call} cuts the gradient to '{parameter}'")


def test_a_distribution_without_parameters_samples_freely() -> None:
    for make in PARAMETER_FREE:
        with strict():
            make().sample((2,))
            make().rsample((2,))


def test_every_distribution_of_the_package_is_covered() -> None:
    public = {
        name
        for name, value in vars(reparam.distributions).items()
        if isinstance(value, type) and issubclass(value, Distribution)
    }
    made = [param.values[0]() for param in OUR_DISTRIBUTIONS] + [m() for m in PARAMETER_FREE]
    assert {type(dist).__name__ for dist in made} == public


# --- no gradient wanted: no alarm -------------------------------------------------

NO_GRADIENT_WANTED = [
    pytest.param(torch.no_grad, id="no_grad"),
    pytest.param(torch.inference_mode, id="inference_mode"),
    pytest.param(lambda: torch.set_grad_enabled(False), id="set_grad_enabled"),
]


@pytest.mark.parametrize("no_gradient", NO_GRADIENT_WANTED)
@pytest.mark.parametrize(
    "make", [pytest.param(p.values[0], id=p.id) for p in [*DISTRIBUTIONS, *OUR_DISTRIBUTIONS]]
)
def test_sample_where_no_gradient_is_wanted_passes(
    make: Callable[[], Distribution],
    no_gradient: Callable[[], AbstractContextManager[None]],
) -> None:
    torch.manual_seed(0)
    dist = make()
    with strict(), no_gradient():
        dist.sample((2,))
        torch.normal(torch.zeros(2), _leaf([1.0, 1.0]))


def test_the_mode_a_sample_is_called_in_decides() -> None:
    """Gradients switched back on inside ``no_grad`` are wanted again."""
    loc = _leaf([0.0, 1.0])
    with strict(), torch.no_grad():
        Normal(loc, 1.0).sample()
        with torch.enable_grad(), pytest.raises(GradientCutError):
            Normal(loc, 1.0).sample()
        with torch.enable_grad(), pytest.raises(GradientCutError):
            VonMises(loc, 2.0).sample()  # sample() decorated with @torch.no_grad()
        Bernoulli(logits=loc).sample()  # the mode is the user's again


def test_the_discrete_vae_trains_under_strict() -> None:
    """The default model draws its reported loss under ``no_grad``: that is no cut."""
    torch.manual_seed(0)
    model = DiscreteVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(8, 784).round()
    before = [p.detach().clone() for p in model.parameters()]
    with strict():
        for _ in range(3):
            optimizer.zero_grad()
            loss = model.loss(x).mean()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            assert bool(torch.isfinite(model.loss(x)).all())
            model.log_weights(x, k=2)
    assert all(
        not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True)
    )


@pytest.mark.parametrize(
    ("make", "f"),
    [
        pytest.param(lambda: VonMisesFisher(_north(), _leaf(5.0)), lambda z: z[..., 2], id="vMF"),
        pytest.param(OUR_DISTRIBUTIONS[-1].values[0], lambda z: z.cos(), id="mixture"),
    ],
)
def test_score_function_on_our_distributions_inside_strict(
    make: Callable[[], Distribution], f: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    """Their ``sample()`` inside the estimator is a deliberate cut."""
    dist = make()
    with strict():
        reparam.expectation(f, dist, "score", 2).sum().backward()


# --- a pathwise cost that detaches its samples -------------------------------------


def _detaching(w: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda z: (z.detach() - w) ** 2


def test_a_detaching_cost_leaves_the_gradient_none_outside_strict() -> None:
    """What the check below guards against."""
    mu, w = _leaf([0.0, 1.0]), _leaf([1.0, 1.0])
    reparam.expectation(_detaching(w), Normal(mu, 1.0), "pathwise").sum().backward()
    assert mu.grad is None and w.grad is not None


@pytest.mark.parametrize(
    "f",
    [
        pytest.param(_detaching(_leaf([1.0, 1.0])), id="detach"),
        pytest.param(lambda z: (z > 0).double(), id="comparison"),
        pytest.param(lambda z: torch.as_tensor(z.detach().numpy() ** 2), id="numpy"),
    ],
)
def test_a_cost_without_a_path_to_its_samples_raises(
    f: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    mu = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    with strict(), pytest.raises(GradientCutError) as caught:
        reparam.expectation(f, Normal(mu, 1.0), "pathwise")
    error = caught.value
    assert error.parameter == "loc"
    assert "f does not depend on its samples through a gradient path" in error.reason
    assert str(error).startswith("expectation(f, Normal, estimator='pathwise') cuts")
    with strict(), pytest.raises(GradientCutError):
        reparam.per_sample_gradients(f, Normal(mu, 1.0), [mu], "pathwise", 2)


def test_costs_that_keep_a_path_or_need_none_pass() -> None:
    mu, w = _leaf([0.0, 1.0]), _leaf([1.0, 1.0])
    with strict():
        # one term detached, the other not: there is a path
        reparam.expectation(lambda z: z.detach() * w + z**2, Normal(mu, 1.0)).sum().backward()
        # the score function needs no path through the samples
        reparam.expectation(_detaching(w), Normal(mu, 1.0), "score").sum().backward()
        # no parameter requires grad, or no gradient is wanted
        reparam.expectation(_detaching(w), Normal(torch.zeros(2), 1.0), "pathwise")
        with torch.no_grad():
            reparam.expectation(_detaching(w), Normal(mu, 1.0), "pathwise")
        # a path through a reparameterized sampler of ours
        vmf = VonMisesFisher(_north(), _leaf(5.0))
        reparam.expectation(lambda z: z[..., 2], vmf, "pathwise").sum().backward()
    assert mu.grad is not None


def test_the_path_check_costs_nothing_outside_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("the graph was walked outside strict()")

    monkeypatch.setattr("reparam.estimators._pathwise.check_cost_path", fail)
    mu = _leaf([0.0, 1.0])
    reparam.expectation(_detaching(_leaf(1.0)), Normal(mu, 1.0), "pathwise")
    with strict(), pytest.raises(AssertionError, match="outside strict"):
        reparam.expectation(_detaching(_leaf(1.0)), Normal(mu, 1.0), "pathwise")


# --- threads ------------------------------------------------------------------------


def _sample_in_a_thread(enter_strict: bool) -> list[str]:
    loc = _leaf([0.0, 1.0])
    outcome: list[str] = []

    def draw() -> None:
        try:
            if enter_strict:
                with strict():
                    Normal(loc, 1.0).sample()
            else:
                Normal(loc, 1.0).sample()
            outcome.append("passed")
        except GradientCutError:
            outcome.append("raised")

    thread = threading.Thread(target=draw)
    thread.start()
    thread.join(timeout=30)
    return outcome


def test_strict_checks_only_the_thread_that_entered_it() -> None:
    with strict():
        assert _sample_in_a_thread(enter_strict=False) == ["passed"]
    assert _sample_in_a_thread(enter_strict=True) == ["raised"]
    assert not reparam.safety.is_strict()
