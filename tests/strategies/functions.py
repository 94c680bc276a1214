"""Evaluator functions for strategy tests (generic searches, no training)."""

from __future__ import annotations

import os
import time
from typing import Any


def two_objectives(values: dict[str, Any], seed: int) -> dict[str, float]:
    """Two conflicting objectives of (x, k, kind), and a cost to constrain."""
    x, k = float(values["params.x"]), int(values["params.k"])
    penalty = 0.2 if values["params.kind"] == "b" else 0.0
    return {
        "f1": x + 0.1 * k + penalty,
        "f2": (1.0 - x) ** 2 + 0.1 * (5 - k) + penalty,
        "cost": 10.0 * x + k,
    }


def slow_two_objectives(values: dict[str, Any], seed: int) -> dict[str, float]:
    """``two_objectives`` after ``$SE_TEST_SLEEP`` seconds (default 0.02)."""
    time.sleep(float(os.environ.get("SE_TEST_SLEEP", "0.02")))
    return two_objectives(values, seed)


TOY_TARGET = {"params.a": 3, "params.b": "y", "params.c": 5}


def toy_target(values: dict[str, Any], seed: int) -> dict[str, float]:
    """A reward that peaks at ``TOY_TARGET`` (one point per matching decision, and the
    float ``d`` best at 0.8), with a cost that grows with ``c``."""
    matches = sum(values[k] == v for k, v in TOY_TARGET.items())
    return {"r": matches - abs(float(values["params.d"]) - 0.8), "cost": 10.0 * values["params.c"]}
