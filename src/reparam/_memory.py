"""How much memory this machine has, and byte counts in words people read.

Used to refuse, before any work, sizes that cannot fit (``reparam lab
--samples``, ``reparam channel --samples``).
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")
"""A Linux container's memory limit (cgroup v2), when there is one."""


def memory_limit() -> int | None:
    """This machine's memory in bytes (a container's limit if lower), or ``None`` if unknown."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    try:
        text = CGROUP_LIMIT.read_text().strip()
    except OSError:
        return physical
    return min(physical, int(text)) if text.isdigit() else physical


def format_bytes(count: int) -> str:
    """``count`` bytes in MB, GB or TB (powers of 10), three significant digits.

    >>> format_bytes(153_600_000), format_bytes(2_458_000_000_000)
    ('154 MB', '2.46 TB')
    """
    for unit, size in (("TB", 10**12), ("GB", 10**9)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count / 10**6:.3g} MB"
