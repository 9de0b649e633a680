"""The sample counts a comparison measures, checked and in increasing order."""

from __future__ import annotations

from collections.abc import Sequence


def sample_counts(num_samples: int | Sequence[int]) -> list[int]:
    """``num_samples`` (one count or several) as distinct counts in increasing order.

    Raises ``ValueError`` for an empty sequence or a count that is not an integer >= 1.
    """
    counts = [num_samples] if isinstance(num_samples, int) else list(num_samples)
    if not counts:
        raise ValueError("num_samples must name at least one sample count")
    for count in counts:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"sample counts must be integers >= 1, got {count!r}")
    return sorted(set(counts))
