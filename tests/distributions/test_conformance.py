"""Generic conformance of every distribution in ``reparam.distributions``.

In the spirit of PyTorch's generic distribution tests: every example of
:data:`EXAMPLES` (batched and unbatched), in float32 and float64, is checked for
shapes and dtypes, support, ``expand`` (of the class and of a subclass, keeping
validation), validation of parameters and values, broadcasting of ``log_prob``,
``cdf``/``icdf``/``log_prob`` consistency where defined, the mode, and, by Monte
Carlo, the mean, the variance and the entropy. A new distribution is checked by
adding its examples to the table; a public distribution without examples fails
:func:`test_every_public_distribution_has_examples`.

Monte Carlo checks are z-tests with fixed seeds at a total false-failure rate of
``1e-4`` per test (Bonferroni over the values compared; see ``tests.stats``),
and :func:`test_the_moment_check_rejects_a_wrong_distribution` shows they catch
a truncated normal whose scale is off by 20 %.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, Normal

import reparam.distributions as rd
from tests.stats import z_threshold

INF = math.inf
NUM = 20_000
DTYPES = [torch.float32, torch.float64]

Tensorize = Callable[[Any], Tensor]


@dataclass(frozen=True)
class Example:
    """How to build one distribution, given a function turning numbers into tensors."""

    cls: type[Distribution]
    kwargs: Callable[[Tensorize, torch.dtype], dict[str, Any]]
    outside: Callable[[Distribution], Tensor] | None = None  # a value off the support
    circular: bool = False  # moments on the circle: torch's VonMises convention
    name: str = field(default="")


def _unit(t: Tensorize, rows: Any) -> Tensor:
    return torch.nn.functional.normalize(t(rows), dim=-1)


EXAMPLES: list[Example] = [
    Example(rd.VonMises, lambda t, _: {"loc": t(0.3), "concentration": t(2.0)}, circular=True),
    Example(
        rd.VonMises,
        lambda t, _: {"loc": t([-1.0, 2.5]), "concentration": t([0.5, 30.0])},
        circular=True,
    ),
    Example(
        rd.VonMisesFisher,
        lambda t, _: {"loc": _unit(t, [0.0, 0.0, 1.0]), "concentration": t(5.0)},
        outside=lambda d: 2.0 * d.mean,
    ),
    Example(
        rd.VonMisesFisher,
        lambda t, _: {
            "loc": _unit(t, [[1.0, 2.0, 2.0, 0.0, 1.0], [0.0, -1.0, 0.0, 0.0, 0.0]]),
            "concentration": t([0.5, 50.0]),
        },
        outside=lambda d: torch.zeros(d.event_shape),
    ),
    Example(
        rd.HypersphericalUniform,
        lambda _, dtype: {"dim": 3, "dtype": dtype},
        outside=lambda d: torch.ones(d.event_shape),
    ),
    Example(
        rd.HypersphericalUniform,
        lambda _, dtype: {"dim": 5, "batch_shape": (2,), "dtype": dtype},
        outside=lambda d: torch.zeros(d.event_shape),
    ),
    Example(
        rd.TruncatedNormal,
        lambda t, _: {"loc": t(0.3), "scale": t(1.5), "low": t(-1.0), "high": t(2.0)},
        outside=lambda d: torch.tensor(2.5),
    ),
    Example(
        rd.TruncatedNormal,  # central, a scale 1e8 wider than the interval, one-sided, tail
        lambda t, _: {
            "loc": t([0.0, 0.0, 1.0, 0.0]),
            "scale": t([1.0, 1e8, 0.5, 1.0]),
            "low": t([-0.5, -1.0, 1.2, 8.0]),
            "high": t([2.0, 1.0, INF, 9.0]),
        },
        outside=lambda d: torch.tensor(-3.0),
    ),
    Example(
        rd.MixtureSameFamily,
        lambda t, _: {
            "mixture_distribution": Categorical(logits=t([0.0, 1.0])),
            "component_distribution": Normal(t([-1.0, 2.0]), t([0.5, 1.0])),
        },
    ),
    Example(
        rd.MixtureSameFamily,  # disjoint truncated components, batched
        lambda t, _: {
            "mixture_distribution": Categorical(logits=t([[0.0, 0.5], [1.0, -1.0]])),
            "component_distribution": rd.TruncatedNormal(
                t([[-1.5, 1.5], [0.0, 3.0]]),
                t(1.0),
                t([[-2.0, 1.0], [-1.0, 2.5]]),
                t([[-1.0, 2.0], [1.0, 4.0]]),
            ),
        },
        outside=lambda d: torch.tensor(0.0),
    ),
]


def _id(example: Example) -> str:
    index = [e for e in EXAMPLES if e.cls is example.cls].index(example)
    return f"{example.cls.__name__}-{index}"


def build(
    example: Example, dtype: torch.dtype, cls: type[Distribution] | None = None, **extra: Any
) -> Distribution:
    def t(values: Any) -> Tensor:
        return torch.tensor(values, dtype=dtype)

    return (cls or example.cls)(**example.kwargs(t, dtype), **extra)


def optional(method: Callable[[], Any]) -> Any:
    """``method()``, or ``None`` where the distribution does not implement it."""
    try:
        return method()
    except NotImplementedError:
        return None


cases = pytest.mark.parametrize(
    ("example", "dtype"),
    [pytest.param(e, d, id=f"{_id(e)}-{str(d)[6:]}") for e in EXAMPLES for d in DTYPES],
)


def test_every_public_distribution_has_examples() -> None:
    public = {
        name
        for name in rd.__all__
        if isinstance(getattr(rd, name), type) and issubclass(getattr(rd, name), Distribution)
    }
    assert public, "reparam.distributions exports no distribution"
    missing = public - {e.cls.__name__ for e in EXAMPLES}
    assert not missing, f"add examples of {sorted(missing)} to EXAMPLES"
    batched = {e.cls.__name__ for e in EXAMPLES if build(e, torch.float64).batch_shape}
    unbatched = {e.cls.__name__ for e in EXAMPLES if not build(e, torch.float64).batch_shape}
    assert public <= batched and public <= unbatched, "give each a batched and an unbatched example"


@cases
def test_shapes_dtypes_and_support(example: Example, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    d = build(example, dtype, validate_args=True)
    full = d.batch_shape + d.event_shape
    for x in (d.sample(), d.sample((2, 3)), d.rsample((4,))):
        assert x.dtype == dtype and x.shape[x.dim() - len(full) :] == full
        assert bool(d.support.check(x).all())
        log_prob = d.log_prob(x)
        assert log_prob.dtype == dtype
        assert log_prob.shape == x.shape[: x.dim() - len(d.event_shape)]
        assert bool(log_prob.isfinite().all())
    assert d.rsample((2, 3)).shape == (2, 3, *full)


@cases
def test_log_prob_broadcasts_one_value_over_the_batch(example: Example, dtype: torch.dtype) -> None:
    torch.manual_seed(1)
    d = build(example, dtype, validate_args=False)  # the batch's supports may differ
    x = d.sample()
    one = x[(0,) * len(d.batch_shape)]  # an event-shaped value
    assert d.log_prob(one).shape == d.batch_shape
    assert torch.equal(d.log_prob(one), d.log_prob(one.expand(x.shape)))


@cases
def test_expand_keeps_the_class_validation_and_values(example: Example, dtype: torch.dtype) -> None:
    torch.manual_seed(2)
    subclass = type(f"Sub{example.cls.__name__}", (example.cls,), {})
    for validate in (True, False):
        for cls in (example.cls, subclass):
            d = build(example, dtype, cls, validate_args=validate)
            big = d.expand((3, *d.batch_shape))
            assert type(big) is cls and big.batch_shape == (3, *d.batch_shape)
            assert big.event_shape == d.event_shape
            assert big._validate_args == d._validate_args == validate
            x = d.sample()
            torch.testing.assert_close(big.log_prob(x), d.log_prob(x).expand(big.batch_shape))
            assert big.sample((2,)).shape == (2, *big.batch_shape, *d.event_shape)


@cases
def test_validation_refuses_bad_parameters_and_values(example: Example, dtype: torch.dtype) -> None:
    d = build(example, dtype, validate_args=True)
    if example.outside is not None:
        with pytest.raises(ValueError, match="support"):
            d.log_prob(example.outside(d).to(dtype))
    for name in d.arg_constraints:
        value = getattr(d, name)
        if not (isinstance(value, Tensor) and value.is_floating_point()):
            continue
        kwargs = example.kwargs(lambda v: torch.tensor(v, dtype=dtype), dtype)
        kwargs[name] = torch.full_like(kwargs[name], math.nan)
        with pytest.raises(ValueError, match=name):
            example.cls(**kwargs, validate_args=True)


@cases
def test_cdf_icdf_and_log_prob_agree(example: Example, dtype: torch.dtype) -> None:
    torch.manual_seed(3)
    d = build(example, dtype, validate_args=True)
    if d.event_shape != ():
        pytest.skip("cdf is univariate")
    x = d.sample((50,)).requires_grad_(True)
    cdf = optional(lambda: d.cdf(x))
    if cdf is None:
        pytest.skip(f"{example.cls.__name__} has no cdf")
    assert bool(((cdf >= 0) & (cdf <= 1)).all())
    (slope,) = torch.autograd.grad(cdf.sum(), x)  # dF/dx is the density
    rtol = 1e-9 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(slope, d.log_prob(x.detach()).exp(), rtol=rtol, atol=rtol)
    back = optional(lambda: d.icdf(cdf.detach()))
    if back is not None:
        torch.testing.assert_close(back, x.detach(), rtol=rtol, atol=rtol)


@cases
def test_mode(example: Example, dtype: torch.dtype) -> None:
    torch.manual_seed(4)
    d = build(example, dtype)
    mode = optional(lambda: d.mode)
    if mode is None:
        pytest.skip(f"{example.cls.__name__} has no mode")
    assert mode.shape == d.batch_shape + d.event_shape and mode.dtype == dtype
    if bool(mode.isnan().all()):  # no unique mode (torch's convention)
        return
    assert bool(d.support.check(mode).all())
    slack = 1e-10 if dtype == torch.float64 else 1e-4
    assert bool((d.log_prob(mode) >= d.log_prob(d.sample((500,))).amax(0) - slack).all())


def moment_z_scores(d: Distribution, x: Tensor, circular: bool) -> Tensor:
    """z-scores of sample statistics against the distribution's mean, variance, entropy.

    On the circle (torch's ``VonMises``): ``E[sin(x - mean)] = 0`` and the
    circular variance ``E[1 - cos(x - mean)]``. Elsewhere ``E[x]`` and
    ``E[(x - mean)^2] = variance``, squared about the exact mean.
    """
    mean, variance = d.mean.double(), d.variance.double()
    x = x.double()
    if circular:
        stats = [(torch.sin(x - mean), torch.zeros_like(mean)), (1 - torch.cos(x - mean), variance)]
    else:
        stats = [(x, mean), ((x - mean) ** 2, variance)]
    entropy = optional(d.entropy)
    if entropy is not None:
        stats.append((-d.log_prob(x.to(d.mean.dtype)).double(), entropy.double()))
    return torch.cat([_z_scores(s, e).reshape(-1) for s, e in stats])


def _z_scores(samples: Tensor, expected: Tensor) -> Tensor:
    """z-scores of the mean (as ``tests.stats.mean_z_scores``), with a standard error of at
    least ``1e-12 (1 + |expected|)``: a statistic constant in exact arithmetic
    (``-log_prob`` of a uniform law) still varies by rounding, and must match to that."""
    stderr = samples.std(0) / math.sqrt(samples.shape[0])
    floor = 1e-12 * (1 + expected.abs())
    return (samples.mean(0) - expected) / torch.maximum(stderr, floor)


@cases
def test_monte_carlo_mean_variance_and_entropy(example: Example, dtype: torch.dtype) -> None:
    torch.manual_seed(5)
    d = build(example, dtype)
    z = moment_z_scores(d, d.sample((NUM,)), example.circular)
    assert bool((z.abs() <= z_threshold(count=z.numel())).all()), z


def test_the_moment_check_rejects_a_wrong_distribution() -> None:
    torch.manual_seed(5)
    params = [torch.tensor(v, dtype=torch.float64) for v in (0.3, 1.5, -1.0, 2.0)]
    wrong = rd.TruncatedNormal(params[0], params[1] * 1.2, params[2], params[3])
    z = moment_z_scores(rd.TruncatedNormal(*params), wrong.sample((NUM,)), circular=False)
    assert bool((z.abs() > z_threshold(count=z.numel())).any())


@cases
def test_rsample_gradients_are_finite(example: Example, dtype: torch.dtype) -> None:
    torch.manual_seed(6)
    d = build(example, dtype)
    leaves = {
        name: getattr(d, name)
        for name in d.arg_constraints
        if isinstance(getattr(d, name), Tensor) and getattr(d, name).is_floating_point()
    }
    if not leaves:
        pytest.skip("no tensor parameters")
    kwargs = example.kwargs(lambda v: torch.tensor(v, dtype=dtype), dtype)
    inputs = {k: v.detach().clone().requires_grad_(True) for k, v in kwargs.items() if k in leaves}
    x = example.cls(**{**kwargs, **inputs}).rsample((8,))
    grads = torch.autograd.grad(x.sum(), list(inputs.values()), allow_unused=True)
    assert all(g is None or bool(g.isfinite().all()) for g in grads)
