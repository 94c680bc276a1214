"""pymoo's NSGA-II on mixed variables, driven by ask/tell from trials in a study.

Nothing here holds state between calls: every function rebuilds what it needs from the
trials it is given and a seed, so any process computes the same survivors and the same
children from the same storage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from pymoo.algorithms.moo.nsga2 import NSGA2, binary_tournament
from pymoo.core.individual import Individual
from pymoo.core.mixed import (
    MixedVariableDuplicateElimination,
    MixedVariableMating,
    MixedVariableSampling,
)
from pymoo.core.population import Population
from pymoo.core.problem import Problem
from pymoo.core.termination import NoTermination
from pymoo.core.variable import Binary, Choice, Integer, Real
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.crossover.ux import UX
from pymoo.operators.mutation.bitflip import BFM
from pymoo.operators.mutation.pm import PM
from pymoo.operators.mutation.rm import ChoiceRandomMutation
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.selection.tournament import TournamentSelection

from searchengine.strategies._evolution._genes import Gene
from searchengine.strategies._evolution._state import EVOLUTION_GENES_ATTR

if TYPE_CHECKING:
    from searchengine.strategies._evolution.sampler import Operators

__all__ = ["offspring", "survivors"]

# Objective values that cannot be ranked (inf, or none for an infeasible pruned trial) are
# replaced by this, so crowding distances stay finite.
_WORST = 1.0e30
# random draws for a child that pymoo could not make, before a repeat is accepted
_REDRAWS = 10


def _algorithm(genes: Mapping[str, Gene], ops: Operators) -> NSGA2:
    """NSGA-II with pymoo's mixed-variable sampling and mating.

    Mutation is applied per variable type group; its per-gene probability is set
    explicitly so that every gene mutates with the same probability (pymoo's default,
    ``1 / n_var`` of the group, would mutate a lone categorical gene half the time).
    """
    p_var = ops.mutation_prob if ops.mutation_prob is not None else 1.0 / max(len(genes), 1)
    p_x, eta_x, eta_m = ops.crossover_prob, ops.crossover_eta, ops.mutation_eta
    mating = MixedVariableMating(
        selection=TournamentSelection(func_comp=binary_tournament),
        crossover={
            Real: SBX(prob=p_x, eta=eta_x),
            Integer: SBX(prob=p_x, eta=eta_x, vtype=float, repair=RoundingRepair()),
            Choice: UX(prob=p_x),
            Binary: UX(prob=p_x),
        },
        mutation={
            Real: PM(prob=1.0, prob_var=p_var, eta=eta_m),
            Integer: PM(prob=1.0, prob_var=p_var, eta=eta_m, vtype=float, repair=RoundingRepair()),
            Choice: ChoiceRandomMutation(prob=1.0, prob_var=p_var),
            Binary: BFM(prob=1.0, prob_var=p_var),
        },
        eliminate_duplicates=MixedVariableDuplicateElimination(),
    )
    return NSGA2(
        pop_size=ops.population_size,
        sampling=MixedVariableSampling(),
        mating=mating,
        eliminate_duplicates=MixedVariableDuplicateElimination(),
        termination=NoTermination(),
    )


def _problem(genes: Mapping[str, Gene], n_obj: int) -> Problem:
    # one inequality constraint: the trial's total violation (0 when unconstrained)
    return Problem(vars={n: g.variable for n, g in genes.items()}, n_obj=n_obj, n_ieq_constr=1)


def _objectives(trial: FrozenTrial, directions: Sequence[StudyDirection]) -> np.ndarray:
    if trial.values is None:
        return np.full(len(directions), _WORST)
    signs = [1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions]
    f = [s * v for s, v in zip(signs, trial.values, strict=True)]
    return np.nan_to_num(np.asarray(f, dtype=float), nan=_WORST, posinf=_WORST, neginf=-_WORST)


def _violation(trial: FrozenTrial) -> float:
    return float(sum(v for v in trial.constraints.values() if v > 0))


def _genes_of(trial: FrozenTrial, genes: Mapping[str, Gene], rng: np.random.Generator) -> dict:
    """A trial's gene vector: its parameters, else its stored genes, else random ones."""
    stored = trial.system_attrs.get(EVOLUTION_GENES_ATTR) or {}
    x: dict[str, Any] = {}
    for name, gene in genes.items():
        if name in trial.params and trial.distributions.get(name) == gene.distribution:
            x[name] = gene.encode(trial.params[name])
        elif name in stored and gene.valid(stored[name]):
            x[name] = stored[name]
        else:
            x[name] = gene.sample(rng)
    return x


def _population(
    trials: Sequence[FrozenTrial],
    genes: Mapping[str, Gene],
    directions: Sequence[StudyDirection],
    rng: np.random.Generator,
) -> Population:
    return Population(
        [
            Individual(
                X=_genes_of(t, genes, rng),
                F=_objectives(t, directions),
                G=np.array([_violation(t)]),
                number=t.number,
            )
            for t in sorted(trials, key=lambda t: t.number)
        ]
    )


def survivors(
    pool: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
    ops: Operators,
    seed: int,
) -> list[int]:
    """Trial numbers of the ``population_size`` best of ``pool``: NSGA-II's survival.

    Feasible individuals first, ranked by non-domination and crowding distance; then
    infeasible ones by their constraint violation.
    """
    problem = _problem({}, len(directions))
    pop = _population(pool, {}, directions, np.random.default_rng(seed))
    kept = _algorithm({}, ops).survival.do(
        problem, pop, n_survive=ops.population_size, random_state=np.random.default_rng(seed)
    )
    return sorted(int(ind.data["number"]) for ind in kept)


def offspring(
    parents: Sequence[FrozenTrial],
    genes: Mapping[str, Gene],
    directions: Sequence[StudyDirection],
    ops: Operators,
    seed: int,
) -> list[dict[str, Any]]:
    """``population_size`` children (gene vectors) of ``parents`` by pymoo's ask/tell.

    The parents are told to a fresh NSGA-II as its evaluated population (which ranks them
    and computes their crowding distances); its next ask mates them. Without parents, the
    ask is NSGA-II's initial random sampling.

    In a small discrete space pymoo may make fewer unique children than asked, or none
    (its ask then returns None); the rest are random gene vectors, new ones while a few
    draws find them, else repeats: a small space is never an error.
    """
    algorithm = _algorithm(genes, ops)
    algorithm.setup(_problem(genes, len(directions)), seed=seed)
    if parents:
        algorithm.tell(infills=_population(parents, genes, directions, algorithm.random_state))
    asked = algorithm.ask()
    children = [
        {name: genes[name].to_json(value) for name, value in ind.X.items()}
        for ind in (asked if asked is not None else [])
    ]
    if len(children) >= ops.population_size:
        return children[: ops.population_size]
    rng = np.random.default_rng(seed)
    seen = {_key(x) for x in children} | {_key(_genes_of(t, genes, rng)) for t in parents}
    while len(children) < ops.population_size:
        for _ in range(_REDRAWS):
            child = {name: gene.sample(rng) for name, gene in genes.items()}
            if _key(child) not in seen:
                break
        seen.add(_key(child))
        children.append(child)
    return children[: ops.population_size]


def _key(vector: Mapping[str, Any]) -> tuple:
    return tuple(sorted(vector.items()))
