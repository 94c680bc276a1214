"""Decisions as the controller's categorical actions: how each distribution is discretized.

* categorical: one action per choice;
* int: one action per value when there are at most ``bins`` of them (steps respected),
  else ``bins`` values spread evenly over the range -- in log space for ``log=True`` --
  rounded to the step, duplicates dropped;
* float: with a step, the same as int; without, ``bins`` values from ``low`` to ``high``
  (both included), evenly spaced, in log space for ``log=True``.

A sampled action is always exactly one of these values, so a value read back from a trial
maps to its action without loss; a value that is not on the grid (a fixed or enqueued
parameter) maps to the nearest one (in log space for log scales).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = ["Actions", "actions_of"]


@dataclass(frozen=True)
class Actions:
    """The action set of one decision.

    Attributes:
        distribution: the decision's Optuna distribution.
        values: the value of each action, in Optuna's external representation.
        log: whether nearness is measured in log space.
    """

    distribution: BaseDistribution
    values: tuple[Any, ...]
    log: bool = False

    def __len__(self) -> int:
        return len(self.values)

    def value(self, action: int) -> Any:
        """The parameter value of ``action``."""
        return self.values[int(action)]

    def action(self, value: Any) -> int:
        """The action of a parameter value (the nearest grid value for numbers)."""
        if isinstance(self.distribution, CategoricalDistribution):
            return int(self.distribution.to_internal_repr(value))
        grid = np.asarray(self.values, dtype=np.float64)
        x = float(value)
        if self.log:
            grid, x = np.log(grid), math.log(x)
        return int(np.argmin(np.abs(grid - x)))


def actions_of(distribution: BaseDistribution, bins: int) -> Actions | None:
    """The actions of ``distribution``; None for a single-valued one (nothing to learn)."""
    if distribution.single():
        return None
    if isinstance(distribution, CategoricalDistribution):
        return Actions(distribution, tuple(distribution.choices))
    assert isinstance(distribution, FloatDistribution | IntDistribution)
    d = distribution
    is_int = isinstance(d, IntDistribution)
    if d.step is not None:
        count = int(round((d.high - d.low) / d.step)) + 1
        if count <= bins:
            values = [d.low + i * d.step for i in range(count)]
            return Actions(d, _cast(values, d, is_int), bool(d.log))
    if d.log:
        grid = np.exp(np.linspace(math.log(d.low), math.log(d.high), bins))
    else:
        grid = np.linspace(d.low, d.high, bins)
    if d.step is not None:
        grid = d.low + np.round((grid - d.low) / d.step) * d.step
    values = sorted(set(_cast(np.clip(grid, d.low, d.high).tolist(), d, is_int)))
    return Actions(d, tuple(values), bool(d.log))


def _cast(values: Sequence[float], d: FloatDistribution | IntDistribution, is_int: bool) -> tuple:
    if is_int:
        return tuple(int(round(v)) for v in values)
    out = [min(max(float(v), d.low), d.high) for v in values]
    if d.step is not None:  # the exact step grid, as Optuna checks it
        out = [min(d.low + round((v - d.low) / d.step) * d.step, d.high) for v in out]
    return tuple(out)
