"""``reparam.lab.compare_model``: variances against closed forms, a stable recommendation.

The linear-Gaussian model: ``z ~ N(m, sigma^2)`` with ``m = w . x + b`` (an
``nn.Linear``), cost ``f(z) = (z - y)^2 / 2``. With ``d = m - y`` and
``eps ~ N(0, 1)``, one sample's gradient terms with respect to ``w_j`` are

* pathwise: ``(d + sigma eps) x_j``, variance ``sigma^2 x_j^2``;
* score: ``f(z) eps / sigma x_j``, with ``E[f^2 eps^2] = (d^4 + 18 d^2 sigma^2
  + 15 sigma^4) / 4`` (moments of the normal: ``E eps^2 = 1, E eps^4 = 3,
  E eps^6 = 15``), so variance ``x_j^2 K`` with
  ``K = (d^4 + 18 d^2 sigma^2 + 15 sigma^4) / (4 sigma^2) - d^2``;

and for ``b`` the same with ``x_j = 1``. The ``S``-sample estimate averages ``S``
independent terms: variance over ``S``. Summed over a tensor's coordinates,
``x_j^2`` becomes ``||x||^2``.

Each measured summed variance is z-tested against its closed form with the
bootstrap standard error the lab reports, at a false-failure rate of 1e-4 for
the whole test (Bonferroni over the rows).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, Normal

import reparam
from reparam._json import to_strict_json
from reparam.estimators import Estimator
from reparam.lab import ModelComparison, compare_model
from tests.stats import z_threshold

SIGMA = 0.5
X = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
Y = torch.tensor(0.3, dtype=torch.float64)


def linear() -> nn.Linear:
    layer = nn.Linear(3, 1).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.4, 0.1, 0.6]]))
        layer.bias.fill_(0.2)
    return layer


def gaussian_loss(module: nn.Module, batch: Any, estimator: Estimator, num_samples: int) -> Tensor:
    x, y = batch
    q = Normal(module(x).squeeze(-1), SIGMA)
    return reparam.expectation(lambda z: (z - y) ** 2 / 2, q, estimator, num_samples)


def exact_variance(estimator: str, num_samples: int, group: str, layer: nn.Linear) -> float:
    d = float(layer(X).detach().squeeze(-1) - Y)
    if estimator == "pathwise":
        per_unit = SIGMA**2
    else:
        per_unit = (d**4 + 18 * d**2 * SIGMA**2 + 15 * SIGMA**4) / (4 * SIGMA**2) - d**2
    scale = {"weight": float(X.square().sum()), "bias": 1.0}[group]
    return per_unit * scale / num_samples


def gaussian_result() -> ModelComparison:
    return compare_model(
        gaussian_loss, linear(), (X, Y), ["pathwise", "score"], num_samples=[1, 3],
        replicates=2000, seed=0,
    )  # fmt: skip


def test_variances_match_the_closed_forms_and_an_uncentred_computation_fails() -> None:
    result = gaussian_result()
    layer = linear()
    checks = [(e, s, g) for e in ("pathwise", "score") for s in (1, 3) for g in ("weight", "bias")]
    threshold = z_threshold(count=len(checks))
    runs = {(run.estimator, run.num_samples): run for run in result.runs}
    wrong_z = []
    for estimator, samples, group in checks:
        row = next(
            r
            for r in result.rows()
            if (r.estimator, r.num_samples, r.group) == (estimator, samples, group)
        )
        exact = exact_variance(estimator, samples, group, layer)
        assert abs(row.variance - exact) < threshold * row.variance_se, (row, exact)
        assert row.variance_low < row.variance < row.variance_high
        # A deliberately wrong computation: the uncentred second moment E[g^2]
        # instead of the variance, on the same replicates.
        columns = slice(0, 3) if group == "weight" else slice(3, 4)
        wrong = float(runs[(estimator, samples)].gradients[:, columns].square().mean(0).sum())
        wrong_z.append(abs(wrong - exact) / row.variance_se)
    assert max(wrong_z) > threshold  # the same test rejects it


def test_the_summaries_follow_from_the_replicates() -> None:
    result = compare_model(gaussian_loss, linear(), (X, Y), ["score"], num_samples=2, replicates=50)
    (run,) = result.runs
    g = run.gradients
    assert g.shape == (50, 4) and g.dtype == torch.float64
    row = result.row("score", "weight")
    mean, variance = g[:, :3].mean(0), g[:, :3].var(0)
    assert row.mean_norm == pytest.approx(float(mean.norm()))
    assert row.variance == pytest.approx(float(variance.sum()))
    assert row.snr == pytest.approx(float(mean.norm() / variance.sum().sqrt()))
    assert row.median_snr == pytest.approx(float((mean.abs() / variance.sqrt()).median()))
    assert row.work_variance == pytest.approx(row.variance * row.time)
    assert row.size == 3 and row.replicates == 50 and row.train_steps is None
    whole = result.row("score", "(all)")
    assert whole.variance == pytest.approx(float(g.var(0).sum()))


def test_groupings_and_the_full_table() -> None:
    result = compare_model(gaussian_loss, linear(), (X, Y), ["pathwise"], num_samples=1,
                           replicates=20)  # fmt: skip
    assert [r.group for r in result.rows()] == ["weight", "bias", "(all)"]
    # a module of its own: its tensors' names have no module prefix and stay apart
    assert [r.group for r in result.rows("module")] == ["weight", "bias", "(all)"]
    assert [r.group for r in result.rows("all")] == ["(all)"]
    full = [r.group for r in result.rows("scalar")]
    assert full == ["weight[0, 0]", "weight[0, 1]", "weight[0, 2]", "bias[0]", "(all)"]
    assert "weight[0, 2]" in result.table("scalar") and "rows per tensor" in str(result)
    data = result.to_dict("scalar")
    assert len(data["rows"]) == 5 and data["parameters"] == {"weight": [1, 3], "bias": [1]}
    to_strict_json(data)
    with pytest.raises(ValueError, match="by must be one of"):
        result.rows("layer")  # type: ignore[arg-type]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, 2))
        self.head = nn.Linear(2, 1)


def test_module_groups_join_a_module_s_tensors() -> None:
    def loss(module: Net, batch: Tensor, estimator: Estimator) -> Tensor:
        q = Normal(module.head(module.encoder(batch)).squeeze(-1), 1.0)
        return reparam.expectation(lambda z: z**2, q, estimator, 2).sum()

    result = compare_model(loss, Net(), torch.ones(4, 3), ["pathwise"], replicates=10)
    assert [r.group for r in result.rows("module")] == ["encoder.0", "head", "(all)"]
    assert result.row("pathwise", "encoder.0", by="module").size == 8
    assert result.runs[0].num_samples is None


def test_reproducible_for_a_seed_and_the_global_state_is_left_alone() -> None:
    layer = linear()

    def run(seed: int) -> Tensor:
        return compare_model(gaussian_loss, layer, (X, Y), ["score"], num_samples=1,
                             replicates=10, seed=seed).runs[0].gradients  # fmt: skip

    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    first, again, other = run(0), run(0), run(1)
    assert torch.equal(torch.rand(2), expected)
    assert torch.equal(first, again) and not torch.equal(first, other)


# --- a discrete VAE -----------------------------------------------------------


class BernoulliVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Linear(6, 3)
        self.decoder = nn.Linear(3, 6)


def vae_loss(module: BernoulliVAE, x: Tensor, estimator: Estimator, num_samples: int) -> Tensor:
    q = Independent(Bernoulli(logits=module.encoder(x)), 1)

    def reconstruction(b: Tensor) -> Tensor:
        logits = module.decoder(b)
        target = x.expand_as(logits)
        bce = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return bce.sum(-1)

    kl = torch.distributions.kl_divergence(q, Independent(Bernoulli(logits=torch.zeros(8, 3)), 1))
    return (reparam.expectation(reconstruction, q, estimator, num_samples) + kl).sum()


VAE_BATCH = (torch.rand(8, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()


def test_the_recommendation_on_a_bernoulli_vae_is_stable_across_seeds() -> None:
    def best(seed: int) -> str:
        result = compare_model(
            vae_loss, BernoulliVAE(), VAE_BATCH, ["score", "score-loo", "disarm"],
            num_samples=2, replicates=60, seed=seed,
        )  # fmt: skip
        assert result.recommendation is not None
        return result.recommendation.estimator

    assert best(0) == best(1) == "disarm"


def test_a_trainable_estimator_is_measured_untrained_and_trained() -> None:
    relax = reparam.RELAX()
    before = [p.detach().clone() for p in relax.control_variate.parameters()]
    result = compare_model(vae_loss, BernoulliVAE(), VAE_BATCH, [relax, "disarm"],
                           num_samples=2, replicates=10, train_steps=20)  # fmt: skip
    labels = [run.label for run in result.runs]
    assert labels == ["relax", "relax (trained 20 steps)", "disarm"]
    assert [run.train_steps for run in result.runs] == [0, 20, None]
    assert "(trained 20 steps)" in str(result)
    # the estimator given is not changed: a copy is trained
    for p, q in zip(relax.control_variate.parameters(), before, strict=True):
        assert torch.equal(p, q)
    untrained = compare_model(vae_loss, BernoulliVAE(), VAE_BATCH, [relax], num_samples=2,
                              replicates=10, train_steps=0)  # fmt: skip
    assert [run.train_steps for run in untrained.runs] == [0]


def test_a_parameter_no_gradient_reaches_is_noted() -> None:
    net = Net()

    def loss(module: Net, batch: Tensor, estimator: Estimator) -> Tensor:
        q = Normal(module.encoder(batch).sum(-1), 1.0)  # the head is never used
        return reparam.expectation(lambda z: z**2, q, estimator, 2).sum()

    result = compare_model(loss, net, torch.ones(4, 3), ["pathwise"], replicates=5)
    assert any("head.weight, head.bias" in note for note in result.notes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"replicates": 1}, "replicates must be an integer >= 2"),
        ({"num_samples": 0}, "integers >= 1"),
        ({"estimators": ["score", "score"]}, "listed twice"),
        ({"estimators": ["magic"]}, "unknown estimator 'magic'"),
        ({"level": 1.0}, "level must be in (0, 1)"),
        ({"train_steps": -1}, "train_steps must be an integer >= 0"),
    ],
)
def test_bad_input_is_a_clear_value_error(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"estimators": ["score"], "num_samples": 1, "replicates": 4}
    arguments.update(kwargs)
    with pytest.raises(ValueError) as error:
        compare_model(gaussian_loss, linear(), (X, Y), **arguments)
    assert message in str(error.value)


def test_a_loss_that_is_not_a_scalar_is_refused() -> None:
    def loss(module: nn.Module, batch: Any, estimator: Estimator) -> Tensor:
        return gaussian_loss(module, batch, estimator, 2).expand(3)

    with pytest.raises(ValueError, match="must return a scalar loss, got \\[3\\]"):
        compare_model(loss, linear(), (X, Y), ["score"], replicates=4)
