"""The full-fidelity retrains that end a search with cheaper candidates.

With ``search.fidelity`` making candidates cheaper (a subsample of the train rows, fewer
epochs, warm starts from a parent's weights), their validation values rank candidates
against each other but are not what the same architectures reach when trained as
``train`` says. So such a search ends by training its ``search.fidelity.retrain`` best
candidates again as ``train`` says, from fresh weights, each as a trial of its own whose
user attribute ``retrain_of`` names the candidate. The run's best (``best.yaml``, the
summary, ``compare``, ``export``) is then chosen among these retrains only
(:func:`searchengine.engine.results.best_trials`).

* The best candidates: for one objective the best values; for several, non-dominated
  fronts in turn, each by its first objective. Feasible trials only, one per distinct
  architecture.
* The retrains use no trial budget (``search.trials`` counts candidates), but a time
  budget keeps room for them: the search stops asking for candidates once the time left
  is below the retrains' estimated seconds (:func:`reserve`): the candidates that would
  be retrained now, each at its own training time scaled to all rows and its other time
  (validation after each epoch, test, latency) to all of ``train.epochs``. That is an
  upper bound (early stopping ends a retrain sooner), so a run with ``search.timeout``
  ends within it unless a later best candidate is much slower than the current ones.
  Once retrains have run, the estimate is scaled by their real seconds over their
  estimated ones, and the time they left goes back to the search: it goes on, and its
  new best candidates are retrained in turn, until the time kept covers what is left.
* A rerun retrains only the best candidates that have no finished retrain yet (after a
  larger budget, the new best ones); an interrupted retrain is done again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from searchengine._optuna import (
    METRICS_ATTR,
    MODEL_ATTR,
    RETRAIN_OF_ATTR,
    retrain_of,
    unused,
)
from searchengine.engine.results import feasible, front_ranks
from searchengine.engine.session import Session
from searchengine.engine.study import Callback, directions
from searchengine.evaluation.evaluator import BaseEvaluator
from searchengine.searchspace import SearchSpace
from searchengine.spec import Spec

__all__ = ["best_candidates", "pending", "reserve", "reserver", "retrain_best"]

_log = logging.getLogger("searchengine.engine")


def best_candidates(study: optuna.Study, count: int) -> list[FrozenTrial]:
    """The ``count`` best feasible candidates (retrains left out), one per architecture."""
    signs = [1 if d == optuna.study.StudyDirection.MINIMIZE else -1 for d in study.directions]
    return _best(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), signs, count)


def _best(trials: Sequence[FrozenTrial], signs: Sequence[int], count: int) -> list[FrozenTrial]:
    pool = [
        t for t in trials
        if t.state == TrialState.COMPLETE and retrain_of(t) is None and feasible(t)
    ]  # fmt: skip
    ranks = front_ranks(pool, signs)  # for one objective: the order of the values
    ranked = sorted(
        zip(ranks, pool, strict=True), key=lambda r: (r[0], signs[0] * r[1].values[0], r[1].number)
    )
    chosen: list[FrozenTrial] = []
    seen: set[tuple] = set()
    for _, t in ranked if count > 0 else ():
        if (key := _architecture_key(t)) not in seen:
            seen.add(key)
            chosen.append(t)
            if len(chosen) == count:
                break
    return chosen


def _architecture_key(trial: FrozenTrial) -> tuple:
    model = trial.user_attrs.get(MODEL_ATTR)
    return (tuple(sorted((k, repr(v)) for k, v in trial.params.items())), repr(model))


def reserve(spec: Spec, trials: Sequence[FrozenTrial]) -> float:
    """Seconds the final retrains are estimated to take: the candidates that would be
    retrained now, each at its own seconds scaled to all rows and all epochs (the best
    candidates are often larger, so slower, than the average one); 0 before any
    candidate ends."""
    count = spec.search.fidelity.retrains
    signs = [1 if d == "minimize" else -1 for d in directions(spec)]
    best = [t for t in _best(trials, signs, count) if _measured(t)]
    seconds = [s for t in best if math.isfinite(s := _full_seconds(t, spec))]
    if count == 0 or not seconds:
        return 0.0
    return count * sum(seconds) / len(seconds) * _calibration(spec, trials)


def _calibration(spec: Spec, trials: Sequence[FrozenTrial]) -> float:
    """The retrains' real seconds over their estimates, once some are done (they stop
    early, so the estimates run high), else 1."""
    by_number = {t.number: t for t in trials}
    real, estimated = 0.0, 0.0
    for t in trials:
        n = retrain_of(t)
        if n is None or t.state != TrialState.COMPLETE or n not in by_number:
            continue
        if not _measured(by_number[n]) or t.datetime_start is None or t.datetime_complete is None:
            continue
        real += (t.datetime_complete - t.datetime_start).total_seconds()
        estimated += _full_seconds(by_number[n], spec)
    return real / estimated if real > 0 and estimated > 0 else 1.0


def reserver(spec: Spec) -> Callable[[Sequence[FrozenTrial]], float] | None:
    """:func:`reserve` for a session, or None when nothing is retrained."""
    if spec.search.timeout is None or spec.search.fidelity.retrains == 0:
        return None
    return lambda trials: reserve(spec, trials)


def _measured(trial: FrozenTrial) -> bool:
    return (
        trial.state == TrialState.COMPLETE
        and retrain_of(trial) is None
        and trial.datetime_start is not None
        and trial.datetime_complete is not None
        and "train_seconds" in trial.user_attrs.get(METRICS_ATTR, {})
    )


def _full_seconds(trial: FrozenTrial, spec: Spec) -> float:
    """One candidate's seconds, had it been trained on all rows for all epochs: its
    training scaled to all rows, and the rest of its time (validation after each epoch,
    test, latency) to all epochs -- an upper bound, since early stopping ends sooner."""
    metrics = trial.user_attrs[METRICS_ATTR]
    train = float(metrics["train_seconds"])
    assert trial.datetime_start is not None and trial.datetime_complete is not None
    total = (trial.datetime_complete - trial.datetime_start).total_seconds()
    epochs = max(1.0, float(metrics.get("epochs", 1.0)))
    full_epochs = spec.train.epochs if isinstance(spec.train.epochs, int) else epochs
    per_epoch = (train / spec.search.fidelity.subsample + max(0.0, total - train)) / epochs
    return per_epoch * max(full_epochs, epochs)


def pending(study: optuna.Study, spec: Spec, evaluator: BaseEvaluator) -> list[FrozenTrial]:
    """The best candidates still to be retrained (none when nothing is, or when the
    evaluator has no full-fidelity form)."""
    count = spec.search.fidelity.retrains
    if count == 0 or not hasattr(evaluator, "at_full_fidelity"):
        return []
    done = {
        n
        for t in study.get_trials(deepcopy=False)
        if (n := retrain_of(t)) is not None and t.state != TrialState.RUNNING and not unused(t)
    }
    return [t for t in best_candidates(study, count) if t.number not in done]


def retrain_best(
    study: optuna.Study,
    space: SearchSpace,
    spec: Spec,
    evaluator: BaseEvaluator,
    callbacks: Sequence[Callback] = (),
) -> list[FrozenTrial]:
    """Retrain the best candidates at full fidelity (those without a finished retrain).

    Returns:
        The retrains run now (none when ``search.fidelity.retrain`` is 0, when the
        evaluator has no full-fidelity form, or when every best candidate has one).
    """
    todo = pending(study, spec, evaluator)
    full = getattr(evaluator, "at_full_fidelity", None)
    if not todo or full is None:
        return []
    _log.info(
        "retraining the %d best candidate(s) at full fidelity: trial(s) %s",
        len(todo), ", ".join(str(t.number) for t in todo),
    )  # fmt: skip
    session = Session(
        spec, space, study, full(), trials=len(todo), timeout=None, callbacks=callbacks
    )
    out = []
    for candidate in todo:
        attrs: dict[str, object] = {RETRAIN_OF_ATTR: candidate.number}
        if MODEL_ATTR in candidate.user_attrs:
            attrs[MODEL_ATTR] = candidate.user_attrs[MODEL_ATTR]
        out.append(session.record(space.of_trial(candidate), user_attrs=attrs))
    return out
