"""Small statistics for ranking failure rates: a rate from few runs must not outrank a solid one."""
from __future__ import annotations

import math

Z_95 = 1.959963984540054


def wilson_lower(failures: int, runs: int, z: float = Z_95) -> float:
    """Lower bound of the Wilson score interval for failures/runs (0 for no runs).

    1 failure in 2 runs gives ~0.09; 40 in 100 gives ~0.31, so the second ranks higher.
    """
    if runs <= 0 or failures <= 0:
        return 0.0
    p = failures / runs
    z2 = z * z
    centre = p + z2 / (2 * runs)
    margin = z * math.sqrt(p * (1 - p) / runs + z2 / (4 * runs * runs))
    return max(0.0, (centre - margin) / (1 + z2 / runs))


def wilson_upper(failures: int, runs: int, z: float = Z_95) -> float:
    if runs <= 0:
        return 1.0
    p = failures / runs
    z2 = z * z
    centre = p + z2 / (2 * runs)
    margin = z * math.sqrt(p * (1 - p) / runs + z2 / (4 * runs * runs))
    return min(1.0, (centre + margin) / (1 + z2 / runs))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
