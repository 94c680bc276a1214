"""What every figure of a report reads: one snapshot of a study, and helpers over it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from searchengine.errors import SearchEngineError
from searchengine.spec.format import Spec

__all__ = ["ReportContext"]

_log = logging.getLogger(__name__)


@dataclass
class ReportContext:
    """A study as the report sees it: the trials of one moment, the spec, the chosen trial.

    Attributes:
        study: the study (it may still be running).
        spec: the spec stored with it by ``searchengine run``, or None.
        storage: its storage URL.
        trials: every trial at the moment the report began.
        chosen_number: the trial whose architecture the per-trial figures show
            (``--trial``); default the best feasible trial.
        notes: why figures were left out, in the order found.
    """

    study: optuna.Study
    spec: Spec | None
    storage: str
    trials: list[FrozenTrial]
    chosen_number: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def objectives(self) -> list[str]:
        """The objective names: the spec's metrics, Optuna's metric names, or numbers."""
        if self.spec is not None:
            return [o.metric for o in self.spec.objectives]
        names = self.study.metric_names
        return list(names) if names else [f"objective {i}" for i in range(len(self.signs))]

    @cached_property
    def signs(self) -> np.ndarray:
        """+1 for a minimized objective, -1 for a maximized one (minimization form)."""
        minimize = optuna.study.StudyDirection.MINIMIZE
        return np.array([1.0 if d == minimize else -1.0 for d in self.study.directions])

    @property
    def strategy(self) -> str:
        return self.spec.search.strategy if self.spec is not None else "unknown"

    def complete(self) -> list[FrozenTrial]:
        """COMPLETE trials with finite values, by number."""
        return [
            t
            for t in self.trials
            if t.state == TrialState.COMPLETE
            and t.values is not None
            and all(np.isfinite(v) for v in t.values)
        ]

    @staticmethod
    def feasible(trial: FrozenTrial) -> bool:
        return all(v <= 0 for v in trial.constraints.values())

    @cached_property
    def chosen(self) -> FrozenTrial | None:
        """The trial the per-trial figures show, or None when there is none yet."""
        done = self.complete()
        if self.chosen_number is not None:
            for t in self.trials:
                if t.number == self.chosen_number:
                    return t
            raise SearchEngineError(
                f"no trial {self.chosen_number} in study {self.study.study_name!r}"
            )
        feasible = [t for t in done if self.feasible(t)] or done
        if not feasible:
            return None
        return min(feasible, key=lambda t: float(self.signs[0] * t.values[0]))

    def trial_attr(self, name: str) -> tuple[FrozenTrial, Any] | None:
        """The user attribute ``name`` of the chosen trial, else of the latest trial with it."""
        chosen = self.chosen
        if chosen is not None and name in chosen.user_attrs:
            return chosen, chosen.user_attrs[name]
        for t in reversed(self.trials):
            if name in t.user_attrs and t.state == TrialState.COMPLETE:
                return t, t.user_attrs[name]
        return None

    def architecture(self, trial: FrozenTrial) -> Any:
        """The Architecture a trial was evaluated with, or None (no spec, or a spec the
        trial's parameters no longer fit)."""
        if self.spec is None or self.spec.is_generic:
            return None
        from searchengine.searchspace import SearchSpace

        try:
            return SearchSpace.from_spec(self.spec).of_trial(trial)
        except SearchEngineError as exc:
            self.notes.append(f"trial {trial.number}'s architecture: {exc}")
            return None

    @cached_property
    def schema(self) -> Any:
        """The encoded data's schema (vocabulary sizes, train counts), or None."""
        if self.spec is None or self.spec.is_generic:
            return None
        from searchengine.data import load_data

        try:
            return load_data(self.spec.data_or_default()).schema
        except SearchEngineError as exc:
            self.notes.append(f"data not available for per-field figures: {exc}")
            return None
