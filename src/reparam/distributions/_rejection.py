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
* otherwise 3 rounds for every sample, then 24 more rounds for each of the first
  ``m(n)`` samples still pending, gathered into a buffer of fixed size ``m(n)``
  (on the device, by a stable sort of the pending flags). A sample is pending
  after 3 rounds with chance ``q = p^3 < 0.043``; ``m(n)`` is the smallest size
  for which the Chernoff bound on ``P(Binomial(n - 1, q) >= m)`` times ``q`` is
  below ``5e-13``, and ``q p^24 < 5e-13``. For ``n = 10^4`` that is ``m = 581``
  against ``q n = 429`` expected: about ``4.4 n`` proposals in all.

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

SINGLE_ROUNDS = MAX_ROUNDS
"""Rounds per sample when all are drawn at once."""

FIRST_ROUNDS, SECOND_ROUNDS = 3, 24
"""Rounds for every sample, then for the buffer of pending ones: ``0.35^27 < 5e-13``."""

_SINGLE_LIMIT = 4096
"""Largest ``n * SINGLE_ROUNDS`` drawn in a single stage (small batches: fewer operations)."""


class RejectionLimitError(RuntimeError):
    """A rejection sampler did not accept some samples within its fixed number of rounds."""


Propose = Callable[[Tensor | None, int], tuple[Tensor, Tensor]]
"""``propose(index, rounds)``: ``(values, accepted)``, each ``[rounds, m]``, for the samples
at ``index`` (``m`` of them; all ``n``, in order, for ``None``)."""


def buffer_size(n: int) -> int:
    """``m(n)``: the second stage's buffer (see the module docstring).

    >>> buffer_size(10_000), buffer_size(100_000)
    (581, 4778)
    """
    q, budget = (1.0 - ACCEPT_FLOOR) ** FIRST_ROUNDS, 0.5 * FAILURE
    others = n - 1
    m = max(1, math.ceil(q * others))
    while m <= others:
        a = m / others  # Chernoff: P(X >= m) <= exp(-N KL(a || q)) for a > q
        divergence = a * math.log(a / q) + (
            (1.0 - a) * math.log((1.0 - a) / (1.0 - q)) if a < 1.0 else 0.0
        )
        if a > q and q * math.exp(-others * divergence) <= budget:
            return m
        m += max(1, m // 100)
    return n


def _first_accepted(values: Tensor, accepted: Tensor) -> tuple[Tensor, Tensor]:
    """Per column of ``[rounds, m]``: the first accepted value and whether there is one."""
    first = accepted.to(torch.uint8).argmax(0, keepdim=True)  # the first maximum
    return values.gather(0, first).squeeze(0), accepted.any(0)


def rejection_sample(propose: Propose, n: int) -> Tensor:
    """One accepted value for each of ``n`` samples, ``NaN`` where none was (``< 1e-12``).

    >>> kappa = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> def propose(index, rounds):
    ...     k = (kappa if index is None else kappa[index]).expand(rounds, -1)
    ...     return k, k > 1.5
    >>> rejection_sample(propose, 2).tolist()
    [nan, 2.0]
    """
    if n * SINGLE_ROUNDS <= _SINGLE_LIMIT or buffer_size(n) >= n:
        value, done = _first_accepted(*propose(None, SINGLE_ROUNDS))
        return torch.where(done, value, math.nan)
    value, done = _first_accepted(*propose(None, FIRST_ROUNDS))
    m = buffer_size(n)
    # The pending samples first, in order: a stable sort of the flags, fixed sizes.
    index = torch.sort((~done).to(torch.uint8), descending=True, stable=True).indices[:m]
    pending = ~done.gather(0, index)
    second, second_done = _first_accepted(*propose(index, SECOND_ROUNDS))
    take = pending & second_done
    value = value.scatter(0, index, torch.where(take, second, value.gather(0, index)))
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
