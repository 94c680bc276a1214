"""The ``evolution`` sampler: its genes, its state in the storage, resume, determinism.

The conformance suite runs ``evolution`` with its default population (its trials then
mostly stay in generation 0); here the same checks run with a population of 4, so that
they go through several generations of survival and mating.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from searchengine.strategies import STRATEGIES, EvolutionStrategy
from searchengine.strategies._evolution import (
    EVOLUTION_GENERATION_ATTR,
    EVOLUTION_GENES_ATTR,
    EVOLUTION_SEED_ATTR,
    EVOLUTION_SLOT_ATTR,
    EvolutionSampler,
    parents_key,
)
from searchengine.strategies._evolution._genes import make_gene
from searchengine.testing import strategies as suite
from tests.strategies.test_conformance import CHECKS

POPULATION = 4


class SmallEvolution(EvolutionStrategy):
    """``evolution`` with a population of 4, so that a few trials make generations."""

    def __init__(self, *, seed: int | None = None, **options: Any) -> None:
        super().__init__(seed=seed, **{"population_size": POPULATION, **options})


def test_registered() -> None:
    assert STRATEGIES.get("evolution") is EvolutionStrategy


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_conformance_over_generations(check) -> None:
    check(SmallEvolution)


# -- genes
@pytest.mark.parametrize("name", [n for n in suite.DISTRIBUTIONS if n != "cat_one"])
def test_genes_decode_inside_their_distribution(name: str) -> None:
    d = suite.DISTRIBUTIONS[name]
    gene = make_gene(name, d)
    assert gene is not None
    rng = np.random.default_rng(0)
    extremes = (
        [gene.variable.bounds[0], gene.variable.bounds[1]]
        if gene.mode not in ("binary", "choice")
        else []
    )
    for value in [gene.sample(rng) for _ in range(200)] + extremes:
        assert gene.valid(gene.to_json(value))
        param = gene.decode(value)
        assert d._contains(d.to_internal_repr(param)), f"{name}: {value!r} -> {param!r}"
        assert gene.decode(gene.encode(param)) == param  # parameters round-trip


def test_gene_kinds() -> None:
    assert make_gene("c", CategoricalDistribution([7])) is None  # single values: no gene
    assert make_gene("g", CategoricalDistribution([True, False])).mode == "binary"
    assert make_gene("g", CategoricalDistribution([1, 0])).mode == "choice"
    ints = make_gene("n", IntDistribution(1, 1024, log=True))
    assert (
        ints.decode(ints.variable.bounds[0]) == 1 and ints.decode(ints.variable.bounds[1]) == 1024
    )
    grid = make_gene("f", FloatDistribution(0.0, 1.0, step=0.25))
    assert grid.variable.bounds == (0, 4) and grid.decode(3) == 0.75


# -- the state in the storage
def conditional(trial: optuna.Trial) -> tuple[float, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    extra = trial.suggest_int("depth", 1, 8) / 8 if kind == "b" else 0.5
    return x + extra, (1 - x) ** 2 + (1 - extra)


def optimize(study: optuna.Study, n: int, objective=conditional) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=n)


def new_study(seed: int = 0, storage: Any = None, **kwargs: Any) -> optuna.Study:
    sampler = EvolutionSampler(population_size=POPULATION, seed=seed, **kwargs)
    return optuna.create_study(
        directions=["minimize", "minimize"],
        sampler=sampler,
        storage=storage,
        study_name="evo",
        load_if_exists=True,
    )


def claims(study: optuna.Study) -> list[tuple[int, int]]:
    return [
        (t.system_attrs[EVOLUTION_GENERATION_ATTR], t.system_attrs[EVOLUTION_SLOT_ATTR])
        for t in study.trials
    ]


def test_generations_parents_and_genes_are_stored() -> None:
    study = new_study(seed=7)
    optimize(study, 14)
    assert claims(study) == [(g, s) for g in range(3) for s in range(4)] + [(3, 0), (3, 1)]
    attrs = study._storage.get_study_system_attrs(study._study_id)
    assert attrs[EVOLUTION_SEED_ATTR] == 7
    by_number = {t.number: t for t in study.trials}
    previous: list[int] = []
    for g in (1, 2, 3):
        parents = attrs[parents_key(g)]
        pool = set(previous) | {
            t.number for t in study.trials if t.system_attrs[EVOLUTION_GENERATION_ATTR] == g - 1
        }
        assert len(parents) == POPULATION and set(parents) <= pool
        # NSGA-II keeps every non-dominated member of the pool when they fit
        front = [n for n in pool if not any(_dominates(by_number[m], by_number[n]) for m in pool)]
        if len(front) <= POPULATION:
            assert set(front) <= set(parents), (g, front, parents)
        previous = parents
    for t in study.trials[4:]:
        # every gene is kept, the inactive `depth` of a trial of kind "a" too
        assert set(t.system_attrs[EVOLUTION_GENES_ATTR]) == {"x", "kind", "depth"}


def _dominates(a: optuna.trial.FrozenTrial, b: optuna.trial.FrozenTrial) -> bool:
    return all(x <= y for x, y in zip(a.values, b.values, strict=True)) and a.values != b.values


def test_same_seed_same_children_over_generations() -> None:
    runs = []
    for seed in (5, 5, 6):
        study = new_study(seed=seed)
        optimize(study, 20)
        runs.append([(t.params, t.system_attrs[EVOLUTION_GENERATION_ATTR]) for t in study.trials])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_resume_mid_generation_continues_the_same_evolution(tmp_path: Path) -> None:
    journal = f"{tmp_path / 'study.log'}"

    def storage() -> optuna.storages.BaseStorage:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(journal))

    optimize(new_study(seed=3, storage=storage()), 10)  # stops in generation 2, slot 2
    resumed = new_study(seed=99, storage=storage())  # a fresh sampler; the stored seed wins
    optimize(resumed, 10)
    straight = new_study(seed=3)
    optimize(straight, 20)
    assert claims(resumed)[8:12] == [(2, 0), (2, 1), (2, 2), (2, 3)]
    assert [t.params for t in resumed.trials] == [t.params for t in straight.trials]
    assert claims(resumed) == claims(straight)


def test_an_abandoned_trial_keeps_its_slot() -> None:
    study = new_study(seed=1)
    optimize(study, 5)
    lost = study.ask()  # its worker dies after sampling: the child is not proposed again
    lost.suggest_float("x", 0.0, 1.0)
    optimize(study, 3)
    slots = claims(study)
    assert slots[5] == (1, 1) and slots[6:] == [(1, 2), (1, 3), (1, 4)]  # 4 members needed
    assert study.trials[5].state == TrialState.RUNNING


def test_failed_trials_do_not_fill_a_generation() -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        return (math.nan, 0.0) if trial.number % 2 else (x, 1 - x)

    study = new_study()
    optimize(study, 12, objective)
    generations = [t.system_attrs[EVOLUTION_GENERATION_ATTR] for t in study.trials]
    assert generations == [0] * 7 + [1] * 5  # 4 complete members make a generation
    assert sum(t.state == TrialState.FAIL for t in study.trials) == 6


def test_constraints_rank_feasible_first() -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_constraint("x<=0.5", x - 0.5)
        return x, 1 - x

    study = new_study(seed=2)
    optimize(study, 16, objective)
    attrs = study._storage.get_study_system_attrs(study._study_id)
    by_number = {t.number: t for t in study.trials}
    for g in (1, 2, 3):
        parents = [by_number[n] for n in attrs[parents_key(g)]]
        feasible = [t for t in parents if t.constraints["x<=0.5"] <= 0]
        pool = [t for t in study.trials if t.system_attrs[EVOLUTION_GENERATION_ATTR] < g]
        # infeasible parents only where too few feasible trials exist
        assert len(feasible) == min(POPULATION, sum(t.constraints["x<=0.5"] <= 0 for t in pool))
    late = [t.params["x"] for t in study.trials if t.system_attrs[EVOLUTION_GENERATION_ATTR] >= 2]
    assert sum(x <= 0.5 for x in late) > len(late) / 2


def test_single_objective_is_a_genetic_algorithm() -> None:
    sampler = EvolutionSampler(population_size=POPULATION, seed=0)
    study = optuna.create_study(sampler=sampler)
    optimize(
        study, 24, lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2 + t.suggest_int("k", 0, 9)
    )
    first = [t.value for t in study.trials[:4]]
    last = [t.value for t in study.trials[-4:]]
    assert study.trials[-1].system_attrs[EVOLUTION_GENERATION_ATTR] == 5
    assert min(last) <= min(first) and np.mean(last) < np.mean(first)


def test_reference_point_must_fit_the_objectives() -> None:
    from searchengine.errors import SpecError

    strategy = EvolutionStrategy(seed=0, reference_point=[0.5])
    with pytest.raises(SpecError, match="expected 2 values .one per objective., got 1"):
        strategy.sampler(suite._EmptySpace(), [optuna.study.StudyDirection.MINIMIZE] * 2)
    with pytest.raises(SpecError, match="population_size"):
        EvolutionStrategy(seed=0, population_size=1)
