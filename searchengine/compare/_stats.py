"""Statistics for comparing strategies over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import betainc

__all__ = ["mean_std", "welch_t_test"]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value); NaNs dropped."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Welch t-test (unequal variances) of ``mean(a) == mean(b)``.

    Returns:
        ``(t, p)``, equal to ``scipy.stats.ttest_ind(a, b, equal_var=False)``; NaN when
        either sample has fewer than two values or both have zero variance.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size < 2 or y.size < 2:
        return math.nan, math.nan
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se2 = vx + vy
    if se2 == 0:
        return math.nan, math.nan
    t = float((x.mean() - y.mean()) / math.sqrt(se2))
    df = se2**2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    p = float(betainc(df / 2.0, 0.5, df / (df + t * t)))
    return t, p
