"""The one adapter between searchengine and Optuna's internals, and every attribute key
searchengine writes into a study.

Optuna's public API covers asking, telling and reading trials; a few things a multi-worker
search engine needs are not public: the storage behind a study (to write a trial's system
attributes or parameters without a sampler, to read trials without copying them), the
ids that address a study and a trial in it, whether a value lies inside a distribution,
and whether a storage sends heartbeats. They are reached here and nowhere else, so an
Optuna upgrade that moves one of them breaks one module with one test
(``tests/test_optuna_adapter.py``).

The attribute keys are plain strings in the database; a study written by one version is
read by the next, so they are named once, here, and never change meaning.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.storages.journal._file import BaseJournalFileLock
from optuna.trial import FrozenTrial

__all__ = [
    "BaseHeartbeat",
    "BaseJournalFileLock",
    "all_trials",
    "contains",
    "heartbeat_interval",
    "is_heartbeat_enabled",
    "storage_of",
    "study_id",
    "study_system_attr",
    "set_study_system_attr",
    "set_trial_system_attr",
    "trial_id",
]

# ---------------------------------------------------------------- study attributes
SPACE_ATTR = "searchengine:space"  # the compiled search space, to refuse a changed spec
SPEC_ATTR = "searchengine:spec"  # the spec's text, for report and export
SECONDS_ATTR = "searchengine:seconds"  # wall time the study has used
STRATEGY_ATTR = "searchengine:strategy"  # the strategy that made the study
ONESHOT_DONE_ATTR = "searchengine:oneshot_done"  # a one-shot search has recorded its result
HYPERVOLUME_ATTR = "searchengine:hypervolume"  # the front's hypervolume, when last written
HYPERVOLUME_REF_ATTR = "searchengine:hypervolume_ref"  # its reference point
COMPARE_ATTR = "searchengine:compare"  # the study is one cell of a `compare` run

# ---------------------------------------------------------------- trial user attributes
TRIAL_STRATEGY_ATTR = "strategy"  # the strategy that made the trial
METRICS_ATTR = "metrics"  # validation metrics and costs
TEST_METRICS_ATTR = "test_metrics"
HISTORY_ATTR = "history"  # per-epoch training history
SEARCH_COST_ATTR = "search_cost"  # a one-shot search's seconds, epochs and strategy
FAIL_REASON_ATTR = "fail_reason"
PRUNE_REASON_ATTR = "prune_reason"
INFEASIBLE_REASON_ATTR = "infeasible_reason"
SURPLUS_ATTR = "surplus"  # closed unevaluated: other workers had used the budget
INTERRUPTED_ATTR = "interrupted"  # closed by Ctrl-C or a stop before it finished
ONESHOT_ATTR = "searchengine:oneshot"  # the running trial that holds a one-shot search
RETRAIN_OF_ATTR = "retrain_of"  # the candidate this trial retrains at full fidelity

# ---------------------------------------------------------------- trial system attributes
MODEL_ATTR = "searchengine:model"  # the architecture a one-shot strategy recorded
PARENT_ATTR = "searchengine:parent"  # the trial whose weights a child starts from
WORKER_ATTR = "searchengine:worker"  # the host and process that runs the trial
RETRY_HISTORY_ATTR = "retry_history"  # Optuna's own: trials a retried trial copies

# ---------------------------------------------------------------- strategies' own state
EVOLUTION_GENERATION_ATTR = "evolution:generation"
EVOLUTION_SLOT_ATTR = "evolution:slot"
EVOLUTION_GENES_ATTR = "evolution:genes"
EVOLUTION_SEED_ATTR = "evolution:seed"
EVOLUTION_PARENTS_PREFIX = "evolution:parents:"  # + generation: the parents it drew
RL_SEED_ATTR = "rl:seed"


def reason(trial: FrozenTrial) -> str:
    """Why a trial did not complete (failed or pruned), or ``""``."""
    attrs = trial.user_attrs
    return str(attrs.get(FAIL_REASON_ATTR) or attrs.get(PRUNE_REASON_ATTR) or "")


def retrain_of(trial: FrozenTrial) -> int | None:
    """The number of the candidate ``trial`` retrains at full fidelity, if it is one of a
    search's final retrains (``search.fidelity.retrain``)."""
    number = trial.user_attrs.get(RETRAIN_OF_ATTR)
    return None if number is None else int(number)


def unused(trial: FrozenTrial) -> bool:
    """Closed without using budget: interrupted, or surplus to it."""
    return bool(trial.user_attrs.get(INTERRUPTED_ATTR) or trial.user_attrs.get(SURPLUS_ATTR))


# ---------------------------------------------------------------- Optuna internals
def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage behind ``study``."""
    return study._storage


def study_id(study: optuna.Study) -> int:
    """The id that addresses ``study`` in its storage."""
    return study._study_id


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The id that addresses ``trial`` in its storage (not its number)."""
    return trial._trial_id


def all_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Every trial of ``study``, not copied (read only)."""
    return study._storage.get_all_trials(study._study_id, deepcopy=False)


def study_system_attr(study: optuna.Study, key: str) -> Any:
    """A system attribute of the study (read fresh from the storage), or None."""
    return study._storage.get_study_system_attrs(study._study_id).get(key)


def set_study_system_attr(study: optuna.Study, key: str, value: Any) -> None:
    study._storage.set_study_system_attr(study._study_id, key, value)


def set_trial_system_attr(
    study: optuna.Study, trial: optuna.Trial | FrozenTrial | int, key: str, value: Any
) -> None:
    """Set a system attribute of ``trial`` (a trial or its id), also on a finished one."""
    tid = trial if isinstance(trial, int) else trial_id(trial)
    study._storage.set_trial_system_attr(tid, key, value)


def contains(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` (external representation) lies inside ``distribution``."""
    try:
        internal = distribution.to_internal_repr(value)
    except (ValueError, TypeError):
        return False
    return bool(distribution._contains(internal))


def heartbeat_interval(storage: BaseStorage) -> int | None:
    """The storage's heartbeat interval in seconds, or None without heartbeats."""
    if isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage):
        return storage.get_heartbeat_interval()
    return None
