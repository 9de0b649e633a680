"""``reparam.lab.compare``: results, recommendation, reproducibility, user problems, errors."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Distribution,
    Independent,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
)

import reparam
from reparam.distributions import MixtureSameFamily, VonMisesFisher
from reparam.estimators import LeaveOneOut, ScoreFunction
from reparam.lab import PROBLEMS, Comparison, Row, compare, compare_problem, get_problem
from reparam.lab._measurement import MAX_TRIALS, PILOT_TRIALS, trials_needed
from tests.stats import assert_mean, z_threshold


def strip_times(result: Comparison) -> list[dict[str, object]]:
    return [
        {k: v for k, v in row.to_dict().items() if k not in ("time", "work_variance")}
        for row in result.rows
    ]


def test_rows_cover_every_estimator_sample_count_and_parameter() -> None:
    result = compare_problem("quadratic", ["pathwise", "score"], num_samples=[1, 4], trials=500)
    keys = [(r.estimator, r.num_samples, r.parameter) for r in result.rows]
    assert keys == [
        (e, s, p) for e in ("pathwise", "score") for s in (1, 4) for p in ("mu", "sigma")
    ]
    row = result.row("score", 4, "mu")
    assert row.trials == 500 and row.unbiased and row.exact == pytest.approx(-4.0)
    assert row.exact_variance == pytest.approx(87.0 / 4, rel=1e-9)
    assert row.bias == pytest.approx(row.mean - row.exact)
    assert row.bias_se == pytest.approx(math.sqrt(row.variance / 500))
    assert row.snr == pytest.approx(abs(row.mean) / math.sqrt(row.variance))
    assert row.work_variance == pytest.approx(row.variance * row.time)
    assert 0 < row.time < 1
    q = row.quantiles
    assert list(q) == sorted(q)
    estimates = result.estimates[("score", 4)][:, 0].double()
    assert row.mean == pytest.approx(float(estimates.mean()))
    assert row.variance == pytest.approx(float(estimates.var()))


def test_reproducible_for_a_seed_and_different_across_seeds() -> None:
    def run(seed: int) -> Comparison:
        # Default (adaptive) trials: the top-ups are reproducible too.
        return compare_problem("bump", ["pathwise", "score"], num_samples=[1, 2], seed=seed)

    first, again, other = run(3), run(3), run(4)
    assert strip_times(first) == strip_times(again)
    assert strip_times(first) != strip_times(other)


def test_adding_an_estimator_does_not_change_the_others_draws() -> None:
    alone = compare_problem("bump", ["score"], num_samples=[2], trials=300)
    together = compare_problem("bump", ["pathwise", "score"], num_samples=[2], trials=300)
    assert torch.equal(alone.estimates[("score", 2)], together.estimates[("score", 2)])


def test_global_random_state_is_left_alone() -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    compare_problem("cos", ["pathwise"], num_samples=1, trials=10)
    assert torch.equal(torch.rand(3), expected)


def test_default_trials_reach_the_target_relative_error() -> None:
    result = compare_problem("gamma-poly", ["pathwise", "score"], num_samples=[1])
    for row in result.rows:
        assert row.trials >= PILOT_TRIALS
        # Capped runs aside, the variance is resolved to about 5% (by the kurtosis
        # estimated from the same data, so "about": allow up to 7%).
        if row.trials < MAX_TRIALS:
            assert row.variance_se / row.variance < 0.07, row
    assert max(r.trials for r in result.rows if r.estimator == "score") > 4 * PILOT_TRIALS


def test_trials_needed_grows_with_the_kurtosis() -> None:
    generator = torch.Generator().manual_seed(0)
    normal = torch.randn(100_000, 1, dtype=torch.float64, generator=generator)
    # Laplace: kurtosis 6, so (6 - 1) / 0.05^2 = 2000 trials.
    magnitude = -torch.rand(100_000, 1, dtype=torch.float64, generator=generator).log()  # Exp(1)
    sign = torch.randint(0, 2, (100_000, 1), generator=generator) * 2 - 1
    laplace = sign * magnitude
    assert abs(trials_needed(normal, 0.05) - 800) < 40
    assert abs(trials_needed(laplace, 0.05) - 2000) < 200
    assert trials_needed(torch.ones(50, 1), 0.05) == 800  # constant: normal by default


def test_biased_estimators_show_their_bias() -> None:
    # Straight-through on the Bernoulli toy at theta = 1 has mean
    # p (1 - p) 2 (p - t) ~ 0.095 against the exact p (1 - p) (1 - 2 t) ~ 0.004
    # (at theta = 0 the two happen to coincide); the row says it is biased.
    toy = PROBLEMS["bernoulli-toy"](theta=1.0)
    result = compare_problem(toy, ["score", "straight-through"], num_samples=1, trials=20_000)
    straight = result.row("straight-through", 1, "theta")
    assert not straight.unbiased
    assert straight.bias_z is not None and abs(straight.bias_z) > z_threshold()
    score = result.row("score", 1, "theta")
    assert score.unbiased and abs(score.bias_z or 0) < z_threshold()
    assert "straight-through  no" in str(result)


def make_row(estimator: str, unbiased: bool, samples: int, work: float) -> Row:
    return Row(estimator, unbiased, samples, "p", 10, 0.0, 0.0, 0.0, 0.1, work, 0.1, None,
               0.0, 1.0, work, (0.0,) * 5)  # fmt: skip


def test_recommendation_is_the_unbiased_estimator_with_least_work_variance() -> None:
    rows = (
        make_row("fast-but-biased", False, 1, 0.001),
        make_row("a", True, 1, 3.0),
        make_row("a", True, 4, 2.0),
        make_row("b", True, 1, 2.5),
    )
    best = Comparison("toy", "", 0, ("p",), rows).recommendation
    assert best is not None and (best.estimator, best.num_samples) == ("a", 4)
    assert Comparison("toy", "", 0, ("p",), rows[:1]).recommendation is None


def test_compare_on_a_user_distribution_with_and_without_exact_gradient() -> None:
    mu = torch.tensor([0.5, -1.0])

    def f(z: torch.Tensor) -> torch.Tensor:
        return (z - 2.0) ** 2

    known = compare(
        f, Normal(mu, 1.5), ["pathwise"], num_samples=2, trials=4000,
        exact_gradient={"loc": 2 * (mu - 2.0), "scale": 3.0},
    )  # fmt: skip
    assert known.parameters == ("loc[0]", "loc[1]", "scale[0]", "scale[1]")
    assert_mean(known.estimates[("pathwise", 2)], torch.tensor([-3.0, -6.0, 3.0, 3.0]))
    assert known.row("pathwise", 2, "loc[1]").bias is not None
    unknown = compare(f, Normal(mu, 1.5), ["pathwise"], num_samples=2, trials=100)
    assert unknown.row("pathwise", 2, "loc[1]").bias is None
    assert "n/a" in str(unknown)


def test_compare_rebuilds_other_parameterizations() -> None:
    logits = compare(
        lambda z: z, Bernoulli(logits=torch.tensor(0.3)), ["score"], num_samples=1, trials=50
    )
    assert logits.parameters == ("logits",)
    probs = Bernoulli(probs=torch.tensor(0.3))
    probs.logits  # noqa: B018 - caches the other parameterization too
    assert compare(lambda z: z, probs, ["score"], num_samples=1, trials=50).parameters == ("probs",)
    beta = compare(lambda z: z, Beta(2.0, 3.0), ["pathwise"], num_samples=1, trials=50)
    # Beta keeps its parameters in a Dirichlet: they are named by where they are stored
    assert beta.parameters == ("dirichlet.concentration[0]", "dirichlet.concentration[1]")


def test_estimator_objects_get_no_exact_variance_by_name() -> None:
    loo = ScoreFunction(baseline=LeaveOneOut())
    result = compare_problem("quadratic", ["score", loo], num_samples=[2], trials=50)
    labels = sorted({r.estimator for r in result.rows})
    assert labels == ["ScoreFunction(baseline=LeaveOneOut())", "score"]
    assert all(
        r.exact_variance is None for r in result.rows if r.estimator.startswith("ScoreFunction")
    )


def test_estimators_needing_more_samples_are_skipped_with_a_note() -> None:
    result = compare_problem("cos", ["score-loo"], num_samples=[1, 2], trials=20)
    assert {r.num_samples for r in result.rows} == {2}
    assert any("score-loo needs S >= 2" in note for note in result.notes)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: compare_problem("nope"), "unknown problem 'nope'; choose one of: channel"),
        (lambda: compare_problem("cos", ["magic"], trials=2), "unknown estimator 'magic'"),
        (lambda: compare_problem("cos", ["score"], trials=1), "trials must be an integer >= 2"),
        (lambda: compare_problem("cos", ["score"], num_samples=0), "integers >= 1"),
        (lambda: compare_problem("cos", ["score"], num_samples=[]), "at least one"),
        (lambda: compare_problem("cos", ["score", "score"]), "listed twice"),
        (
            lambda: compare_problem("bernoulli-toy", ["pathwise"]),
            "estimator 'pathwise' does not apply to problem 'bernoulli-toy''s distribution "
            "(Bernoulli); estimators that do: score",
        ),
        (lambda: get_problem("gamma-poly", k=2.0), "has no parameter k"),
        (
            lambda: compare(lambda z: z, Normal(0.0, 1.0), exact_gradient={"mu": 1.0}),
            "parameters are ['loc', 'scale']",
        ),
    ],
)
def test_bad_input_is_a_clear_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError) as error:
        call()  # type: ignore[operator]
    assert message in str(error.value)


def test_thread_setting_is_restored() -> None:
    threads = torch.get_num_threads()
    compare_problem("cos", ["pathwise"], num_samples=1, trials=10)
    assert torch.get_num_threads() == threads


# --- any distribution the estimators support ------------------------------------------


def test_compare_on_an_independent_bernoulli_measures_unbiased_estimates() -> None:
    """The case that used to fail: ``Independent(Bernoulli)``, as a VAE's posterior is."""
    logits = torch.tensor([0.3, -1.0, 2.0])
    dist = Independent(Bernoulli(logits=logits), 1)
    target = torch.tensor([1.0, 0.0, 1.0])
    p = torch.sigmoid(logits)
    # E[sum_i (b_i - t_i)^2] = sum_i p_i (1 - 2 t_i) + t_i^2: gradient p (1 - p) (1 - 2 t)
    exact = p * (1 - p) * (1 - 2 * target)
    result = compare(
        lambda b: (b - target).square().sum(-1), dist, ["score-loo", "disarm"], num_samples=2,
        trials=4000, exact_gradient={"base_dist.logits": exact},
    )  # fmt: skip
    assert result.parameters == tuple(f"base_dist.logits[{i}]" for i in range(3))
    for estimator in ("score-loo", "disarm"):
        assert_mean(result.estimates[(estimator, 2)], exact)
    assert result.recommendation is not None


Params = dict[str, torch.Tensor]

# id, the lab's parameter names -> values, the distribution built from them, the cost
CASES = [
    (
        "VonMisesFisher",
        {"loc": torch.tensor([0.0, 0.6, 0.8]), "concentration": torch.tensor(4.0)},
        lambda p: VonMisesFisher(p["loc"], p["concentration"]),
        lambda z: z[..., 0] + 2 * z[..., 2],
    ),
    (
        "mixture",
        {
            "mixture_distribution.logits": torch.tensor([0.2, -0.1]),
            "component_distribution.loc": torch.tensor([-1.0, 1.0]),
            "component_distribution.scale": torch.tensor([0.5, 0.8]),
        },
        lambda p: MixtureSameFamily(
            Categorical(logits=p["mixture_distribution.logits"]),
            Normal(p["component_distribution.loc"], p["component_distribution.scale"]),
        ),
        lambda z: z**2,
    ),
    (
        "MultivariateNormal",
        {"scale_tril": torch.tensor([[1.0, 0.0], [0.3, 0.7]]), "loc": torch.tensor([0.5, -0.5])},
        lambda p: MultivariateNormal(p["loc"], scale_tril=p["scale_tril"]),
        lambda z: z.square().sum(-1) + z[..., 0] * z[..., 1],
    ),
    (
        "OneHotCategorical",
        {"categorical.logits": torch.tensor([0.1, 0.5, -0.3])},
        lambda p: OneHotCategorical(logits=p["categorical.logits"]),
        lambda z: (z * torch.tensor([1.0, 2.0, 4.0])).sum(-1),
    ),
]


@pytest.mark.parametrize(("values", "make", "f"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_trials_are_independent_copies_whose_mean_is_the_gradient(
    values: Params, make: Callable[[Params], Distribution], f: Callable[[Tensor], Tensor]
) -> None:
    """The trials' mean is the gradient w.r.t. the parameters the distribution was built from.

    Reference: one estimator call with 200,000 samples on the distribution built
    by hand from leaves that require grad (its own standard error is negligible).
    """
    dist = make(values)
    estimator = "pathwise" if dist.has_rsample else "score-loo"
    samples = 1 if estimator == "pathwise" else 2
    result = compare(f, dist, [estimator], num_samples=samples, trials=3000)
    assert sorted({p.split("[")[0] for p in result.parameters}) == sorted(values)
    torch.manual_seed(1)
    leaves = {n: v.clone().requires_grad_(True) for n, v in values.items()}
    total = reparam.expectation(f, make(leaves), estimator, 200_000)
    grads = dict(zip(leaves, torch.autograd.grad(total, list(leaves.values())), strict=True))
    names = list(dict.fromkeys(p.split("[")[0] for p in result.parameters))
    reference = torch.cat([grads[n].reshape(-1) for n in names]).double()
    assert_mean(result.estimates[(estimator, samples)], reference)


def test_a_distribution_that_cannot_be_copied_is_refused_with_the_reasons() -> None:
    class Scaled(Normal):  # a custom constructor and no expand() of its own
        def __init__(self, loc: torch.Tensor, log_scale: torch.Tensor) -> None:
            super().__init__(loc, log_scale.exp())

    with pytest.raises(ValueError) as error:
        compare(lambda z: z, Scaled(torch.tensor(0.0), torch.tensor(0.0)), ["pathwise"])
    message = str(error.value)
    assert message.startswith("the lab could not make independent trials of Scaled (by expand()")
    assert "by detach_parameters" in message and "reparam.lab.Problem" in message


def test_a_trainable_estimator_is_measured_untrained_and_trained() -> None:
    relax = reparam.RELAX()
    before = [p.detach().clone() for p in relax.control_variate.parameters()]
    result = compare_problem("bernoulli-toy", [relax, "disarm"], num_samples=1, trials=500,
                             train_steps=30)  # fmt: skip
    labels = [row.estimator for row in result.rows]
    assert labels == ["relax", "relax (trained 30 steps)", "disarm"]
    assert ("relax (trained 30 steps)", 1) in result.estimates
    for p, q in zip(relax.control_variate.parameters(), before, strict=True):
        assert torch.equal(p, q)  # a copy was trained
    untrained = compare_problem("bernoulli-toy", ["relax"], num_samples=1, trials=50,
                                train_steps=0)  # fmt: skip
    assert [row.estimator for row in untrained.rows] == ["relax"]
    with pytest.raises(ValueError, match="train_steps must be an integer >= 0"):
        compare_problem("bernoulli-toy", ["relax"], train_steps=-1)


class Shifted(Distribution):
    """A distribution of one's own: ``N(center, 1)``, with its own ``expand``."""

    arg_constraints = {"center": torch.distributions.constraints.real}  # noqa: RUF012
    support = torch.distributions.constraints.real
    has_rsample = True

    def __init__(self, center: Tensor) -> None:
        self.center = center
        super().__init__(center.shape, validate_args=False)

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        return self.center + torch.randn(shape, dtype=self.center.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        return Normal(self.center, 1.0).log_prob(value)

    def expand(self, batch_shape: torch.Size, _instance: object = None) -> Shifted:
        return Shifted(self.center.expand(batch_shape))


def test_a_distribution_class_of_ones_own_works_through_its_expand() -> None:
    dist = Shifted(torch.tensor([0.5, -1.0], dtype=torch.float64))
    result = compare(lambda z: z**2, dist, ["pathwise", "score"], num_samples=1, trials=3000,
                     exact_gradient={"center": 2 * dist.center})  # fmt: skip
    assert result.parameters == ("center[0]", "center[1]")
    for estimator in ("pathwise", "score"):
        assert_mean(result.estimates[(estimator, 1)], torch.tensor([1.0, -2.0]))
