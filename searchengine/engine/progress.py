"""Live progress of a search: a rich bar on the terminal, or JSON lines for machines.

The bar shows trial i/N, the running trial's epoch and validation AUC, the best value so
far (or the size of the Pareto front), the elapsed time and an estimate of the time left.
Without a terminal (``run spec.yaml > log 2>&1``) the bar would show nothing until the
end, so one plain line per finished trial is written to stderr instead::

    trial 3 COMPLETE auc 0.8612 | best auc 0.8650 (trial 1) | 4/12 | 0:00:42

With a JSON stream, one line is written per epoch and one per finished trial::

    {"event": "epoch", "trial": 3, "epoch": 1, "epochs": 10, "valid_auc": 0.861, ...}
    {"event": "trial", "trial": 3, "state": "COMPLETE", "values": {"auc": 0.861}, ...}

Epochs are known in the process that trains (the evaluator calls :meth:`Progress.epoch`);
a coordinator of worker processes sees trials only.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from searchengine._format import number
from searchengine._optuna import reason, retrain_of
from searchengine.engine.results import best_trials
from searchengine.spec import Spec

__all__ = ["Progress"]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_log = logging.getLogger(__name__)


class Progress:
    """Progress of one search, shown while it runs (see the module docstring).

    Use it as a context manager around the search; pass :meth:`update` as a trial
    callback. With an ``evaluator`` that has ``listeners`` (the CTR
    :class:`~searchengine.evaluation.Evaluator`), :meth:`epoch` is registered there while
    the context is open.

    Args:
        study: the study searched.
        budget: the trial budget (the whole study counts).
        spec: the spec (objective names, timeout).
        enabled: show the rich bar on stderr.
        log_json: a text stream for JSON lines, or None.
        evaluator: the evaluator to listen to for epochs.
    """

    def __init__(
        self,
        study: optuna.Study,
        budget: int,
        spec: Spec,
        *,
        enabled: bool,
        log_json: TextIO | None = None,
        evaluator: Any = None,
    ) -> None:
        from searchengine.engine.study import budget_used

        self.study, self.budget, self.enabled = study, budget, enabled
        self.objectives = [o.metric for o in spec.objectives]
        self.timeout = spec.search.timeout
        self.log_json, self.evaluator = log_json, evaluator
        self.start_done = budget_used(study)
        self.done = self.start_done
        self.started = time.monotonic()
        self._seen = {t.number for t in study.get_trials(deepcopy=False, states=_FINISHED)}
        self._bar: RichProgress | None = None
        self._task: Any = None
        self._plain: TextIO | None = None

    def __enter__(self) -> Progress:
        console = Console(stderr=True)
        if self.enabled and not console.is_terminal:
            self._plain = sys.stderr
        elif self.enabled:
            self._bar = RichProgress(
                TextColumn("trial {task.completed}/{task.total}"),
                BarColumn(),
                TextColumn("{task.fields[current]}"),
                TextColumn("{task.fields[best]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[eta]}"),
                console=console,
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(
                "search", total=self.budget, completed=self.start_done, current="", best="",
                eta="",
            )  # fmt: skip
        listeners = getattr(self.evaluator, "listeners", None)
        if listeners is not None:
            listeners.append(self.epoch)
        return self

    def __exit__(self, *exc: object) -> None:
        listeners = getattr(self.evaluator, "listeners", None)
        if listeners is not None and self.epoch in listeners:
            listeners.remove(self.epoch)
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self) -> float | None:
        """Seconds left: the mean time of this run's trials times the trials left."""
        finished = self.done - self.start_done
        left = max(self.budget - self.done, 0)
        estimate = self.elapsed() / finished * left if finished > 0 else None
        if self.timeout is not None:
            remaining = max(self.timeout - self.elapsed(), 0.0)
            estimate = remaining if estimate is None else min(estimate, remaining)
        return estimate

    def epoch(
        self,
        trial: optuna.trial.BaseTrial | None,
        epoch: int,
        epochs: int,
        metrics: dict[str, float],
    ) -> None:
        """An epoch of the running trial finished (the evaluator's listener)."""
        number = getattr(trial, "number", None)
        phase = getattr(trial, "phase", None)  # a one-shot search's own training
        auc = metrics.get("auc", math.nan)
        if self._bar is not None:
            label = f"{phase} " if phase else (f"#{number} " if number is not None else "")
            if "auc" in metrics or not metrics:
                shown, value = "valid auc", auc
            else:  # a search phase reports its own metric
                shown, value = next(iter(metrics.items()))
            text = f"{label}epoch {epoch + 1}/{epochs} {shown} {value:.4f}"
            self._bar.update(self._task, current=text)
        self._emit(
            event="epoch",
            trial=number,
            **({"phase": phase} if phase else {}),
            epoch=epoch,
            epochs=epochs,
            **{f"valid_{k}": v for k, v in metrics.items()},
            elapsed_s=round(self.elapsed(), 3),
        )

    def update(self, study: optuna.Study, trial: FrozenTrial | None) -> None:
        """A trial finished (a study callback), or a coordinator polls (``trial`` None)."""
        from searchengine.engine.study import budget_used

        if self._bar is None and self._plain is None and self.log_json is None:
            return  # nothing is shown: no storage reads (they cost a trial milliseconds)
        trials = study.get_trials(deepcopy=False)
        self.done = budget_used(study, trials)
        finished = [trial] if trial is not None else self._new_finished(trials)
        best = best_trials(study, trials)
        for t in finished:
            if t.number not in self._seen:
                self._seen.add(t.number)
                self._emit_trial(t, best)
                self._print_trial(t, best)
        if self._bar is None:
            return
        text = f"best {self.objectives[0]} {best[0].values[0]:.4f}" if best else ""
        if len(study.directions) > 1:
            text = f"{len(best)} on the Pareto front"
        eta = self.eta()
        self._bar.update(
            self._task,
            total=max(self.budget, self.done),
            completed=self.done,
            best=text,
            current="",
            eta=f"eta {_clock(eta)}" if eta is not None else "",
        )

    def _new_finished(self, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        return [t for t in trials if t.state in _FINISHED and t.number not in self._seen]

    def _print_trial(self, trial: FrozenTrial, best: list[FrozenTrial]) -> None:
        """One plain line for a finished trial (no terminal: see the module docstring)."""
        if self._plain is None:
            return
        values = " ".join(
            f"{m} {_number(v)}" for m, v in zip(self.objectives, trial.values or [], strict=False)
        )
        why = reason(trial)
        what = values or why[:100]
        if len(self.objectives) > 1:
            so_far = f"{len(best)} on the Pareto front"
        elif best:
            so_far = (
                f"best {self.objectives[0]} {_number(best[0].values[0])} (trial {best[0].number})"
            )
        else:
            so_far = "no best yet"
        retrained = retrain_of(trial)
        extra = f"(full-fidelity retrain of trial {retrained})" if retrained is not None else ""
        head = " ".join(p for p in (f"trial {trial.number}", trial.state.name, what, extra) if p)
        # a one-shot strategy may record more trials than the budget (pep: one per target)
        count = f"{self.done}/{max(self.budget, self.done)}"
        line = f"{head} | {so_far} | {count} | {_clock(self.elapsed())}"
        try:
            self._plain.write(line + "\n")
            self._plain.flush()
        except (OSError, ValueError):  # a closed pipe must not fail the trial
            self._plain = None

    def _emit_trial(self, trial: FrozenTrial, best: list[FrozenTrial]) -> None:
        if self.log_json is None:
            return
        values = dict(zip(self.objectives, trial.values or [], strict=False))
        why = reason(trial)
        extra: dict[str, Any] = {"pareto_size": len(best)}
        if len(self.objectives) == 1:
            extra = {"best": best[0].values[0] if best else None}
        eta = self.eta()
        self._emit(
            event="trial",
            trial=trial.number,
            state=trial.state.name,
            values=values,
            feasible=all(v <= 0 for v in trial.constraints.values()),
            reason=why or None,
            done=self.done,
            budget=self.budget,
            **extra,
            elapsed_s=round(self.elapsed(), 3),
            eta_s=None if eta is None else round(eta, 1),
        )

    def _emit(self, **fields: Any) -> None:
        if self.log_json is None:
            return
        try:
            self.log_json.write(json.dumps(_finite(fields), default=_plain) + "\n")
            self.log_json.flush()
        except (OSError, ValueError) as exc:  # a closed pipe must not fail the trial
            _log.warning("stopped writing JSON progress lines: %s", exc)
            self.log_json = None


def _finite(value: Any) -> Any:
    """NaN and infinities as null: JSON has no such numbers."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def _number(value: float) -> str:
    return number(value)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
