"""``lab.iwae_study``: its rows, the model's closed forms, and bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

from reparam import lab


def test_rows_per_choice_k_and_parameter() -> None:
    study = lab.iwae_study(num_samples=[1, 5], trials=300, seed=2)
    assert len(study.rows) == 3 * 2 * 5 and study.parameters == ("a", "b", "c", "mu", "s")
    for k in (1, 5):
        for name in ("mu", "s"):  # shared draws: the generative rows agree
            rows = [study.row(g, k, name) for g in ("standard", "stl", "dreg")]
            assert rows[0].mean == pytest.approx(rows[1].mean, rel=1e-9)
            assert rows[0].variance == pytest.approx(rows[2].variance, rel=1e-9)
    assert study.row("stl", 1, "a").unbiased and not study.row("stl", 5, "a").unbiased
    assert study.row("dreg", 5, "a").exact is None
    assert study.row("dreg", 1, "a").exact == pytest.approx(-0.75)
    with pytest.raises(KeyError):
        study.row("dreg", 50, "a")


def test_the_models_closed_forms() -> None:
    model = lab.LinearGaussian(x=0.4, mu=0.3, s=2.0)
    # log N(0.4; 0.3, 1 + 4)
    assert model.log_evidence() == pytest.approx(
        -0.5 * math.log(2 * math.pi * 5) - 0.01 / 10, rel=1e-12
    )
    post = model.exact_posterior()  # mean 0.3 + 0.1 / 5, variance 4 / 5
    assert post.a * 0.4 + post.b == pytest.approx(0.32) and post.c**2 == pytest.approx(0.8)
    # At the exact posterior the ELBO equals log p(x) and its gradient in q vanishes.
    grad = post.elbo_gradient()
    assert max(abs(float(grad[n])) for n in ("a", "b", "c")) < 1e-12
    from reparam.lab._iwae_model import elbo

    assert float(elbo(post.values(), post.x)) == pytest.approx(model.log_evidence(), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gradients": ["reinforce"]}, "gradient choices must be among"),
        ({"num_samples": [0]}, "integers >= 1"),
        ({"trials": 1}, "trials must be an integer >= 2"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lab.iwae_study(**kwargs)  # type: ignore[arg-type]


def test_leaves_the_global_random_state_alone() -> None:
    state = torch.random.get_rng_state()
    lab.iwae_study(num_samples=[2], trials=10)
    assert torch.equal(torch.random.get_rng_state(), state)
