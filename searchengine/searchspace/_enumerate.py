"""Every candidate of a small, purely discrete space: what "exhausted" is measured against."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

if TYPE_CHECKING:
    from searchengine.searchspace.space import SearchSpace

__all__ = ["Candidate", "candidates", "candidate_of"]

#: A candidate as Optuna stores it: its active decisions' params, sorted by name.
Candidate = tuple[tuple[str, Any], ...]


class _TooMany(Exception):
    pass


def _params(d: BaseDistribution, limit: int) -> list[Any] | None:
    """The params a distribution can take; None if continuous or more than ``limit``."""
    if isinstance(d, CategoricalDistribution):
        return list(d.choices)
    if isinstance(d, IntDistribution):
        if (d.high - d.low) // d.step + 1 > limit:
            return None
        return list(range(d.low, d.high + 1, d.step))
    if isinstance(d, FloatDistribution) and d.single():
        return [d.low]
    return None


def candidates(space: SearchSpace, limit: int) -> set[Candidate] | None:
    """Every assignment of the decisions active under it, or None when a decision is
    continuous or there are more than ``limit`` candidates.

    Conditions are followed as :meth:`SearchSpace.sample` follows them: an inactive
    decision is not part of a candidate.
    """
    choices: list[list[Any]] = []
    for d in space:
        params = _params(d.distribution, limit)
        if params is None:
            return None
        choices.append(params)
    found: set[Candidate] = set()
    values: dict[str, Any] = {}
    chosen: dict[str, Any] = {}

    def walk(i: int) -> None:
        if i == len(choices):
            found.add(candidate_of(chosen.items()))
            if len(found) > limit:
                raise _TooMany
            return
        d = space.decisions[i]
        if not space.is_active(d, values):
            walk(i + 1)
            return
        for param in choices[i]:
            values[d.name], chosen[d.name] = d.decode(param), param
            walk(i + 1)
        del values[d.name], chosen[d.name]

    try:
        walk(0)
    except _TooMany:
        return None
    return found


def candidate_of(params: Iterable[tuple[str, Any]]) -> Candidate:
    """A trial's params (``trial.params.items()``) as a :data:`Candidate`."""
    return tuple(sorted(params))
