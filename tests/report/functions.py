"""Evaluator functions of report tests (generic searches: no training, instant)."""

from __future__ import annotations

from typing import Any


def three(values: dict[str, Any], seed: int) -> dict[str, float]:
    """Three conflicting objectives of one number in [0, 1]."""
    x, y = float(values["params.x"]), float(values["params.y"])
    return {"a": x, "b": (1 - x) * (1 + y), "c": (1 - y) + x / 2}
