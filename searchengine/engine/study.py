"""The study of a run: opening it (or resuming it), checking it still fits the spec, the
strategy that drives it, its pruner, and the budget its trials use.

A study is searched by one strategy (recorded in ``searchengine:strategy``); another
continues it only when asked (``run --continue-with``). The budget counts finished trials
over the whole study, so a rerun resumes; interrupted, surplus and retried trials, and
the full-fidelity retrains that end a search with cheaper candidates, do not count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from searchengine._optuna import (
    RETRY_HISTORY_ATTR,
    SPACE_ATTR,
    SPEC_ATTR,
    STRATEGY_ATTR,
    retrain_of,
    unused,
)
from searchengine.engine.storage import StorageOptions, open_storage
from searchengine.errors import SearchEngineError, SpecError
from searchengine.evaluation import metric_direction
from searchengine.searchspace import SearchSpace
from searchengine.spec import Spec
from searchengine.spec.format import SearchSettings
from searchengine.strategies import (
    SamplerStrategy,
    Strategy,
    continued_seed,
)

_log = logging.getLogger("searchengine.engine")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
Callback = Callable[[optuna.Study, FrozenTrial], None]
# the most candidates of a discrete space enumerated to tell when it is exhausted
_ENUMERATED = 100_000


def _uncounted(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of trials that do not use budget: interrupted, surplus, retried, and the
    final full-fidelity retrains (:mod:`searchengine.engine.final`)."""
    retried = {n for t in trials for n in t.system_attrs.get(RETRY_HISTORY_ATTR, ())}
    return retried | {t.number for t in trials if unused(t) or retrain_of(t) is not None}


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
