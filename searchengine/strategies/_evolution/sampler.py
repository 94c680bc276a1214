"""``EvolutionSampler``: pymoo's NSGA-II as an Optuna sampler, its state in the storage."""

from __future__ import annotations

import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FrozenTrial

from searchengine._optuna import (
    EVOLUTION_GENES_ATTR,
    PARENT_ATTR,
    all_trials,
    set_trial_system_attr,
    storage_of,
    study_id,
)
from searchengine.strategies._evolution import _state
from searchengine.strategies._evolution._dag import mutants
from searchengine.strategies._evolution._genes import Gene, make_genes
from searchengine.strategies._seeding import mix_seed

__all__ = ["EvolutionSampler"]

# tags that keep the random streams of different uses apart
_CHILDREN, _SURVIVAL, _INDEPENDENT = 1, 2, 3
_CACHED_BATCHES = 16


@dataclass
class _PopulationMemo:
    """What a sampler has read from one study, or computed from it: a mirror, never a source."""

    seed: int | None = None
    parents: dict[int, list[FrozenTrial]] = field(default_factory=dict)
    children: OrderedDict[tuple[Any, ...], list[tuple[dict[str, Any], int | None]]] = field(
        default_factory=OrderedDict
    )


@dataclass(frozen=True)
class Operators:
    """How children are made: the NSGA-II settings of ``search.options``."""

    population_size: int
    crossover_prob: float = 0.9
    mutation_prob: float | None = None
    crossover_eta: float = 15.0
    mutation_eta: float = 20.0


class EvolutionSampler(BaseSampler):
    """Multi-objective evolution (pymoo NSGA-II, mixed variables) for any Optuna study.

    With one objective it is a genetic algorithm with the same operators. Its state is
    the study's storage (see :mod:`~searchengine.strategies._evolution._state` for the
    attribute keys): a resumed study, or several workers on one storage, continue the
    same evolution; what it caches in memory is recomputed identically from the storage.

    Optuna calls it, for each trial:

    1. :meth:`infer_relative_search_space` (at the trial's first ``suggest_*`` of a
       parameter not fixed): claims the trial's generation and slot, makes sure the
       parent population of that generation is stored -- NSGA-II survival over the
       previous parents and the members of the previous generation -- and returns one
       gene per parameter: the declared search space and every parameter the parents
       have, conditional ones included, single-valued ones excluded.
    2. :meth:`sample_relative`: the child in the trial's slot. Generation 0 is pymoo's
       initial random sampling; later ones are the parents told to NSGA-II and mated by
       its ask. The child's genes are stored with the trial; genes whose parameter the
       trial does not suggest are ignored, and inherited by its children.
    3. :meth:`sample_independent` for every other parameter (no gene yet, fixed by a
       ``PartialFixedSampler``, or a generation 0 without a declared space): uniform, by
       a ``RandomSampler`` seeded by (seed, trial number, parameter name).

    A generation is complete when ``population_size`` of its trials are complete, or
    pruned over a constraint; failed trials (NaN values included) do not count, and the
    generation takes more children instead. Constraints (``trial.set_constraint``) rank
    feasible trials first and infeasible ones by their total violation.

    Args:
        population_size: children per generation and survivors per generation.
        crossover_prob: probability that a mating recombines its two parents.
        mutation_prob: probability that a gene mutates (default ``1 / genes``).
        seed: the evolution's seed; a study that already has one keeps its own.
        search_space: parameter name -> distribution known before any trial (the
            compiled SearchSpace), so that generation 0 is sampled by pymoo as well.
        dag_roles: with it, generations after the first are made by AutoCTR's mutation
            (:mod:`~searchengine.strategies._evolution._dag`) instead of NSGA-II's
            mating: parameter name -> ``type`` or ``inputs`` for the block decisions of
            a DAG space (others are hyperparameters). Each child records its parent in
            the trial system attribute ``searchengine:parent``.
    """

    def __init__(
        self,
        *,
        population_size: int = 20,
        crossover_prob: float = 0.9,
        mutation_prob: float | None = None,
        seed: int | None = None,
        search_space: Mapping[str, BaseDistribution] | None = None,
        dag_roles: Mapping[str, str] | None = None,
    ) -> None:
        if population_size < 2:
            raise ValueError(f"`population_size` must be at least 2, got {population_size}")
        self._ops = Operators(population_size, crossover_prob, mutation_prob)
        self._seed = seed
        self._declared = dict(search_space or {})
        self._roles = None if dag_roles is None else dict(dag_roles)
        self._lock = threading.Lock()
        self._memos: weakref.WeakKeyDictionary[Any, dict[int, _PopulationMemo]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def population_size(self) -> int:
        return self._ops.population_size

    def reseed_rng(self) -> None:
        """Nothing to reseed: every random draw is seeded from the study's stored seed."""

    # -- optuna's sampler interface
    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        seed = self._study_seed(study)
        generation, _ = _state.claim(study, trial, self.population_size)
        genes = self._genes(self._parents(study, generation, seed))
        return {name: gene.distribution for name, gene in genes.items()}

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        seed = self._study_seed(study)
        generation, slot = _state.claim(study, trial, self.population_size)
        parents = self._parents(study, generation, seed)
        genes = self._genes(parents)
        coded = [n for n, d in search_space.items() if n in genes and genes[n].distribution == d]
        params: dict[str, Any] = {}
        if coded:
            batch, index = divmod(slot, self.population_size)
            child, parent = self._batch(study, seed, generation, batch, parents, genes)[index]
            set_trial_system_attr(study, trial, EVOLUTION_GENES_ATTR, child)
            if parent is not None:
                set_trial_system_attr(study, trial, PARENT_ATTR, parent)
            params = {n: genes[n].decode(child[n]) for n in coded}
        # a space that is not the inferred one (Optuna's own suites ask for any): what has
        # no gene is sampled as an independent parameter would be
        for name, distribution in search_space.items():
            if name not in params:
                params[name] = self.sample_independent(study, trial, name, distribution)
        return params

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        seed = mix_seed(
            self._study_seed(study), _INDEPENDENT, trial.number, zlib.crc32(param_name.encode())
        )
        return RandomSampler(seed=seed).sample_independent(
            study, trial, param_name, param_distribution
        )

    # -- the evolution, rebuilt from the storage
    def _memo(self, study: optuna.Study) -> _PopulationMemo:
        with self._lock:
            memos = self._memos.setdefault(storage_of(study), {})
            return memos.setdefault(study_id(study), _PopulationMemo())

    def _study_seed(self, study: optuna.Study) -> int:
        memo = self._memo(study)
        if memo.seed is None:
            memo.seed = _state.study_seed(study, self._seed)
        return memo.seed

    def _parents(self, study: optuna.Study, generation: int, seed: int) -> list[FrozenTrial]:
        """The parent population of ``generation`` (stored when first computed)."""
        if generation == 0:
            return []
        memo = self._memo(study)
        if generation in memo.parents:
            return memo.parents[generation]
        numbers = _state.study_attr(study, _state.parents_key(generation))
        trials = all_trials(study)
        if numbers is None:
            previous = self._parents(study, generation - 1, seed)
            pool = {t.number: t for t in [*previous, *_state.members(trials, generation - 1)]}
            from searchengine.strategies._evolution._nsga2 import survivors  # pymoo: slow import

            numbers = survivors(
                list(pool.values()),
                study.directions,
                self._ops,
                mix_seed(seed, _SURVIVAL, generation),
            )
            numbers = _state.set_once(study, _state.parents_key(generation), numbers)
        by_number = {t.number: t for t in trials}
        # finished trials do not change: what is read once stays true
        memo.parents[generation] = [by_number[n] for n in numbers if n in by_number]
        return memo.parents[generation]

    def _genes(self, parents: Sequence[FrozenTrial]) -> dict[str, Gene]:
        """The declared parameters, then every other parameter of the parents.

        A name whose distribution differs between them (a dynamic search space) gets no
        gene: it is sampled independently.
        """
        seen: dict[str, BaseDistribution] = dict(self._declared)
        conflicts: set[str] = set()
        for trial in sorted(parents, key=lambda t: t.number):
            for name in sorted(trial.distributions):
                d = trial.distributions[name]
                if seen.setdefault(name, d) != d:
                    conflicts.add(name)
        return make_genes({n: d for n, d in seen.items() if n not in conflicts})

    def _batch(
        self,
        study: optuna.Study,
        seed: int,
        generation: int,
        batch: int,
        parents: Sequence[FrozenTrial],
        genes: Mapping[str, Gene],
    ) -> list[tuple[dict[str, Any], int | None]]:
        """Children of one mating batch of a generation, with their parent when a
        mutation made them (cached: a pure function)."""
        memo = self._memo(study)
        key = (seed, generation, batch, tuple(t.number for t in parents), tuple(genes))
        with self._lock:
            if key not in memo.children:
                batch_seed = mix_seed(seed, _CHILDREN, generation, batch)
                if self._roles is not None and parents:
                    memo.children[key] = list(
                        mutants(
                            parents, genes, study.directions, self._roles,
                            self.population_size, batch_seed,
                        )
                    )  # fmt: skip
                else:
                    from searchengine.strategies._evolution._nsga2 import offspring

                    children = offspring(parents, genes, study.directions, self._ops, batch_seed)
                    memo.children[key] = [(child, None) for child in children]
                while len(memo.children) > _CACHED_BATCHES:
                    memo.children.popitem(last=False)
            return memo.children[key]
