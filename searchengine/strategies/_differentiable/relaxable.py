"""Which decisions of a space the differentiable strategy relaxes, sorted by how: what
checking a spec needs, without the supernet (torch) that relaxes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from searchengine.searchspace import Decision, SearchSpace

__all__ = ["Relaxable", "classify"]

_MAX_INT_VALUES = 16


@dataclass
class Relaxable:
    """The decisions of a space, sorted by how they relax."""

    dims: dict[str, tuple[int, ...]] = field(default_factory=dict)  # name -> candidates
    dim_names: dict[str | None, str] = field(default_factory=dict)  # field (None: all) -> name
    gates: list[Decision] = field(default_factory=list)
    groups: list[Decision] = field(default_factory=list)
    numerical: list[Decision] = field(default_factory=list)
    block_types: list[Decision] = field(default_factory=list)
    keeps: list[Decision] = field(default_factory=list)
    fixed: list[Decision] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(
            self.dims or self.gates or self.groups or self.numerical or self.block_types
            or self.keeps
        )  # fmt: skip


def _dim_candidates(d: Decision) -> tuple[int, ...] | None:
    if d.kind == "categorical":
        values = d.choices
        ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)
        return tuple(sorted(values)) if ok else None
    if d.kind == "int":
        dist: Any = d.distribution
        values = tuple(range(dist.low, dist.high + 1, dist.step or 1))
        return values if len(values) <= _MAX_INT_VALUES else None
    return None


def classify(space: SearchSpace) -> Relaxable:
    """Sort the decisions of ``space`` by how they relax (see the module docstring)."""
    out = Relaxable()
    for d in space:
        if d.role == "dim":
            candidates = _dim_candidates(d)
            if candidates is not None:
                out.dims[d.name] = candidates
                out.dim_names[d.key] = d.name
                continue
        elif d.role == "gate":
            out.gates.append(d)
            continue
        elif d.role == "membership":
            out.groups.append(d)
            continue
        elif d.role == "numerical":
            out.numerical.append(d)
            continue
        elif d.role == "block" and d.block[0] == "type":
            out.block_types.append(d)
            continue
        elif d.role == "keep":
            out.keeps.append(d)
            continue
        out.fixed.append(d)
    return out
