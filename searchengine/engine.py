"""The ask -> evaluate -> tell loop, study creation and resume, callbacks.

``run(spec)`` compiles the spec's space, opens (or resumes) its Optuna study, and lets the
strategy drive it until the trial budget, counted over the whole study, or the timeout
is spent. Every candidate becomes one trial: COMPLETE with its objective values (and its
constraint values, so infeasible trials are recorded as such), PRUNED, or FAIL with its
reason in the trial's user attributes. The study stays consistent whatever happens:

* Ctrl-C fails the running trial as ``interrupted``; it does not count against the
  budget and a rerun continues.
* With several workers on one storage, the budget is shared: a worker asks only while
  finished + running trials are below it, and a trial that still overshoots (two workers
  racing) is closed as ``surplus`` before any work is done.
* On RDB storages each running trial sends heartbeats; a trial whose worker died is failed
  after the grace period and re-queued once, and the failed copy does not count.
* A purely discrete space (int and categorical decisions) with no more candidates than
  the budget ends the run, with a warning, once every candidate has a COMPLETE trial:
  more trials could only repeat them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState

from searchengine import _results
from searchengine._preflight import check_data
from searchengine._progress import Progress
from searchengine._stale import can_resolve, fail_gone_trials, mark_worker, own_running
from searchengine._storage import StorageOptions, default_storage_url, open_storage
from searchengine.errors import SearchEngineError, SpecError
from searchengine.evaluation import CandidateError, make_evaluator, metric_direction
from searchengine.evaluation.evaluator import BaseEvaluator, Result
from searchengine.searchspace import SearchSpace
from searchengine.searchspace._enumerate import Candidate, candidate_of, candidates
from searchengine.searchspace.loader import spec_source
from searchengine.spec import Architecture, Spec
from searchengine.spec.format import SearchSettings, safe_name
from searchengine.strategies import (
    RandomStrategy,
    SamplerStrategy,
    Strategy,
    continued_seed,
    create_strategy,
)

__all__ = ["RunResult", "Session", "budget_used", "open_study", "run"]

_log = logging.getLogger(__name__)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
SPACE_ATTR, SPEC_ATTR = "searchengine:space", "searchengine:spec"
SECONDS_ATTR = "searchengine:seconds"
ONESHOT_ATTR = "searchengine:oneshot"
#: Study user attribute: the strategy that drives the study (the last one switched to).
STRATEGY_ATTR = "searchengine:strategy"
#: Trial user attribute: the strategy that proposed the trial.
TRIAL_STRATEGY_ATTR = "strategy"
Callback = Callable[[optuna.Study, FrozenTrial], None]
# the most candidates of a discrete space enumerated to tell when it is exhausted
_ENUMERATED = 100_000


@dataclass
class RunResult:
    """The outcome of :func:`run`."""

    study: optuna.Study
    space: SearchSpace
    out_dir: Path
    best: list[FrozenTrial] = field(default_factory=list)
    interrupted: bool = False
    summary: dict[str, Any] = field(default_factory=dict)


def _uncounted(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of finished trials that do not use budget: interrupted, surplus, retried."""
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
    return retried | {
        t.number for t in trials if t.user_attrs.get("interrupted") or t.user_attrs.get("surplus")
    }


def budget_used(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> int:
    """Finished trials that count against the budget (of ``trials``, read if not given)."""
    if trials is None:
        trials = study.get_trials(deepcopy=False)
    skip = _uncounted(trials)
    return sum(1 for t in trials if t.state in FINISHED and t.number not in skip)


def _claimed(trials: Sequence[FrozenTrial], below: int | None = None) -> int:
    """Trials that use budget now or will: counted finished ones, running and waiting ones."""
    skip = _uncounted(trials)
    return sum(1 for t in trials if t.number not in skip and (below is None or t.number < below))


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
        stale_after: float | None = None,
        poll: float = 1.0,
    ) -> None:
        self.spec, self.space, self.study, self.evaluator = spec, space, study, evaluator
        self.trials, self.timeout = trials, timeout
        self.stale_after, self.poll = stale_after, poll
        self.callbacks = list(callbacks)
        self.started = time.monotonic()
        self.objectives = [o.metric for o in spec.objectives]
        self._held: optuna.Trial | None = None
        self._candidates: set[Candidate] | None = None
        self._enumerated = False

    @property
    def single_objective(self) -> bool:
        return len(self.objectives) == 1

    def budget_left(self) -> int:
        """Trials this study may still start (finished, running and queued ones count)."""
        return self.trials - _claimed(self.study.get_trials(deepcopy=False))

    def time_left(self) -> float:
        if self.timeout is None:
            return math.inf
        return self.timeout - (time.monotonic() - self.started)

    def exhausted(self) -> bool:
        return self.budget_left() <= 0 or self.time_left() <= 0

    def space_exhausted(self) -> bool:
        """Whether every candidate of a purely discrete space has a COMPLETE trial.

        The candidates are enumerated once, and only up to the trial budget: a space
        with more candidates than the budget cannot run out first.
        """
        if not self._enumerated:
            self._candidates = candidates(self.space, min(self.trials, _ENUMERATED))
            self._enumerated = True
        if self._candidates is None:
            return False
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return self._candidates <= {candidate_of(t.params.items()) for t in trials}

    def next_trial(self) -> optuna.Trial | None:
        """Ask the study for a trial, or None when the budget is spent by finished trials,
        the time is spent, or every candidate of a discrete space has been evaluated
        (said in the log).

        A budget spent only by counting RUNNING trials is not spent yet: this waits for
        them to finish, or to be failed as stale (their worker gone, see
        :mod:`searchengine._stale`) and re-queued, then runs the re-queued copies. It does
        not wait for a trial that nothing can tell stale (another host's, on a storage
        without heartbeats and no ``stale_after``): that one keeps its budget slot.
        """
        announced = False
        while True:
            _fail_stale_trials(self.study)
            fail_gone_trials(self.study, self.stale_after)
            if self.time_left() <= 0:
                return None
            trials = self.study.get_trials(deepcopy=False)
            if any(t.state == TrialState.WAITING for t in trials):
                return self._ask()  # a retry, or a trial enqueued by hand: claimed already
            if _claimed(trials) < self.trials:
                if self.space_exhausted():
                    _log.warning(
                        "search space exhausted: all %d candidates have a complete trial; "
                        "stopping with %d of the %d trials of the budget used (more would "
                        "only repeat them)",
                        len(self._candidates or ()), budget_used(self.study), self.trials,
                    )  # fmt: skip
                    return None
                return self._ask()
            running = [t for t in trials if t.state == TrialState.RUNNING]
            pending = [t.number for t in running if can_resolve(self.study, t, self.stale_after)]
            if not pending:
                _warn_unresolved([t.number for t in running])
                return None
            if not announced:
                announced = True
                _log.info(
                    "the budget is spent counting running trial(s) %s; waiting for them to "
                    "finish or go stale",
                    ", ".join(map(str, pending)),
                )
            time.sleep(min(self.poll * (1.0 + 0.5 * random.random()), max(self.time_left(), 0)))

    def _ask(self) -> optuna.Trial | None:
        """A trial (a queued one first), or None when other workers took the last slot."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            trial = self.study.ask()
        try:
            trial.set_user_attr(TRIAL_STRATEGY_ATTR, self.spec.search.strategy)
            mark_worker(self.study, trial._trial_id, trial.number)
            trials = self.study.get_trials(deepcopy=False)
        except KeyboardInterrupt:  # not evaluated yet: closed as any interrupted trial
            self._fail_quietly(trial, interrupted=True, fail_reason="interrupted")
            raise
        if _claimed(trials, below=trial.number) >= self.trials:
            trial.set_user_attr("surplus", True)
            trial.set_user_attr("fail_reason", "surplus: other workers used the budget first")
            self.study.tell(trial, state=TrialState.FAIL)
            return None
        return trial

    @contextlib.contextmanager
    def claim_search(self, poll: float = 1.0) -> Iterator[bool]:
        """Hold the study's one-shot search for this worker, for the ``with`` block.

        Yields True when this worker is to search (its :meth:`record` then fills the
        trial it holds), False when the search is done, the budget or time spent, or it
        cannot be taken over. The claim is a RUNNING trial marked ``searchengine:oneshot``
        that sends heartbeats for the whole search (RDB storages): a worker that finds
        one waits, and takes over once it is done or stale (the dead claimant's trial is
        then failed and re-queued, and this worker asks for that copy). Of two workers
        that claim at once, one that sees another's claim yields (its trial is closed as
        ``surplus``), so at most one searches. Without heartbeats (a journal file), a
        worker that finds another's claim does not wait for it.
        """
        trial = self._claim(poll)
        if trial is None:
            yield False
            return
        self._held = trial
        try:
            with _heartbeat(self.study, trial):
                yield True
        except KeyboardInterrupt:
            self._close_claim(trial, "interrupted", interrupted=True)
            raise
        except BaseException as exc:
            self._close_claim(trial, f"{type(exc).__name__}: {exc}"[:2000])
            raise
        else:
            if self._held is not None:  # the strategy recorded nothing
                self._close_claim(trial, "the one-shot search recorded no architecture")
        finally:
            self._held = None

    def _claim(self, poll: float) -> optuna.Trial | None:
        from searchengine.strategies.base import DONE_ATTR

        heartbeats = isinstance(self.study._storage, BaseHeartbeat)
        while True:
            _fail_stale_trials(self.study)
            if self.study.user_attrs.get(DONE_ATTR) or self.exhausted():
                return None
            if not _holders(self.study):
                trial = self.next_trial()
                if trial is None:
                    return None
                trial.set_user_attr(ONESHOT_ATTR, True)
                if not _holders(self.study, besides=trial.number):
                    return trial
                self._close_claim(trial, "surplus: another worker claimed the search", True)
            if not heartbeats:
                _log.warning("another worker holds this one-shot search; nothing to do here")
                return None
            time.sleep(poll * (1.0 + random.random()))

    def report_epoch(self, phase: str, epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        """One-shot strategies: an epoch of their own training (``phase``, e.g.
        ``supernet``) ended; progress displays and ``--log-json`` show it."""
        marker = SearchPhase(phase)
        for listener in getattr(self.evaluator, "listeners", ()):
            listener(marker, epoch, epochs, metrics)

    def _close_claim(self, trial: optuna.Trial, reason: str, surplus: bool = False) -> None:
        if self.study._storage.get_trial(trial._trial_id).state.is_finished():
            return  # the evaluation already told it
        if surplus:
            trial.set_user_attr("surplus", True)
        if reason == "interrupted":
            trial.set_user_attr("interrupted", True)
        trial.set_user_attr("fail_reason", reason)
        self.study.tell(trial, state=TrialState.FAIL)

    def record(
        self, arch: Architecture, *, user_attrs: dict[str, Any] | None = None
    ) -> FrozenTrial:
        """Evaluate ``arch`` with the common evaluator and record it as one trial.

        One-shot strategies put their search cost (seconds, epochs) and learned weights
        in ``user_attrs``. Inside :meth:`claim_search` the architecture fills the trial
        this worker holds; otherwise a trial is created with its parameters fixed. Either
        way no sampler is involved and no other worker can take it.
        """
        held, self._held = self._held, None
        user_attrs = {TRIAL_STRATEGY_ATTR: self.spec.search.strategy, **(user_attrs or {})}
        if held is not None:
            storage = self.study._storage
            distributions = self.space.distributions(arch.values)
            for name, value in arch.params.items():
                d = distributions[name]
                storage.set_trial_param(held._trial_id, name, d.to_internal_repr(value), d)
            for key, value in user_attrs.items():
                held.set_user_attr(key, value)
            return self.evaluate_trial(held, lambda: arch)
        template = optuna.trial.create_trial(
            state=TrialState.RUNNING,
            params=dict(arch.params),
            distributions=self.space.distributions(arch.values),
            user_attrs=user_attrs,
        )
        storage = self.study._storage
        trial_id = storage.create_new_trial(self.study._study_id, template_trial=template)
        trial = optuna.Trial(self.study, trial_id)
        mark_worker(self.study, trial_id, trial.number)
        return self.evaluate_trial(trial, lambda: arch)

    def evaluate_trial(
        self, trial: optuna.Trial, make_arch: Callable[[], Architecture]
    ) -> FrozenTrial:
        """Evaluate one asked trial and tell the study; never raises for a bad candidate.

        A trial that another worker closed meanwhile (it took this worker for a dead one,
        see :mod:`searchengine._stale`) keeps the state it was given; its result is
        dropped, since its retry evaluates the same candidate again.
        """
        with _heartbeat(self.study, trial):
            try:
                frozen = self._evaluate_and_tell(trial, make_arch)
            except UpdateFinishedTrialError:
                frozen = self.study._storage.get_trial(trial._trial_id)
                _log.warning(
                    "trial %d was closed as %s by another worker while it ran (its worker "
                    "seemed gone); its result is dropped, its retry evaluates it again",
                    trial.number, frozen.state.name,
                )  # fmt: skip
        for callback in self.callbacks:
            callback(self.study, frozen)
        return frozen

    def _evaluate_and_tell(
        self, trial: optuna.Trial, make_arch: Callable[[], Architecture]
    ) -> FrozenTrial:
        try:
            values = self._evaluate(trial, make_arch())
        except optuna.TrialPruned as exc:
            trial.set_user_attr("prune_reason", str(exc) or "pruned")
            return self.study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
        except KeyboardInterrupt:
            self._fail_quietly(trial, interrupted=True, fail_reason="interrupted")
            raise
        except SearchEngineError:
            self._fail_quietly(trial, fail_reason="aborted: bad input")
            raise
        except UpdateFinishedTrialError:
            raise
        except Exception as exc:  # a failing candidate must not stop the study
            reason = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, CandidateError):
                _log.warning("trial %d failed: %s", trial.number, reason, exc_info=True)
            trial.set_user_attr("fail_reason", reason[:2000])
            return self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        return self.study.tell(trial, values, skip_if_finished=True)

    def close_own_trials(self) -> None:
        """Fail as interrupted the trials this process left RUNNING: an interrupt that
        landed while a trial was being told, outside :meth:`evaluate_trial`'s handlers."""
        for frozen in own_running(self.study):
            self._fail_quietly(
                optuna.Trial(self.study, frozen._trial_id),
                interrupted=True,
                fail_reason="interrupted",
            )

    def _fail_quietly(self, trial: optuna.Trial, **user_attrs: Any) -> None:
        """Fail ``trial`` on the way out of an exception, unless it is closed already."""
        with contextlib.suppress(UpdateFinishedTrialError):
            for key, value in user_attrs.items():
                trial.set_user_attr(key, value)
            self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)

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
        over = self._set_constraints(trial, result.metrics, done, final=True)
        if over:  # trained and recorded, but never "best": say why
            trial.set_user_attr("infeasible_reason", "over constraint: " + "; ".join(over))
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
            key = constraint_key(c)
            if key not in done:
                trial.set_constraint(key, violation)
                done.add(key)
            if violation > 0:
                over.append(f"{c.metric}={value:g} ({key})")
        return over


@dataclass(frozen=True)
class SearchPhase:
    """What an epoch listener gets for a one-shot search's own training (no trial)."""

    phase: str
    number: None = None


def _holders(study: optuna.Study, besides: int | None = None) -> list[int]:
    """Numbers of the RUNNING trials that hold a one-shot search (but ``besides``)."""
    return [
        t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.user_attrs.get(ONESHOT_ATTR) and t.number != besides
    ]


def _warn_unresolved(numbers: Sequence[int]) -> None:
    if numbers:
        _log.warning(
            "trial(s) %s still RUNNING on a storage without heartbeats, on another host: "
            "they keep their budget slots; if their workers are gone, rerun with "
            "--stale-after SECONDS to retry them",
            ", ".join(map(str, numbers)),
        )


def _fail_stale_trials(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


@contextlib.contextmanager
def _heartbeat(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Record ``trial``'s heartbeat in a thread while the block runs (RDB storages).

    Not optuna's ``get_heartbeat_thread``: a Ctrl-C that lands just after its thread
    started, before the ``with`` block is entered, leaves that thread beating forever,
    and the process, done otherwise, waits for it at exit (seen in the SIGINT test, about
    one run in 20). Here the thread is started inside ``try`` and is a daemon.
    """
    storage = study._storage
    interval = storage.get_heartbeat_interval() if isinstance(storage, BaseHeartbeat) else None
    if not interval:
        yield
        return
    stop = threading.Event()
    beat = threading.Thread(
        target=_beat,
        args=(storage, trial._trial_id, interval, stop),
        name="heartbeat",
        daemon=True,
    )
    try:
        beat.start()
        yield
    finally:
        stop.set()
        beat.join()


def _beat(storage: BaseHeartbeat, trial_id: int, interval: int, stop: threading.Event) -> None:
    while True:
        storage.record_heartbeat(trial_id)
        if stop.wait(timeout=interval):
            return


def constraint_key(c: Any) -> str:
    """The name a constraint is stored under: ``embedding_params<=20000``."""
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


def storage_options(settings: SearchSettings) -> StorageOptions:
    return StorageOptions(settings.heartbeat, settings.grace, settings.retry_seconds)


def open_study(
    spec: Spec,
    space: SearchSpace,
    strategy: Strategy,
    storage: str,
    study_name: str,
    *,
    worker: int | None = None,
    switch: bool = False,
) -> optuna.Study:
    """Create the study, or load it to resume; check it still fits the spec.

    The study is loaded with ``strategy``'s sampler, its seed continued from
    ``search.seed``, the trials already in the study and the ``worker`` index (see
    :func:`~searchengine.strategies.continued_seed`).

    A study remembers the strategy that drives it; another strategy continues it only
    with ``switch`` (``run --continue-with``), and each trial records its strategy.

    Raises:
        SpecError: the study exists with other objectives, or a decision of the same name
            now has another distribution.
        SearchEngineError: the study is driven by another strategy (without ``switch``).
    """
    wanted = directions(spec)
    study = optuna.create_study(
        storage=open_storage(storage, storage_options(spec.search)),
        study_name=study_name,
        directions=wanted,
        sampler=optuna.samplers.RandomSampler(strategy.seed),
        pruner=_pruner(spec),
        load_if_exists=True,
    )
    started = len(study.get_trials(deepcopy=False))
    strategy.seed = continued_seed(spec.search.seed, started=started, worker=worker)
    if isinstance(strategy, SamplerStrategy) and not strategy.one_shot:
        study.sampler = strategy.sampler(
            space, [optuna.study.StudyDirection[d.upper()] for d in wanted]
        )
    else:
        study.sampler = optuna.samplers.RandomSampler(strategy.seed)
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
    if any(n not in stored for n in space.signature()):
        stored.update(space.signature())
        study.set_user_attr(SPACE_ATTR, stored)
    if SPEC_ATTR not in study.user_attrs:
        study.set_user_attr(SPEC_ATTR, spec.model_dump(mode="json", by_alias=True))
    _check_strategy(study, spec.search.strategy, storage, switch)
    return study


def _check_strategy(study: optuna.Study, strategy: str, storage: str, switch: bool) -> None:
    """Refuse to drive a study with another strategy than its own, unless ``switch``."""
    before = study.user_attrs.get(STRATEGY_ATTR)
    if before == strategy:
        return
    if before is not None and not switch:
        raise SearchEngineError(
            f"study {study.study_name!r} in {storage} is searched by {before} "
            f"({budget_used(study)} trials); rerun with --strategy {before} to continue it, "
            f"--continue-with {strategy} to continue it with {strategy}, or --study NAME "
            "for a new study"
        )
    if before is not None:
        _log.warning("study %r: %s continues the search of %s", study.study_name, strategy, before)
    study.set_user_attr(STRATEGY_ATTR, strategy)


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
    workers: int | None = None,
    worker_index: int | None = None,
    continue_with: bool = False,
    callbacks: Sequence[Callback] = (),
    evaluator: BaseEvaluator | None = None,
    progress: bool = True,
    write_results: bool = True,
    log_json: TextIO | None = None,
    stale_after: float | None = None,
) -> RunResult:
    """Run (or resume) the search a spec describes.

    Arguments override the spec's ``search`` settings. A study searched by another
    strategy is continued only with ``continue_with``. With ``workers > 1``, that many
    local worker processes share the study (see :mod:`searchengine._workers`).
    The strategy's seed continues from ``search.seed``, the trials already in the study
    and ``worker_index``, so a rerun or another worker on one study proposes new
    candidates while training stays seeded by ``search.seed``. ``progress``
    shows a live bar on stderr; ``log_json`` receives one JSON line per epoch and per
    finished trial (see :mod:`searchengine._progress`). ``stale_after``: seconds after
    which a RUNNING trial that cannot be checked otherwise (another host's, on a storage
    without heartbeats) is failed and retried (see :mod:`searchengine._stale`).

    Returns:
        The study, the best trial (or the Pareto set), whether the run was interrupted;
        ``result.json`` and ``best.yaml`` are written to the output folder (default
        ``runs/<name>/``) unless ``write_results`` is false.

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
                "workers": workers,
            }.items()
            if v is not None
        }
    )
    spec = spec.model_copy(update={"search": settings})
    space = SearchSpace.from_spec(spec)
    strategy_obj = create_strategy(
        settings.strategy, settings.options, seed=settings.seed, source=spec_source(spec)
    )
    if not strategy_obj.searches(space):  # a concrete spec (best.yaml): evaluate it once
        strategy_obj = RandomStrategy(seed=settings.seed)
    strategy_obj.check(space)
    _note_budget(strategy_obj, settings.trials if len(space) else 1)
    out_dir = Path(out) if out is not None else Path("runs") / safe_name(spec.name)
    if settings.workers > 1:
        from searchengine._workers import run_workers

        return run_workers(
            spec,
            space,
            out_dir,
            progress=progress,
            log_json=log_json,
            switch=continue_with,
            stale_after=stale_after,
        )
    evaluator = evaluator or make_evaluator(
        spec, fidelity=settings.fidelity, weights_dir=out_dir / "weights"
    )
    prepare_data(spec, evaluator)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage_url = settings.storage or default_storage_url(out_dir)
    study = open_study(
        spec,
        space,
        strategy_obj,
        storage_url,
        spec.study_name,
        worker=worker_index,
        switch=continue_with,
    )
    budget = settings.trials if len(space) else 1
    if budget_used(study) >= budget:
        _say_budget_met(study, budget, storage_url)
        return finish(study, space, spec, out_dir, storage_url, False, write_results)
    timeout = settings.timeout
    if timeout is not None:  # like the trial budget, the time budget spans resumes
        timeout = max(0.0, timeout - float(study.user_attrs.get(SECONDS_ATTR, 0.0)))
    display = Progress(
        study, budget, spec, enabled=progress, log_json=log_json, evaluator=evaluator
    )
    session = Session(
        spec,
        space,
        study,
        evaluator,
        trials=budget,
        timeout=timeout,
        callbacks=[*callbacks, display.update, strategy_obj.after_trial],
        stale_after=stale_after,
    )
    interrupted = False
    with display:
        try:
            if strategy_obj.one_shot:
                with session.claim_search() as mine:
                    if mine:
                        strategy_obj.search(session)  # type: ignore[attr-defined]
            else:
                while (trial := session.next_trial()) is not None:
                    session.evaluate_trial(trial, lambda t=trial: space.sample(t))
        except KeyboardInterrupt:
            interrupted = True
            session.close_own_trials()
            _log.warning("interrupted: the study is consistent; rerun to continue")
        finally:
            _add_seconds(study, time.monotonic() - session.started)
    return finish(study, space, spec, out_dir, storage_url, interrupted, write_results)


def prepare_data(spec: Spec, evaluator: BaseEvaluator) -> None:
    """Check and load the data before any study or run folder exists, so that a run that
    stops on bad data (a missing file or column, a label that is not binary, an empty
    file) leaves nothing behind and a rerun starts clean."""
    check_data(spec)
    prepare = getattr(evaluator, "prepare", None)
    if prepare is not None:
        prepare()


_noted: set[str] = set()


def _note_budget(strategy: Strategy, budget: int) -> None:
    """Warn, once per process, of a budget too small for the strategy to be itself."""
    note = strategy.budget_note(budget)
    if note and note not in _noted:
        _noted.add(note)
        _log.warning("%s", note)


def _say_budget_met(study: optuna.Study, budget: int, storage: str) -> None:
    used = budget_used(study)
    _log.warning(
        "study %r in %s already has %d finished trial%s, the budget is %d: nothing to run "
        "(give --trials %d or more to search further)",
        study.study_name, storage, used, "" if used == 1 else "s", budget, used + 1,
    )  # fmt: skip


def _add_seconds(study: optuna.Study, seconds: float) -> None:
    """Accumulate this process's wall time in the study (the search cost, over resumes)."""
    try:
        total = float(study.user_attrs.get(SECONDS_ATTR, 0.0)) + seconds
        study.set_user_attr(SECONDS_ATTR, total)
    except SearchEngineError:  # a lost database must not hide the original error
        _log.warning("could not record the search time in the study")


def finish(
    study: optuna.Study,
    space: SearchSpace,
    spec: Spec,
    out_dir: Path,
    storage_url: str,
    interrupted: bool,
    write_results: bool = True,
) -> RunResult:
    """Write the results of a run and wrap them up."""
    summary: dict[str, Any] = {}
    if write_results:
        summary = _results.write(study, space, spec, out_dir, storage_url, spec.search.strategy)
    return RunResult(study, space, out_dir, _results.best_trials(study), interrupted, summary)
