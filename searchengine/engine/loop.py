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
* A search whose candidates train cheaper than ``train`` says (``search.fidelity``) ends
  by retraining its best candidates at full fidelity, within its time budget
  (see :mod:`searchengine.engine.final`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import optuna
from optuna.trial import FrozenTrial

from searchengine._optuna import SECONDS_ATTR
from searchengine.engine import final
from searchengine.engine import results as _results
from searchengine.engine.preflight import check_data
from searchengine.engine.progress import Progress
from searchengine.engine.session import Session
from searchengine.engine.storage import default_storage_url
from searchengine.engine.study import Callback, budget_used, open_study
from searchengine.errors import SearchEngineError
from searchengine.evaluation import make_evaluator
from searchengine.evaluation.evaluator import BaseEvaluator
from searchengine.searchspace import SearchSpace
from searchengine.searchspace.loader import spec_source
from searchengine.spec import Spec
from searchengine.spec.format import safe_name
from searchengine.strategies import (
    RandomStrategy,
    Strategy,
    create_strategy,
)

_log = logging.getLogger("searchengine.engine")


@dataclass
class RunResult:
    """The outcome of :func:`run`."""

    study: optuna.Study
    space: SearchSpace
    out_dir: Path
    best: list[FrozenTrial] = field(default_factory=list)
    interrupted: bool = False
    summary: dict[str, Any] = field(default_factory=dict)


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
    local worker processes share the study (see :mod:`searchengine.engine.workers`).
    The strategy's seed continues from ``search.seed``, the trials already in the study
    and ``worker_index``, so a rerun or another worker on one study proposes new
    candidates while training stays seeded by ``search.seed``. ``progress``
    shows a live bar on stderr; ``log_json`` receives one JSON line per epoch and per
    finished trial (see :mod:`searchengine.engine.progress`). ``stale_after``: seconds after
    which a RUNNING trial that cannot be checked otherwise (another host's, on a storage
    without heartbeats) is failed and retried (see :mod:`searchengine.engine.stale`).

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
        from searchengine.engine.workers import run_workers

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
    searching = budget_used(study) < budget
    if not searching and (worker_index is not None or not final.pending(study, spec, evaluator)):
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
        reserve=final.reserver(spec) if worker_index is None else None,
    )
    interrupted = False
    with display:
        try:
            black_box = searching and not strategy_obj.one_shot
            if searching and strategy_obj.one_shot:
                with session.claim_search() as mine:
                    if mine:
                        strategy_obj.search(session)  # type: ignore[attr-defined]
            elif black_box:
                _search(session, space)
            # workers leave the retrains to their parent; the time kept for them is an
            # upper bound: what they leave goes back to a black-box search, whose new best
            # candidates are retrained in turn
            while worker_index is None and final.retrain_best(
                study, space, spec, evaluator, callbacks=[*callbacks, display.update]
            ):
                if not black_box:
                    break
                _search(session, space)
        except KeyboardInterrupt:
            interrupted = True
            session.close_own_trials()
            _log.warning("interrupted: the study is consistent; rerun to continue")
        finally:
            add_seconds(study, time.monotonic() - session.started)
    return finish(study, space, spec, out_dir, storage_url, interrupted, write_results)


def _search(session: Session, space: SearchSpace) -> None:
    """Ask, evaluate and tell until the budget, the time or the space is spent."""
    while (trial := session.next_trial()) is not None:
        session.evaluate_trial(trial, lambda t=trial: space.sample(t))


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


def add_seconds(study: optuna.Study, seconds: float) -> None:
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
