"""The controller's reward: the primary objective, minus a memory cost (NIS), or a
scalarization of the objectives; constraints and failures penalized.

With a cost weight ``lambda`` (``search.options.cost_weight``), as in NIS, by default
(``cost_scale: spread``) in units of the spread of the primary objective the controller
has seen:

    R = s_0 * v_0 - lambda * S * C_M,    C_M = cost / reference

``S`` the standard deviation of ``s_0 * v_0`` over the last 256 measured outcomes (0
before two). So with ``lambda < 1`` the cost decides between candidates whose objective
ties, and never outweighs a difference in the objective larger than the spread, whatever
the metric's scale and the noise of its measurement (a validation batch's AUC).
``cost_scale: absolute`` is the NIS paper's ``R = s_0 * v_0 - lambda * C_M``.

``v_0`` the first objective, ``s_0`` +1 to maximize and -1 to minimize; ``cost`` the
candidate's ``cost_metric`` (``embedding_params`` by default) and ``reference`` that of
the full-size architecture (every width and multi-size decision at its largest value),
or, where it cannot be computed, the largest cost seen so far. Other objectives are
recorded, not rewarded.

Without a cost weight: one objective gives ``R = s_0 * v_0``; several give the weighted
sum of the objectives min-max normalized over the candidates seen so far, each in
``[0, 1]`` with 1 the best, ``R = sum_k w_k * (s_k * v_k - lo_k) / (hi_k - lo_k)``
(equal weights unless ``objective_weights`` says otherwise).

Candidates that fail (an exception, NaN values, pruned) or violate a constraint get the
worst reward given so far, so they are never preferred to a measured feasible one;
before any reward is known they teach nothing. Interrupted trials, and trials that never
ran (surplus), are left out.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from optuna.trial import FrozenTrial, TrialState

from searchengine._optuna import METRICS_ATTR, unused

__all__ = ["Outcome", "RewardSettings", "Rewarder", "outcome_of"]

#: The outcomes the spread of the primary objective is measured over.
SPREAD_WINDOW = 256


@dataclass(frozen=True)
class RewardSettings:
    """How outcomes become rewards.

    Attributes:
        maximize: for each objective, whether it is maximized.
        cost_weight: ``lambda``; None scalarizes the objectives instead.
        reference: the cost of the full-size architecture; None: the largest seen.
        weights: weights of the objectives without ``lambda`` (default: all 1).
        cost_scale: ``spread``: ``lambda`` in units of the primary objective's observed
            spread; ``absolute``: in the objective's units.
    """

    maximize: tuple[bool, ...]
    cost_weight: float | None = None
    reference: float | None = None
    weights: tuple[float, ...] | None = None
    cost_scale: str = "spread"


@dataclass(frozen=True)
class Outcome:
    """What one candidate gives the reward.

    Attributes:
        values: the objective values; None when it failed or was pruned.
        cost: its cost metric, if measured.
        feasible: whether it satisfies every constraint.
    """

    values: tuple[float, ...] | None
    cost: float | None = None
    feasible: bool = True

    @property
    def measured(self) -> bool:
        return self.values is not None and self.feasible


def outcome_of(trial: FrozenTrial, cost_metric: str) -> Outcome | None:
    """The outcome of a finished trial; None for one that must not teach anything."""
    if unused(trial):
        return None
    metrics = trial.user_attrs.get(METRICS_ATTR) or {}
    cost = metrics.get(cost_metric) if isinstance(metrics, dict) else None
    cost = float(cost) if isinstance(cost, int | float) and math.isfinite(cost) else None
    feasible = all(v <= 0 for v in trial.constraints.values())
    values = trial.values if trial.state == TrialState.COMPLETE else None
    if values is None or not all(math.isfinite(v) for v in values):
        return Outcome(None, cost, feasible)
    return Outcome(tuple(float(v) for v in values), cost, feasible)


@dataclass
class Rewarder:
    """Turns outcomes into rewards, batch after batch; its running state (ranges, worst
    reward, largest cost) depends only on the outcomes given, in order."""

    settings: RewardSettings
    worst: float | None = None
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    largest_cost: float = 0.0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=SPREAD_WINDOW))

    def rewards(self, outcomes: Sequence[Outcome | None]) -> list[float | None]:
        """The reward of each outcome (None: not to learn from)."""
        for o in outcomes:
            if o is not None and o.measured:
                self._observe(o)
        out: list[float | None] = [
            self._reward(o) if o is not None and o.measured else None for o in outcomes
        ]
        known = [r for r in out if r is not None]
        if known:
            self.worst = min(known) if self.worst is None else min(self.worst, *known)
        return [
            r if r is not None or o is None else self.worst
            for r, o in zip(out, outcomes, strict=True)
        ]

    def _signed(self, values: Sequence[float]) -> list[float]:
        return [v if up else -v for v, up in zip(values, self.settings.maximize, strict=True)]

    def _observe(self, o: Outcome) -> None:
        assert o.values is not None
        signed = self._signed(o.values)
        if not self.low:
            self.low, self.high = list(signed), list(signed)
        self.low = [min(a, b) for a, b in zip(self.low, signed, strict=True)]
        self.high = [max(a, b) for a, b in zip(self.high, signed, strict=True)]
        if o.cost is not None:
            self.largest_cost = max(self.largest_cost, o.cost)
        self.recent.append(signed[0])

    def spread(self) -> float:
        """The standard deviation of the primary objective over the recent outcomes."""
        if len(self.recent) < 2:
            return 0.0
        mean = sum(self.recent) / len(self.recent)
        return math.sqrt(sum((v - mean) ** 2 for v in self.recent) / len(self.recent))

    def _reward(self, o: Outcome) -> float:
        assert o.values is not None
        s = self.settings
        signed = self._signed(o.values)
        if s.cost_weight is not None:
            reference = s.reference or self.largest_cost
            cost = (o.cost or 0.0) / reference if reference > 0 else 0.0
            scale = self.spread() if s.cost_scale == "spread" else 1.0
            return signed[0] - s.cost_weight * scale * cost
        if len(signed) == 1:
            return signed[0]
        weights = s.weights or (1.0,) * len(signed)
        total = 0.0
        for w, v, lo, hi in zip(weights, signed, self.low, self.high, strict=True):
            total += w * ((v - lo) / (hi - lo) if hi > lo else 0.0)
        return total
