"""How numbers are shown to people: one rule for the terminal, results and the report."""

from __future__ import annotations

import math

__all__ = ["number"]


def number(value: float, digits: int = 4, *, significant: bool = False) -> str:
    """``value`` for a person: whole numbers as integers (``278``, ``12,345``), large
    ones with thousands separators, others with ``digits`` decimals (or ``digits``
    significant digits: ``0.001``, ``1e-05``); ``nan``/``inf`` as such."""
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}" if significant else f"{value:.{digits}f}"
