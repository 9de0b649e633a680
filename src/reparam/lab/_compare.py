"""``compare``: measure estimators on a problem and summarise them.

Reference: Mohamed, Rosca, Figurnov and Mnih (2020), "Monte Carlo Gradient
Estimation in Machine Learning", JMLR 21, whose section 3 compares estimators
by their variance on the same Gaussian costs.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators import (
    Cost,
    Estimator,
    EstimatorName,
    applicable_estimators,
    expectation,
    resolve_estimator,
)
from reparam.lab._comparison import Comparison
from reparam.lab._counts import sample_counts
from reparam.lab._custom import custom_problem
from reparam.lab._measurement import NotApplicableError, measure, one_thread, time_per_estimate
from reparam.lab._memory import check_memory
from reparam.lab._problem import Problem
from reparam.lab._problems import get_problem
from reparam.lab._results import Row, summarise

DEFAULT_SAMPLES = (1, 4, 16, 64)
"""The numbers of samples per estimate that :func:`compare` measures unless told."""
DEFAULT_TRAIN_STEPS = 200
"""Training steps for an estimator's learned part (RELAX's control variate) before measuring."""
TRAIN_TRIALS = 64
"""Trials per training step: the batch whose summed squared gradient estimate is minimised."""


def compare(
    f: Cost,
    dist: Distribution,
    estimators: Sequence[EstimatorName | Estimator] | None = None,
    *,
    num_samples: int | Sequence[int] = DEFAULT_SAMPLES,
    trials: int | None = None,
    seed: int = 0,
    exact_gradient: Mapping[str, Tensor | float] | None = None,
    train_steps: int = DEFAULT_TRAIN_STEPS,
) -> Comparison:
    """Compare gradient estimators of ``grad E_{z ~ dist}[f(z)]`` by measuring them.

    The gradient is taken with respect to the distribution's parameters (those
    it stores, e.g. ``loc`` and ``scale``, or ``base_dist.logits`` for an
    ``Independent``), at their values and in their dtype. ``dist`` may be of any
    class the estimators support, torch's, reparam's or one's own: its trials are
    made by its own ``expand`` (see :mod:`reparam.lab._custom`), never by calling
    its constructor. Each estimator at each sample count ``S`` gives ``trials``
    independent ``S``-sample estimates.

    Args:
        f: the cost, samples ``[S, *batch_shape, *event_shape]`` -> ``[S, *batch_shape]``
            (it also receives a leading trials dimension in the batch).
        dist: a ``torch.distributions`` object.
        estimators: short names or objects; default: every registered estimator
            that applies to ``dist``.
        num_samples: one or more sample counts ``S``.
        trials: estimates per (estimator, S); default: enough for a 5% relative
            standard error on each variance (see :mod:`reparam.lab._measurement`).
        seed: fixes every random draw; the global random state is left as it was.
        exact_gradient: parameter name -> exact gradient, if known (for the bias).
        train_steps: an estimator with a learned part (``trainable()`` not ``None``,
            e.g. RELAX) is measured as given and, labelled ``"<name> (trained N
            steps)"``, after this many Adam steps (rate 1e-2) of its own
            ``training_term`` on the problem, 64 trials per step (``TRAIN_TRIALS``),
            at each sample count; a copy is trained, the estimator given is not
            changed. 0: untrained only.

    PyTorch runs on one thread during the comparison (the setting is restored
    afterwards): the trials' batches are small, and on a busy machine waiting
    for a second core made them several times slower, not faster.

    >>> import torch
    >>> from torch.distributions import Normal
    >>> result = compare(lambda z: z**2, Normal(torch.tensor(1.0), 1.0),
    ...                  ["pathwise", "score"], num_samples=1, trials=1000,
    ...                  exact_gradient={"loc": 2.0, "scale": 2.0})
    >>> result.recommendation.estimator
    'pathwise'
    """
    problem = custom_problem(f, dist, exact_gradient)
    return compare_problem(
        problem,
        estimators,
        num_samples=num_samples,
        trials=trials,
        seed=seed,
        train_steps=train_steps,
    )


def compare_problem(
    problem: str | Problem,
    estimators: Sequence[EstimatorName | Estimator] | None = None,
    *,
    num_samples: int | Sequence[int] = DEFAULT_SAMPLES,
    trials: int | None = None,
    seed: int = 0,
    k: float | None = None,
    train_steps: int = DEFAULT_TRAIN_STEPS,
) -> Comparison:
    """:func:`compare` on a built-in problem (by name, see ``PROBLEMS``) or a :class:`Problem`.

    Sizes that cannot fit in this machine's memory raise
    :class:`~reparam.lab._memory.TooLargeError` (a ``ValueError``) before any work.

    >>> compare_problem("channel", ["pathwise"], num_samples=1, trials=500).row(
    ...     "pathwise", 1, "delta").exact
    2.0
    """
    if isinstance(problem, str):
        problem = get_problem(problem, k=k)
    samples = sample_counts(num_samples)
    if trials is not None and (isinstance(trials, bool) or trials < 2):
        raise ValueError(f"trials must be an integer >= 2 (a variance needs two), got {trials}")
    if isinstance(train_steps, bool) or not isinstance(train_steps, int) or train_steps < 0:
        raise ValueError(f"train_steps must be an integer >= 0, got {train_steps!r}")
    check_memory(problem, max(samples), trials)
    chosen = _estimators(problem, estimators)
    rows: list[Row] = []
    notes: list[str] = []
    raw: dict[tuple[str, int], Tensor] = {}
    exact = problem.flat_gradient()
    with torch.random.fork_rng(devices=[]), one_thread():
        for label, estimator, key in chosen:
            per_sample = None if key is None else problem.exact_variance(key)
            for s in samples:
                if s < estimator.min_samples:
                    notes.append(f"{label} needs S >= {estimator.min_samples}; S = {s} skipped")
                    continue
                versions = [(label, estimator, per_sample)]
                if estimator.trainable() is not None and train_steps > 0:
                    trained = copy.deepcopy(estimator)
                    torch.manual_seed(zlib.crc32(f"{seed}/{label}/{s}/train".encode()))
                    train(problem, trained, s, train_steps)
                    versions.append((f"{label} (trained {train_steps} steps)", trained, None))
                for name, version, variance in versions:
                    torch.manual_seed(zlib.crc32(f"{seed}/{label}/{s}".encode()))
                    measured = measure(problem, version, name, s, trials)
                    seconds = time_per_estimate(problem, version, name, s)
                    raw[(name, s)] = measured.estimates
                    rows += summarise(
                        name,
                        version.unbiased,
                        s,
                        problem.labels(),
                        measured.estimates,
                        seconds,
                        exact,
                        None if variance is None else variance / s,
                    )
    if not rows:
        raise ValueError(f"nothing to measure: {'; '.join(notes)}")
    return Comparison(
        problem.name, problem.summary, seed, tuple(problem.labels()), tuple(rows), tuple(notes), raw
    )


def train(problem: Problem, estimator: Estimator, num_samples: int, steps: int) -> None:
    """Adam (rate 1e-2) on the estimator's learned part, by its ``training_term``.

    Each step draws :data:`TRAIN_TRIALS` trials and descends the gradient of their
    summed squared gradient estimates with respect to the learned part alone.
    """
    part = estimator.trainable()
    own = [] if part is None else [p for p in part.parameters() if p.requires_grad]
    if not own:
        return
    optimizer = torch.optim.Adam(own, lr=1e-2)
    for _ in range(steps):
        leaves = problem.trial_parameters(TRAIN_TRIALS)
        f, dist = problem.build(leaves)
        with torch.enable_grad():
            objective = expectation(f, dist, estimator, num_samples).sum()
            total = objective + estimator.training_term(objective, list(leaves.values()))
            optimizer.zero_grad()
            total.backward(inputs=own)
        optimizer.step()


def applicable(problem: Problem) -> list[str]:
    """The registered estimators' names that apply to ``problem``'s distribution."""
    with torch.random.fork_rng(devices=[]):
        _, dist = problem.build(problem.trial_parameters(1))
    return applicable_estimators(dist)


def _estimators(
    problem: Problem, estimators: Sequence[str | Estimator] | None
) -> list[tuple[str, Estimator, str | None]]:
    """``(label, estimator, registry name)``; only names given as strings get exact variances."""
    if estimators is None:
        estimators = applicable(problem)
    if isinstance(estimators, (str, Estimator)):
        estimators = [estimators]
    chosen: list[tuple[str, Estimator, str | None]] = []
    for item in estimators:
        resolved = resolve_estimator(item)
        label = item if isinstance(item, str) else resolved.name
        if any(label == other for other, _, _ in chosen):
            if isinstance(item, str):
                raise ValueError(f"estimator {item!r} is listed twice")
            label = repr(resolved)
        chosen.append((label, resolved, item if isinstance(item, str) else None))
    if not chosen:
        raise ValueError("no estimators to compare")
    with torch.random.fork_rng(devices=[]):
        _, dist = problem.build(problem.trial_parameters(1))
    for label, resolved, _ in chosen:
        if not resolved.supports(dist):
            raise NotApplicableError(
                f"estimator {label!r} does not apply to problem {problem.name!r}'s "
                f"distribution ({type(dist).__name__}); estimators that do: "
                f"{', '.join(applicable(problem)) or 'none of the registered'}"
            )
    return chosen
