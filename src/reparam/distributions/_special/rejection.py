"""A rejection sampler with a fixed number of rounds, run on the device without host reads.

The samplers that use it (Wood's for the von Mises-Fisher angle, Best and
Fisher's for the von Mises) accept a proposal with probability at least
``ACCEPT_FLOOR = 0.65`` for every valid concentration (Wood's efficiency for
``d = 2`` tends to about 0.657 as ``k`` grows and is higher elsewhere; Best and
Fisher, 1979, bound theirs by 0.656), so the chance that a proposal is rejected
is at most ``p = 0.35``.

A loop "until every sample is accepted" must read on the host whether any sample
is still pending, once per round (on a GPU, a synchronisation each time). Here
the number of proposals is fixed in advance instead, by the number of samples
``n`` alone:

* ``n * 27 <= 4096``: 27 rounds for every sample, drawn at once
  (``p^27 < 5e-13``);
* otherwise in ``STAGES = (1, 2, 3, 21)`` rounds: 1 for every sample, then 2
  more for each of the first ``m_1`` samples still pending, 3 more for each of
  the first ``m_2`` still pending and 21 more for each of the first ``m_3``, the
  pending ones gathered into buffers of fixed sizes on the device (by a stable
  sort of the pending flags). Before stage ``i`` a sample is pending with chance
  ``q_i = p^r`` (``r`` rounds so far); ``m_i`` is the smallest size for which
  ``q_i`` times the Chernoff bound on ``P(Binomial(n - 1, q_i) >= m_i)`` is
  below ``1e-13``: a sample misses one of the three buffers with chance below
  ``3e-13``, and is rejected in all its 27 rounds with chance below ``5e-13``.
  For ``n = 10^4``, ``m_1 = 3900``, ``m_2 = 586`` and ``m_3 = 55``: about
  ``2.1 n`` proposals in all, against ``1.54 n`` expected for a loop
  (``n / 0.65``) and ``27 n`` at once.

Each value is the first accepted proposal of its sample (the rounds are
independent, so it has exactly the target law). **Exactness statement:** every
sample, in every call, is an exact draw except with probability below ``1e-12``;
in that event (never observed in testing) the sample is ``NaN`` instead of a
biased value. So nothing is silently wrong: a ``NaN`` sample makes the loss
non-finite, which a training loop reads anyway (``reparam.training``'s trainer
flags a non-finite loss on the device and skips that update). A concentration
that can never be accepted (NaN, reached only with ``validate_args=False``) gives
``NaN`` samples the same way. With validation on,
the distributions check their samples once on the host (see
:func:`raise_if_rejected`) and raise :class:`RejectionLimitError` instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

ACCEPT_FLOOR = 0.65
"""A lower bound on the samplers' acceptance probability, for every valid concentration."""

FAILURE = 1e-12
"""The bound on the chance that a sample is not accepted within its rounds."""

MAX_ROUNDS = 27
"""The most proposals a sample gets: ``0.35^27 < 5e-13``."""

STAGES = (1, 2, 3, 21)
"""Rounds per stage for large ``n``: all samples, then three buffers of pending ones."""

_SINGLE_LIMIT = 4096
"""Largest ``n * MAX_ROUNDS`` drawn in a single stage (small batches: fewer operations)."""

_MISS = 1e-13
"""The bound on a sample's chance to miss a stage's buffer."""


class RejectionLimitError(RuntimeError):
    """A rejection sampler did not accept some samples within its fixed number of rounds."""


Propose = Callable[[Tensor | None, int], tuple[Tensor, Tensor]]
"""``propose(index, rounds)``: ``(values, accepted)``, each ``[m, rounds]``, for the samples
at ``index`` (``m`` of them; all ``n``, in order, for ``None``)."""


def buffer_size(n: int, rounds_before: int) -> int:
    """``m``: a stage's buffer after ``rounds_before`` rounds (see the module docstring).

    >>> buffer_size(10_000, 1), buffer_size(10_000, 3), buffer_size(10_000, 6)
    (3900, 586, 55)
    """
    q = (1.0 - ACCEPT_FLOOR) ** rounds_before
    others = n - 1
    m = max(1, math.ceil(q * others))
    while m <= others:
        a = m / others  # Chernoff: P(X >= m) <= exp(-N KL(a || q)) for a > q
        divergence = a * math.log(a / q) + (
            (1.0 - a) * math.log((1.0 - a) / (1.0 - q)) if a < 1.0 else 0.0
        )
        if a > q and q * math.exp(-others * divergence) <= _MISS:
            return m
        m += max(1, m // 100)
    return n


def _first_accepted(values: Tensor, accepted: Tensor) -> tuple[Tensor, Tensor]:
    """Per row of ``[m, rounds]``: the first accepted value and whether there is one."""
    first = accepted.to(torch.uint8).argmax(-1, keepdim=True)  # the first maximum
    return values.gather(-1, first).squeeze(-1), accepted.any(-1)


def rejection_sample(propose: Propose, n: int) -> Tensor:
    """One accepted value for each of ``n`` samples, ``NaN`` where none was (``< 1e-12``).

    >>> kappa = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> def propose(index, rounds):
    ...     k = (kappa if index is None else kappa[index]).unsqueeze(-1).expand(-1, rounds)
    ...     return k, k > 1.5
    >>> rejection_sample(propose, 2).tolist()
    [nan, 2.0]
    """
    if n * MAX_ROUNDS <= _SINGLE_LIMIT:
        value, done = _first_accepted(*propose(None, MAX_ROUNDS))
        return torch.where(done, value, math.nan)
    value, done = _first_accepted(*propose(None, STAGES[0]))
    rounds = STAGES[0]
    for stage_rounds in STAGES[1:]:
        m = buffer_size(n, rounds)
        rounds += stage_rounds
        if m >= n:  # every sample: no gathering
            more, more_done = _first_accepted(*propose(None, stage_rounds))
            value, done = torch.where(done, value, more), done | more_done
            continue
        # The pending samples first, in order: a stable sort of the flags, fixed sizes.
        index = torch.sort((~done).to(torch.uint8), descending=True, stable=True).indices[:m]
        pending = ~done.gather(0, index)
        more, more_done = _first_accepted(*propose(index, stage_rounds))
        take = pending & more_done
        value = value.scatter(0, index, torch.where(take, more, value.gather(0, index)))
        done = done.scatter(0, index, take | ~pending)
    return torch.where(done, value, math.nan)


def raise_if_rejected(samples: Tensor, concentration: Tensor, what: str) -> None:
    """Under validation (a host read): raise if any sample was never accepted.

    Only a validated distribution calls it; its concentrations are positive and
    finite, so this raises with probability below ``1e-12`` per sample.
    """
    if bool(torch.isnan(samples).any()):
        stuck = concentration.detach().reshape(-1).unique()[:5].tolist()
        raise RejectionLimitError(
            f"{what}: some samples were rejected in every one of their rounds, which a valid "
            f"concentration makes less likely than {FAILURE:g}; the concentrations include "
            f"{stuck}. The concentration must be positive and finite (NaN and inf are not): "
            "check what computes it."
        )
