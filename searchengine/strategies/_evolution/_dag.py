"""AutoCTR's mutation (KDD'20) for DAG spaces: one parent, exactly one change.

Each child of a generation is made so:

1. a parent is picked by binary tournament from the parent population: of two random
   parents, the one of better non-domination rank (feasible before infeasible, then the
   smaller violation) wins, a tie is broken at random -- so parents on the current front
   are picked most;
2. one kind of change is picked at random among those the parent allows -- a block's
   *type*, one block *input* set, or one *hyperparameter* (a block's width, layers or
   fields, the block count, or any other decision of the space) -- then one of the
   parent's active decisions of that kind, which takes a different value: a type another
   type, an input set one that adds, removes or swaps a single input (one edge of the
   DAG) where there is one, a number a nearby value, a choice another choice.

The child keeps every other gene of its parent, so it differs in exactly one active
decision, and since every assignment of the block decisions is a valid DAG (see
:mod:`searchengine.searchspace._blocks`), so is every child. A child equal to its parent,
another parent or a sibling is redrawn (a few times). Each child names its parent, so a
warm start (``search.fidelity.warm_start``) can begin from the parent's weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from searchengine.strategies._evolution._genes import Gene

__all__ = ["KINDS", "mutants", "mutate"]

#: The kinds of change, as the roles of :func:`searchengine.searchspace._blocks.role`.
KINDS = ("type", "inputs", "hyperparameter")
_REDRAWS = 10


def _ranks(parents: Sequence[FrozenTrial], directions: Sequence[StudyDirection]) -> list[tuple]:
    """A sort key per parent: (infeasible, violation, non-domination rank)."""
    from searchengine.strategies._evolution._nsga2 import _objectives, _violation

    violation = np.array([_violation(t) for t in parents])
    feasible = violation <= 0
    rank = np.full(len(parents), len(parents), dtype=int)
    if feasible.any():
        f = np.array([_objectives(t, directions) for t in parents])[feasible]
        rank[feasible] = NonDominatedSorting().do(f, return_rank=True)[1]
    return [(not ok, v, r) for ok, v, r in zip(feasible, violation, rank, strict=True)]


def _tournament(keys: list[tuple], rng: np.random.Generator) -> int:
    a, b = rng.integers(len(keys), size=2)
    if keys[a] == keys[b]:
        return int(a if rng.random() < 0.5 else b)
    return int(a if keys[a] < keys[b] else b)


def _new_value(gene: Gene, value: Any, role: str, rng: np.random.Generator) -> Any:
    """A value of ``gene`` other than ``value`` (``value`` itself if there is none)."""
    if gene.mode == "binary":
        return not value
    if gene.mode == "choice":
        options = [i for i in range(len(gene.variable.options)) if i != value]
        if role == "inputs":  # one edge: sets that differ by one added, removed or swapped
            choices = gene.distribution.choices  # type: ignore[attr-defined]
            current = set(str(choices[value]).split("+"))
            near = [i for i in options if len(current ^ set(str(choices[i]).split("+"))) <= 2]
            options = near or options
        return int(rng.choice(options)) if options else value
    low, high = gene.variable.bounds
    if gene.mode in ("int", "grid"):
        if high <= low:
            return value
        step = max(1, int(round(abs(rng.normal(0.0, max(1.0, 0.1 * (high - low)))))))
        sign = 1 if rng.random() < 0.5 else -1
        moved = int(np.clip(value + sign * step, low, high))
        return moved if moved != value else int(np.clip(value - sign * step, low, high))
    moved = float(np.clip(value + rng.normal(0.0, 0.1 * (high - low)), low, high))
    return moved if moved != value else float(rng.uniform(low, high))


def mutate(
    genes: Mapping[str, Gene],
    parent: Mapping[str, Any],
    active: Sequence[str],
    roles: Mapping[str, str],
    rng: np.random.Generator,
) -> tuple[dict[str, Any], str]:
    """``parent``'s gene vector with one active gene changed; the changed gene's name.

    Args:
        genes: every gene.
        parent: the parent's gene vector.
        active: the parent's active decisions that have a gene.
        roles: decision name -> ``type`` or ``inputs`` for block decisions; any other
            decision is a hyperparameter.
    """
    by_kind: dict[str, list[str]] = {}
    for name in active:
        kind = roles.get(name, "hyperparameter")
        by_kind.setdefault(kind if kind in KINDS else "hyperparameter", []).append(name)
    kinds = [k for k in KINDS if by_kind.get(k)]
    child = dict(parent)
    if not kinds:
        return child, ""
    names = by_kind[kinds[int(rng.integers(len(kinds)))]]
    name = names[int(rng.integers(len(names)))]
    gene = genes[name]
    child[name] = gene.to_json(_new_value(gene, parent[name], roles.get(name, ""), rng))
    return child, name


def mutants(
    parents: Sequence[FrozenTrial],
    genes: Mapping[str, Gene],
    directions: Sequence[StudyDirection],
    roles: Mapping[str, str],
    count: int,
    seed: int,
) -> list[tuple[dict[str, Any], int]]:
    """``count`` children (gene vectors) of ``parents``, each with its parent's number."""
    from searchengine.strategies._evolution._nsga2 import _genes_of

    rng = np.random.default_rng(seed)
    ordered = sorted(parents, key=lambda t: t.number)
    keys = _ranks(ordered, directions)
    vectors = [_genes_of(t, genes, rng) for t in ordered]
    seen = {_active_key(t.params, genes, v) for t, v in zip(ordered, vectors, strict=True)}
    out: list[tuple[dict[str, Any], int]] = []
    for _ in range(count):
        for _attempt in range(_REDRAWS):
            i = _tournament(keys, rng)
            active = [n for n in ordered[i].params if n in genes]
            child, _ = mutate(genes, vectors[i], active, roles, rng)
            key = _active_key(ordered[i].params, genes, child)
            if key not in seen:
                break
        seen.add(key)
        out.append((child, ordered[i].number))
    return out


def _active_key(params: Mapping[str, Any], genes: Mapping[str, Gene], vector: Mapping) -> tuple:
    """The decoded values of the parent's active genes (what a duplicate would repeat)."""
    return tuple(sorted((n, repr(genes[n].decode(vector[n]))) for n in params if n in genes))
