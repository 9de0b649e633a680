"""A rejection sampler's loop, bounded.

Each round draws one proposal for every sample still pending and keeps the
accepted ones. The samplers that use it (Wood's for the von Mises-Fisher angle,
Best and Fisher's for the von Mises) accept a proposal with probability at least
0.65 for every valid concentration (Wood's efficiency for ``d = 2`` tends to
about 0.657 as ``k`` grows and is higher elsewhere; Best and Fisher, 1979, bound
theirs by 0.656), so a sample is still pending after ``MAX_ROUNDS = 100`` rounds
with probability below ``0.35^100 < 1e-45``. Hitting the bound therefore means
the acceptance test can no longer pass (a NaN concentration, say), and it raises
:class:`RejectionLimitError` instead of looping forever.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

MAX_ROUNDS = 100
"""Rounds of proposals before a rejection sampler gives up."""


class RejectionLimitError(RuntimeError):
    """A rejection sampler rejected every proposal for some samples ``MAX_ROUNDS`` times."""


def rejection_sample(
    propose: Callable[[Tensor | None], tuple[Tensor, Tensor]],
    parameter: Tensor,
    what: str,
) -> Tensor:
    """One accepted value per element of the flat float64 ``parameter``.

    ``propose(indices)`` returns ``(values, accepted)`` for the elements at
    ``indices`` (all of them, in order, for ``None``: the first round, which needs
    no gathering): a proposal each and whether it passed the acceptance test.

    >>> kappa = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> def propose(i):
    ...     k = kappa if i is None else kappa[i]
    ...     return k, k > 0
    >>> rejection_sample(propose, kappa, "a test").tolist()
    [1.0, 2.0]
    >>> def reject_the_first(i):
    ...     k = kappa if i is None else kappa[i]
    ...     return k, k > 1
    >>> rejection_sample(reject_the_first, kappa, "a test")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reparam.distributions._rejection.RejectionLimitError: a test: 1 of 2 samples were ...
    """
    out, accepted = propose(None)
    pending = torch.nonzero(~accepted).squeeze(-1)
    for _ in range(MAX_ROUNDS - 1):
        if pending.numel() == 0:
            return out
        values, accepted = propose(pending)
        out[pending[accepted]] = values[accepted]
        pending = pending[~accepted]
    if pending.numel() == 0:
        return out
    stuck = parameter[pending].unique()[:5].tolist()
    raise RejectionLimitError(
        f"{what}: {pending.numel()} of {parameter.numel()} samples were rejected "
        f"{MAX_ROUNDS} times in a row, which a valid concentration makes less likely than "
        f"1e-45; their concentrations include {stuck}. The concentration must be positive "
        "and finite (NaN and inf are not): check what computes it, or build the "
        "distribution with validate_args=True to have it checked."
    )
