"""The session of a run: the ask -> evaluate -> tell loop of one worker.

Every candidate becomes one trial: COMPLETE with its objective values (and its constraint
values, so infeasible trials are recorded as such), PRUNED, or FAIL with its reason in the
trial's user attributes. The study stays consistent whatever happens (see
:mod:`searchengine.engine`).
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
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from searchengine._optuna import (
    FAIL_REASON_ATTR,
    HISTORY_ATTR,
    INFEASIBLE_REASON_ATTR,
    INTERRUPTED_ATTR,
    METRICS_ATTR,
    ONESHOT_ATTR,
    ONESHOT_DONE_ATTR,
    PRUNE_REASON_ATTR,
    SURPLUS_ATTR,
    TEST_METRICS_ATTR,
    TRIAL_STRATEGY_ATTR,
    BaseHeartbeat,
    heartbeat_interval,
    storage_of,
    study_id,
    trial_id,
)
from searchengine.engine.stale import can_resolve, fail_gone_trials, mark_worker, own_running
from searchengine.engine.study import (
    _ENUMERATED,
    Callback,
    _claimed,
    budget_used,
    constraint_key,
)
from searchengine.errors import SearchEngineError
from searchengine.evaluation import CandidateError
from searchengine.evaluation.evaluator import BaseEvaluator, Result
from searchengine.searchspace import SearchSpace
from searchengine.searchspace._enumerate import Candidate, candidate_of, candidates
from searchengine.spec import Architecture, Spec

_log = logging.getLogger("searchengine.engine")


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
        reserve: Callable[[Sequence[FrozenTrial]], float] | None = None,
    ) -> None:
        self.spec, self.space, self.study, self.evaluator = spec, space, study, evaluator
        self.trials, self.timeout = trials, timeout
        #: seconds of the time budget kept for after the search (its final retrains),
        #: estimated from the study's trials
        self.reserve = reserve
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
        the time is spent (but for what ``reserve`` keeps), or every candidate of a discrete
        space has been evaluated (said in the log).

        A budget spent only by counting RUNNING trials is not spent yet: this waits for
        them to finish, or to be failed as stale (their worker gone, see
        :mod:`searchengine.engine.stale`) and re-queued, then runs the re-queued copies. It does
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
            if self.reserve is not None and self.time_left() <= (kept := self.reserve(trials)):
                _log.info(
                    "stopping the search with %.0f s left: kept for the final retrains "
                    "(estimated %.0f s)", self.time_left(), kept,
                )  # fmt: skip
                return None
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
            mark_worker(self.study, trial_id(trial), trial.number)
            trials = self.study.get_trials(deepcopy=False)
        except KeyboardInterrupt:  # not evaluated yet: closed as any interrupted trial
            self._fail_quietly(trial, interrupted=True, fail_reason="interrupted")
            raise
        if _claimed(trials, below=trial.number) >= self.trials:
            trial.set_user_attr(SURPLUS_ATTR, True)
            trial.set_user_attr(FAIL_REASON_ATTR, "surplus: other workers used the budget first")
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
        heartbeats = isinstance(storage_of(self.study), BaseHeartbeat)
        while True:
            _fail_stale_trials(self.study)
            if self.study.user_attrs.get(ONESHOT_DONE_ATTR) or self.exhausted():
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
        if storage_of(self.study).get_trial(trial_id(trial)).state.is_finished():
            return  # the evaluation already told it
        if surplus:
            trial.set_user_attr(SURPLUS_ATTR, True)
        if reason == "interrupted":
            trial.set_user_attr(INTERRUPTED_ATTR, True)
        trial.set_user_attr(FAIL_REASON_ATTR, reason)
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
        return self.evaluate_trial(self._recorded_trial(arch, user_attrs), lambda: arch)

    def record_measured(
        self,
        arch: Architecture,
        metrics: dict[str, float],
        *,
        test_metrics: dict[str, float] | None = None,
        user_attrs: dict[str, Any] | None = None,
    ) -> FrozenTrial:
        """Record ``arch`` as one trial with ``metrics`` the strategy measured itself
        (a searched model kept without retraining): as :meth:`record`, the Evaluator's
        training left out; constraints and objectives are read from ``metrics``."""
        measured = Result(dict(metrics), dict(test_metrics or {}))
        trial = self._recorded_trial(arch, user_attrs)
        return self.evaluate_trial(trial, lambda: arch, measured=measured)

    def _recorded_trial(
        self, arch: Architecture, user_attrs: dict[str, Any] | None
    ) -> optuna.Trial:
        """The trial a one-shot strategy's ``arch`` fills: the held claim, or a new one."""
        held, self._held = self._held, None
        user_attrs = {TRIAL_STRATEGY_ATTR: self.spec.search.strategy, **(user_attrs or {})}
        if held is not None:
            storage = storage_of(self.study)
            distributions = self.space.distributions(arch.values)
            for name, value in arch.params.items():
                d = distributions[name]
                storage.set_trial_param(trial_id(held), name, d.to_internal_repr(value), d)
            for key, value in user_attrs.items():
                held.set_user_attr(key, value)
            return held
        template = optuna.trial.create_trial(
            state=TrialState.RUNNING,
            params=dict(arch.params),
            distributions=self.space.distributions(arch.values),
            user_attrs=user_attrs,
        )
        storage = storage_of(self.study)
        new_id = storage.create_new_trial(study_id(self.study), template_trial=template)
        trial = optuna.Trial(self.study, new_id)
        mark_worker(self.study, new_id, trial.number)
        return trial

    def evaluate_trial(
        self,
        trial: optuna.Trial,
        make_arch: Callable[[], Architecture],
        *,
        measured: Result | None = None,
    ) -> FrozenTrial:
        """Evaluate one asked trial and tell the study; never raises for a bad candidate.

        A trial that another worker closed meanwhile (it took this worker for a dead one,
        see :mod:`searchengine.engine.stale`) keeps the state it was given; its result is
        dropped, since its retry evaluates the same candidate again.
        """
        with _heartbeat(self.study, trial):
            try:
                frozen = self._evaluate_and_tell(trial, make_arch, measured)
            except UpdateFinishedTrialError:
                frozen = storage_of(self.study).get_trial(trial_id(trial))
                _log.warning(
                    "trial %d was closed as %s by another worker while it ran (its worker "
                    "seemed gone); its result is dropped, its retry evaluates it again",
                    trial.number, frozen.state.name,
                )  # fmt: skip
        for callback in self.callbacks:
            callback(self.study, frozen)
        return frozen

    def _evaluate_and_tell(
        self,
        trial: optuna.Trial,
        make_arch: Callable[[], Architecture],
        measured: Result | None = None,
    ) -> FrozenTrial:
        try:
            values = self._evaluate(trial, make_arch(), measured)
        except optuna.TrialPruned as exc:
            trial.set_user_attr(PRUNE_REASON_ATTR, str(exc) or "pruned")
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
            trial.set_user_attr(FAIL_REASON_ATTR, reason[:2000])
            return self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        return self.study.tell(trial, values, skip_if_finished=True)

    def close_own_trials(self) -> None:
        """Fail as interrupted the trials this process left RUNNING: an interrupt that
        landed while a trial was being told, outside :meth:`evaluate_trial`'s handlers."""
        for frozen in own_running(self.study):
            self._fail_quietly(
                optuna.Trial(self.study, trial_id(frozen)),
                interrupted=True,
                fail_reason="interrupted",
            )

    def _fail_quietly(self, trial: optuna.Trial, **user_attrs: Any) -> None:
        """Fail ``trial`` on the way out of an exception, unless it is closed already."""
        with contextlib.suppress(UpdateFinishedTrialError):
            for key, value in user_attrs.items():
                trial.set_user_attr(key, value)
            self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)

    def _evaluate(
        self, trial: optuna.Trial, arch: Architecture, measured: Result | None = None
    ) -> list[float]:
        static = self.evaluator.static_metrics(arch)
        done: set[str] = set()
        over = self._set_constraints(trial, static, done)
        if over:
            trial.set_user_attr(METRICS_ATTR, static)
            raise optuna.TrialPruned("over constraint, not trained: " + "; ".join(over))
        result = measured or self.evaluator.evaluate(arch, trial, report=self.single_objective)
        missing = [m for m in self.objectives if m not in result.metrics]
        if missing:
            raise CandidateError(f"the evaluator returned no {', '.join(missing)}")
        values = [float(result.metrics[m]) for m in self.objectives]
        trial.set_user_attr(METRICS_ATTR, result.metrics)
        if result.test_metrics:
            trial.set_user_attr(TEST_METRICS_ATTR, result.test_metrics)
        if result.history:
            trial.set_user_attr(HISTORY_ATTR, result.history)
        over = self._set_constraints(trial, result.metrics, done, final=True)
        if over:  # trained and recorded, but never "best": say why
            trial.set_user_attr(INFEASIBLE_REASON_ATTR, "over constraint: " + "; ".join(over))
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
    storage = storage_of(study)
    interval = heartbeat_interval(storage)
    if not interval:
        yield
        return
    stop = threading.Event()
    beat = threading.Thread(
        target=_beat,
        args=(storage, trial_id(trial), interval, stop),
        name="heartbeat",
        daemon=True,
    )
    try:
        beat.start()
        yield
    finally:
        stop.set()
        beat.join()


def _beat(storage: BaseHeartbeat, tid: int, interval: int, stop: threading.Event) -> None:
    while True:
        storage.record_heartbeat(tid)
        if stop.wait(timeout=interval):
            return
