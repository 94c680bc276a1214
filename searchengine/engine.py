"""The ask -> evaluate -> tell loop, study creation and resume, callbacks.

``run(spec)`` compiles the spec's space, opens (or resumes) its Optuna study, and lets the
strategy drive it until the trial budget, counted over the whole study, or the timeout
is spent. Every candidate becomes one trial: COMPLETE with its objective values (and its
constraint values, so infeasible trials are recorded as such), PRUNED, or FAIL with its
reason in the trial's user attributes. The study stays consistent whatever happens:
Ctrl-C fails the running trial as interrupted (it does not count against the budget)
and a rerun continues.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from searchengine import _results
from searchengine._storage import default_storage_url, open_storage
from searchengine.errors import SearchEngineError, SpecError
from searchengine.evaluation import CandidateError, make_evaluator, metric_direction
from searchengine.evaluation.evaluator import BaseEvaluator, Result
from searchengine.searchspace import Architecture, SearchSpace, Spec
from searchengine.searchspace.spec import safe_name
from searchengine.strategies import OneShotStrategy, SamplerStrategy, Strategy, resolve_strategy

__all__ = ["RunResult", "Session", "open_study", "run"]

_log = logging.getLogger(__name__)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
SPACE_ATTR, SPEC_ATTR = "searchengine:space", "searchengine:spec"
Callback = Callable[[optuna.Study, FrozenTrial], None]


@dataclass
class RunResult:
    """The outcome of :func:`run`."""

    study: optuna.Study
    space: SearchSpace
    out_dir: Path
    best: list[FrozenTrial] = field(default_factory=list)
    interrupted: bool = False
    summary: dict[str, Any] = field(default_factory=dict)


def budget_used(study: optuna.Study) -> int:
    """Finished trials that count against the budget (interrupted ones do not)."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=FINISHED)
        if not t.user_attrs.get("interrupted")
    )


class Session:
    """One search in progress: the study, the space, the evaluator and the budget.

    The engine's loop uses it for black-box strategies; one-shot strategies receive it and
    call :meth:`record` for each Architecture they derive.
    """

    def __init__(
        self,
        spec: Spec,
        space: SearchSpace,
        study: optuna.Study,
        evaluator: BaseEvaluator,
        *,
        trials: int,
        timeout: float | None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.spec, self.space, self.study, self.evaluator = spec, space, study, evaluator
        self.trials, self.timeout = trials, timeout
        self.callbacks = list(callbacks)
        self.started = time.monotonic()
        self.objectives = [o.metric for o in spec.objectives]

    @property
    def single_objective(self) -> bool:
        return len(self.objectives) == 1

    def budget_left(self) -> int:
        return self.trials - budget_used(self.study)

    def time_left(self) -> float:
        if self.timeout is None:
            return math.inf
        return self.timeout - (time.monotonic() - self.started)

    def exhausted(self) -> bool:
        return self.budget_left() <= 0 or self.time_left() <= 0

    def record(
        self, arch: Architecture, *, user_attrs: dict[str, Any] | None = None
    ) -> FrozenTrial:
        """Evaluate ``arch`` with the common evaluator and record it as one trial.

        One-shot strategies put their search cost (seconds, epochs) and learned weights
        in ``user_attrs``.
        """
        self.study.enqueue_trial(dict(arch.params), user_attrs=user_attrs)
        trial = self.study.ask(fixed_distributions=self.space.distributions(arch.values))
        return self.evaluate_trial(trial, lambda: arch)

    def evaluate_trial(
        self, trial: optuna.Trial, make_arch: Callable[[], Architecture]
    ) -> FrozenTrial:
        """Evaluate one asked trial and tell the study; never raises for a bad candidate."""
        try:
            values = self._evaluate(trial, make_arch())
        except optuna.TrialPruned as exc:
            trial.set_user_attr("prune_reason", str(exc) or "pruned")
            frozen = self.study.tell(trial, state=TrialState.PRUNED)
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            trial.set_user_attr("fail_reason", "interrupted")
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        except SearchEngineError:
            trial.set_user_attr("fail_reason", "aborted: bad input")
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as exc:  # a failing candidate must not stop the study
            reason = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, CandidateError):
                _log.warning("trial %d failed: %s", trial.number, reason, exc_info=True)
            trial.set_user_attr("fail_reason", reason[:2000])
            frozen = self.study.tell(trial, state=TrialState.FAIL)
        else:
            frozen = self.study.tell(trial, values)
        for callback in self.callbacks:
            callback(self.study, frozen)
        return frozen

    def _evaluate(self, trial: optuna.Trial, arch: Architecture) -> list[float]:
        static = self.evaluator.static_metrics(arch)
        done: set[str] = set()
        over = self._set_constraints(trial, static, done)
        if over:
            trial.set_user_attr("metrics", static)
            raise optuna.TrialPruned("over constraint, not trained: " + "; ".join(over))
        result: Result = self.evaluator.evaluate(arch, trial, report=self.single_objective)
        missing = [m for m in self.objectives if m not in result.metrics]
        if missing:
            raise CandidateError(f"the evaluator returned no {', '.join(missing)}")
        values = [float(result.metrics[m]) for m in self.objectives]
        trial.set_user_attr("metrics", result.metrics)
        if result.test_metrics:
            trial.set_user_attr("test_metrics", result.test_metrics)
        if result.history:
            trial.set_user_attr("history", result.history)
        self._set_constraints(trial, result.metrics, done, final=True)
        bad = [m for m, v in zip(self.objectives, values, strict=True) if not math.isfinite(v)]
        if bad:
            raise CandidateError(f"non-finite {', '.join(bad)}")
        return values

    def _set_constraints(
        self, trial: optuna.Trial, metrics: dict[str, float], done: set[str], final: bool = False
    ) -> list[str]:
        """Record each constraint whose metric is known; return the violated ones."""
        over = []
        for c in self.spec.constraints:
            if c.metric not in metrics:
                if final:
                    raise CandidateError(f"constraint metric {c.metric!r} was not measured")
                continue
            value = float(metrics[c.metric])
            violation = max(
                (value - c.max) if c.max is not None else -math.inf,
                (c.min - value) if c.min is not None else -math.inf,
            )
            key = _constraint_key(c)
            if key not in done:
                trial.set_constraint(key, violation)
                done.add(key)
            if violation > 0:
                over.append(f"{c.metric}={value:g} ({key})")
        return over


def _constraint_key(c: Any) -> str:
    parts = ([f"{c.metric}<={c.max:g}"] if c.max is not None else []) + (
        [f"{c.metric}>={c.min:g}"] if c.min is not None else []
    )
    return " and ".join(parts)


def directions(spec: Spec) -> list[str]:
    return [o.direction or metric_direction(o.metric) or "minimize" for o in spec.objectives]


def _pruner(spec: Spec) -> optuna.pruners.BasePruner:
    if spec.search.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if spec.search.pruner == "hyperband":
        epochs = spec.train.epochs if isinstance(spec.train.epochs, int) else 100
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 2))
    return optuna.pruners.NopPruner()


def open_study(
    spec: Spec, space: SearchSpace, strategy: Strategy, storage: str, study_name: str
) -> optuna.Study:
    """Create the study, or load it to resume; check it still fits the spec.

    Raises:
        SpecError: the study exists with other objectives, or a decision of the same name
            now has another distribution.
    """
    wanted = directions(spec)
    sampler = (
        strategy.sampler(space, [optuna.study.StudyDirection[d.upper()] for d in wanted])
        if isinstance(strategy, SamplerStrategy)
        else optuna.samplers.RandomSampler(strategy.seed)
    )
    study = optuna.create_study(
        storage=open_storage(storage),
        study_name=study_name,
        directions=wanted,
        sampler=sampler,
        pruner=_pruner(spec),
        load_if_exists=True,
    )
    found = [d.name.lower() for d in study.directions]
    if found != wanted:
        raise SpecError(
            f"study {study_name!r} in {storage} optimizes {found}, the spec "
            f"{wanted}; pick another --study name"
        )
    stored: dict[str, str] = dict(study.user_attrs.get(SPACE_ATTR, {}))
    changed = [n for n, d in space.signature().items() if n in stored and stored[n] != d]
    if changed:
        raise SpecError(
            f"decision(s) {', '.join(changed[:5])} changed their distribution since study "
            f"{study_name!r} began; a decision keeps one distribution within a study. "
            "Use another --study name, or restore the spec."
        )
    stored.update(space.signature())
    study.set_user_attr(SPACE_ATTR, stored)
    if SPEC_ATTR not in study.user_attrs:
        study.set_user_attr(SPEC_ATTR, spec.model_dump(mode="json", by_alias=True))
    return study


def run(
    spec: Spec,
    *,
    strategy: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    evaluator: BaseEvaluator | None = None,
    progress: bool = True,
) -> RunResult:
    """Run (or resume) the search a spec describes.

    Arguments override the spec's ``search`` settings. Returns the study, the best trial
    (or the Pareto set), and whether the run was interrupted; writes ``result.json`` and
    ``best.yaml`` to the output folder (default ``runs/<name>/``).

    Raises:
        SearchEngineError: bad input (unknown strategy, data errors, study mismatch).
    """
    settings = spec.search.model_copy(
        update={
            k: v
            for k, v in {
                "strategy": strategy,
                "trials": trials,
                "timeout": timeout,
                "storage": storage,
                "study": study_name,
                "seed": seed,
            }.items()
            if v is not None
        }
    )
    spec = spec.model_copy(update={"search": settings})
    space = SearchSpace.from_spec(spec)
    strategy_obj = resolve_strategy(settings.strategy)(seed=settings.seed, **settings.options)
    strategy_obj.check(space)
    out_dir = Path(out) if out is not None else Path("runs") / safe_name(spec.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage_url = settings.storage or default_storage_url(out_dir)
    study = open_study(spec, space, strategy_obj, storage_url, spec.study_name)
    evaluator = evaluator or make_evaluator(spec)
    prepare = getattr(evaluator, "prepare", None)
    if prepare is not None:
        prepare()  # data errors surface before any trial is asked
    budget = settings.trials if len(space) else 1
    display = _results.Progress(study, budget, spec, enabled=progress)
    session = Session(
        spec,
        space,
        study,
        evaluator,
        trials=budget,
        timeout=settings.timeout,
        callbacks=[*callbacks, display.update, strategy_obj.after_trial],
    )
    interrupted = False
    with display:
        try:
            if isinstance(strategy_obj, OneShotStrategy):
                strategy_obj.search(session)
            else:
                while not session.exhausted():
                    trial = study.ask()
                    session.evaluate_trial(trial, lambda t=trial: space.sample(t))
        except KeyboardInterrupt:
            interrupted = True
            _log.warning("interrupted: the study is consistent; rerun to continue")
    summary = _results.write(study, space, spec, out_dir, storage_url, settings.strategy)
    best = _results.best_trials(study)
    return RunResult(study, space, out_dir, best, interrupted, summary)
