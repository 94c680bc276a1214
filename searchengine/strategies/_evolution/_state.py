"""The evolution's state, kept in the study's storage and nowhere else.

Trial system attributes (set when the trial's relative parameters are sampled):

* ``evolution:generation`` -- the generation the trial belongs to;
* ``evolution:slot`` -- its child index within that generation: child ``slot`` of
  generation ``g`` is offspring ``slot % population_size`` of mating batch
  ``slot // population_size``, a pure function of (seed, ``g``, batch, parents);
* ``evolution:genes`` -- the child's whole gene vector, inactive genes included, so
  that a gene survives generations in which its parameter is not used.

Study system attributes:

* ``evolution:seed`` -- the seed of the evolution, written by the first sampler that
  uses the study; later workers and resumed runs read it;
* ``evolution:parents:<g>`` -- trial numbers of the parent population of generation
  ``g``, written once when the first child of ``g`` is claimed.

Claiming a slot is optimistic: a trial writes its claim, reads every trial back, and
moves to a free slot while another trial holds the same one. Of two trials that wrote the
same claim at least one reads the other's, so no child is evaluated twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from searchengine._optuna import (
    EVOLUTION_GENERATION_ATTR,
    EVOLUTION_GENES_ATTR,
    EVOLUTION_PARENTS_PREFIX,
    EVOLUTION_SEED_ATTR,
    EVOLUTION_SLOT_ATTR,
    all_trials,
    set_study_system_attr,
    storage_of,
    study_system_attr,
    trial_id,
)

__all__ = [
    "EVOLUTION_GENERATION_ATTR",
    "EVOLUTION_GENES_ATTR",
    "EVOLUTION_SEED_ATTR",
    "EVOLUTION_SLOT_ATTR",
    "claim",
    "is_member",
    "members",
    "parents_key",
    "study_attr",
    "study_seed",
]

_MAX_CLAIMS = 1000


def parents_key(generation: int) -> str:
    return f"{EVOLUTION_PARENTS_PREFIX}{generation}"


def study_attr(study: optuna.Study, key: str) -> Any:
    """A study system attribute, read from the storage (None if unset)."""
    return study_system_attr(study, key)


def set_once(study: optuna.Study, key: str, value: Any) -> Any:
    """Write a study system attribute unless it is set; return the stored value."""
    stored = study_attr(study, key)
    if stored is not None:
        return stored
    set_study_system_attr(study, key, value)
    return study_attr(study, key)


def study_seed(study: optuna.Study, seed: int | None) -> int:
    """The evolution's seed: the stored one, else ``seed`` (or a random one), stored."""
    stored = study_attr(study, EVOLUTION_SEED_ATTR)
    if stored is not None:
        return int(stored)
    if seed is None:
        import secrets

        seed = secrets.randbits(31)
    return int(set_once(study, EVOLUTION_SEED_ATTR, int(seed)))


def is_member(trial: FrozenTrial) -> bool:
    """Whether a trial is an individual of its generation's population.

    Complete trials are; so are pruned ones that violate a constraint (the engine prunes
    a candidate over a constraint before training it): infeasible individuals that
    survival ranks by their violation. Failed trials (NaN values included) are not.
    """
    if trial.state == TrialState.COMPLETE:
        return True
    return trial.state == TrialState.PRUNED and any(v > 0 for v in trial.constraints.values())


def _claim_of(trial: FrozenTrial) -> tuple[int, int] | None:
    attrs = trial.system_attrs
    if EVOLUTION_GENERATION_ATTR in attrs and EVOLUTION_SLOT_ATTR in attrs:
        return int(attrs[EVOLUTION_GENERATION_ATTR]), int(attrs[EVOLUTION_SLOT_ATTR])
    return None


def members(trials: Sequence[FrozenTrial], generation: int) -> list[FrozenTrial]:
    """The individuals of ``generation`` among ``trials``."""
    return [
        t
        for t in trials
        if is_member(t) and t.system_attrs.get(EVOLUTION_GENERATION_ATTR) == generation
    ]


def _current_generation(trials: Sequence[FrozenTrial], population_size: int) -> int:
    """The highest generation, or the next one once it has ``population_size`` members."""
    generations = [c[0] for t in trials if (c := _claim_of(t)) is not None]
    if not generations:
        return 0
    last = max(generations)
    return last + 1 if len(members(trials, last)) >= population_size else last


def _next_slot(trials: Sequence[FrozenTrial], generation: int) -> int:
    slots = [c[1] for t in trials if (c := _claim_of(t)) is not None and c[0] == generation]
    return max(slots, default=-1) + 1


def claim(study: optuna.Study, trial: FrozenTrial, population_size: int) -> tuple[int, int]:
    """The trial's (generation, slot): its stored claim, or a new one written to it.

    A trial that already holds a claim keeps it (a retried trial inherits the claim of
    the one it retries).
    """
    storage, own_id = storage_of(study), trial_id(trial)
    own = storage.get_trial_system_attrs(own_id)
    if EVOLUTION_GENERATION_ATTR in own and EVOLUTION_SLOT_ATTR in own:
        return int(own[EVOLUTION_GENERATION_ATTR]), int(own[EVOLUTION_SLOT_ATTR])
    trials = all_trials(study)
    generation = _current_generation(trials, population_size)
    slot = _next_slot(trials, generation)
    for _ in range(_MAX_CLAIMS):
        storage.set_trial_system_attr(own_id, EVOLUTION_SLOT_ATTR, slot)
        storage.set_trial_system_attr(own_id, EVOLUTION_GENERATION_ATTR, generation)
        trials = all_trials(study)
        rivals = [
            t.number
            for t in trials
            if trial_id(t) != own_id and _claim_of(t) == (generation, slot)
        ]
        if not rivals:
            break
        # rivals that both saw each other move apart: each by its rank among them
        slot = _next_slot(trials, generation) + sum(n < trial.number for n in rivals)
    return generation, slot
