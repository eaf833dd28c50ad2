"""Small real workloads for end-to-end tests (importable by worker pool children)."""
from __future__ import annotations

import time


def burn(seconds: float) -> int:
    """Spin the CPU for about ``seconds`` of CPU time (slower when the CPU is shared)."""
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:
        n += 1
    return n
