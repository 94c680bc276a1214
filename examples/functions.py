"""Example evaluators for generic searches (``evaluator: examples.functions:branin``).

An evaluator receives the sampled values, keyed by decision name (``params.x``), and the
search seed; it returns a dict of metrics that objectives and constraints may name.
"""

from __future__ import annotations

import math
from typing import Any


def branin(values: dict[str, Any], seed: int) -> dict[str, float]:
    """The Branin function (minimum 0.397887) plus a cost that grows with ``x``.

    ``params.scale`` (a choice) multiplies nothing but the cost, to show a categorical.
    """
    x, y = float(values["params.x"]), float(values["params.y"])
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    value = a * (y - b * x**2 + c * x - r) ** 2 + s * (1 - t) * math.cos(x) + s
    scale = {"small": 1.0, "large": 2.0}[values.get("params.scale", "small")]
    return {"branin": value, "cost": scale * (x + 5.0)}


def fails_when_large(values: dict[str, Any], seed: int) -> dict[str, float]:
    """Raises for x > 4, to show failing candidates recorded as FAIL trials."""
    x = float(values["params.x"])
    if x > 4:
        raise ValueError(f"x={x:.2f} is too large")
    return {"value": (x - 1.0) ** 2}
