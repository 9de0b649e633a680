"""Refusing sizes that cannot fit in memory, before any work is done.

One call of an estimator holds the draws of all trials at once: ``S`` samples
per trial, ``trials`` trials, ``D`` numbers per draw (the distribution's batch
and event size per trial). Peak memory is a multiple of ``S * trials * D``
numbers: the draws, the cost, the gradient's terms and the estimator's own
intermediates. On the built-in problems (float64, measured by peak resident
memory at ``S = 64``, ``trials = 100000``) the multiple ranged from about 3.7
numbers per drawn number (``score`` on ``dirichlet-poly``) to 26 (``relax`` on
``bernoulli-toy``). :data:`COPIES` is below all of them, so the estimate is a
lower bound: a comparison is refused only when even that does not fit.

Every (estimator, ``S``) is also timed on a batch of
:data:`~reparam.lab._measurement.TIMING_BATCH` trials, and with ``trials=None``
the first batch is a pilot of :data:`~reparam.lab._measurement.PILOT_TRIALS`,
so no call has fewer trials than the larger of those and ``trials``.
"""

from __future__ import annotations

import torch

from reparam._memory import format_bytes, memory_limit
from reparam.lab._measurement import PILOT_TRIALS, TIMING_BATCH
from reparam.lab._problem import Problem

COPIES = 3
"""Numbers held per drawn number, at least (see the module docstring)."""


class TooLargeError(ValueError):
    """The largest estimator call of a comparison needs more memory than the machine has.

    Rebuilt from its message alone (``TooLargeError(message)``, as code that
    re-raises ``type(e)(text)`` does) it has the message and not the figures;
    the original, with them, is then the new error's ``__cause__``.
    """

    num_samples: int
    trials: int
    needed: int
    limit: int

    def __init__(
        self,
        num_samples: int | str,
        trials: int | None = None,
        needed: int | None = None,
        limit: int | None = None,
    ) -> None:
        if isinstance(num_samples, str):  # a whole message
            super().__init__(num_samples)
            return
        assert trials is not None and needed is not None and limit is not None
        super().__init__(
            f"num_samples={num_samples} with {trials} trials per call needs at least "
            f"{format_bytes(needed)} of memory, more than the {format_bytes(limit)} here; "
            "use fewer samples or trials"
        )
        self.num_samples = num_samples
        self.trials = trials
        self.needed = needed
        self.limit = limit


def trials_per_call(trials: int | None) -> int:
    """The most trials in one estimator call, at least (timing and pilot batches included)."""
    return max(PILOT_TRIALS if trials is None else trials, TIMING_BATCH)


def bytes_needed(problem: Problem, num_samples: int, trials: int | None) -> int:
    """A lower bound on the peak memory of one call at ``num_samples`` samples.

    >>> from reparam.lab import get_problem
    >>> bytes_needed(get_problem("channel"), 64, 100_000)  # 3 x 8 bytes x 64 x 1e5
    153600000
    """
    with torch.random.fork_rng(devices=[]):
        _, dist = problem.build(problem.trial_parameters(1))
    per_draw = dist.batch_shape.numel() * dist.event_shape.numel()
    itemsize = max(value.element_size() for value in problem.values.values())
    return COPIES * itemsize * per_draw * num_samples * trials_per_call(trials)


IWAE_COPIES = 2
"""Numbers held per importance sample of the IWAE study, at least: the draw ``z`` and
its log weight, both ``[trials, k]`` float64 while the bound is formed."""


def check_iwae_memory(num_samples: int, trials: int, limit: int | None = None) -> None:
    """Raise :class:`TooLargeError` if the IWAE study's largest ``k`` cannot fit.

    >>> check_iwae_memory(10**8, 4000, limit=10**12)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reparam.lab._memory.TooLargeError: num_samples=100000000 with 4000 trials per call needs ...
    """
    limit = memory_limit() if limit is None else limit
    needed = IWAE_COPIES * 8 * num_samples * trials
    if limit is not None and needed > limit:
        raise TooLargeError(num_samples, trials, needed, limit)


def check_memory(
    problem: Problem, num_samples: int, trials: int | None, limit: int | None = None
) -> None:
    """Raise :class:`TooLargeError` if ``num_samples`` cannot fit in ``limit`` bytes.

    ``limit`` defaults to :func:`memory_limit`; when that is unknown, nothing is checked.
    """
    limit = memory_limit() if limit is None else limit
    if limit is None:
        return
    needed = bytes_needed(problem, num_samples, trials)
    if needed > limit:
        raise TooLargeError(num_samples, trials_per_call(trials), needed, limit)
