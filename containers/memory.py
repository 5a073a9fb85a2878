"""How much memory this machine has free, to refuse up front what cannot fit instead of swapping or dying."""

from __future__ import annotations

import os
from pathlib import Path


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (what can be used without swapping), else the physical memory."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def gigabytes(count: float) -> str:
    return f"{count / 2**30:,.1f} GB"
