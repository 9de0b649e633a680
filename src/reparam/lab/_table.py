"""Text tables of the lab's results: text columns on the left, figures on the right."""

from __future__ import annotations

from collections.abc import Sequence


def aligned_lines(
    columns: tuple[str, ...], cells: Sequence[tuple[str, ...]], left: int = 3
) -> list[str]:
    """The header ``columns`` and then each row of ``cells`` as one line.

    Each column is as wide as its widest text, columns are two spaces apart; the
    first ``left`` are aligned to the left (names), the others to the right
    (figures). Trailing spaces are dropped.
    """
    widths = [max(len(t) for t in col) for col in zip(columns, *cells, strict=False)]

    def line(texts: tuple[str, ...]) -> str:
        start = [t.ljust(w) for t, w in zip(texts[:left], widths[:left], strict=False)]
        end = [t.rjust(w) for t, w in zip(texts[left:], widths[left:], strict=False)]
        return "  ".join(start + end).rstrip()

    return [line(columns), *(line(c) for c in cells)]
