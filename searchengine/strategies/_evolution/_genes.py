"""Optuna distributions as pymoo variables: one gene per parameter.

=============================  ====================  =================================
distribution                   pymoo variable        gene value
=============================  ====================  =================================
float                          ``Real``              the value
float, ``log``                 ``Real``              ``log(value)``
float with ``step``            ``Integer``           index on the grid ``low + i*step``
int (``step`` 1)               ``Integer``           the value
int with ``step``              ``Integer``           index on the grid ``low + i*step``
int, ``log``                   ``Real``              ``log(value)``, rounded back
categorical of ``True/False``  ``Binary``            the value
categorical                    ``Choice``            index of the choice
=============================  ====================  =================================

A gene always decodes to a value inside its distribution (clipped, then rounded to the
grid), so crossover and mutation never propose an out-of-range parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from pymoo.core.variable import Binary, Choice, Integer, Real, Variable

__all__ = ["Gene", "make_gene", "make_genes"]


@dataclass(frozen=True)
class Gene:
    """One parameter's distribution and the pymoo variable that encodes it."""

    name: str
    distribution: BaseDistribution
    variable: Variable
    mode: str  # "real" | "log" | "grid" | "int" | "int_log" | "binary" | "choice"

    def encode(self, value: Any) -> Any:
        """A parameter value (Optuna's external representation) -> its gene value."""
        d = self.distribution
        if self.mode == "binary":
            return bool(value)
        if self.mode == "choice":
            assert isinstance(d, CategoricalDistribution)
            return int(d.to_internal_repr(value))
        assert isinstance(d, FloatDistribution | IntDistribution)
        if self.mode in ("log", "int_log"):
            return math.log(float(value))
        if self.mode == "grid":
            return int(round((float(value) - d.low) / _step(d)))
        return int(value) if self.mode == "int" else float(value)

    def decode(self, gene: Any) -> Any:
        """A gene value -> a parameter value inside the distribution."""
        d = self.distribution
        if self.mode == "binary":
            return bool(gene)
        if self.mode == "choice":
            assert isinstance(d, CategoricalDistribution)
            return d.choices[int(np.clip(int(gene), 0, len(d.choices) - 1))]
        assert isinstance(d, FloatDistribution | IntDistribution)
        if self.mode == "grid":
            index = int(np.clip(int(round(float(gene))), 0, _grid_size(d)))
            value = d.low + index * _step(d)
            return min(float(value), d.high) if isinstance(d, FloatDistribution) else int(value)
        x = math.exp(float(gene)) if self.mode in ("log", "int_log") else float(gene)
        x = min(max(x, d.low), d.high)
        return x if isinstance(d, FloatDistribution) else int(min(max(round(x), d.low), d.high))

    def to_json(self, gene: Any) -> Any:
        """A gene value as a JSON scalar (numpy scalars are not storable)."""
        if self.mode == "binary":
            return bool(gene)
        if isinstance(self.variable, Integer | Choice):
            return int(gene)
        return float(gene)

    def valid(self, gene: Any) -> bool:
        """Whether a stored gene value still fits this gene's variable."""
        if self.mode == "binary":
            return isinstance(gene, bool)
        if isinstance(gene, bool) or not isinstance(gene, int | float):
            return False
        if isinstance(self.variable, Choice):
            return isinstance(gene, int) and 0 <= gene < len(self.variable.options)
        low, high = self.variable.bounds
        return math.isfinite(gene) and low <= gene <= high

    def sample(self, rng: np.random.Generator) -> Any:
        """One random gene value."""
        return self.to_json(self.variable.sample(1, random_state=rng)[0])


def _step(d: FloatDistribution | IntDistribution) -> float:
    assert d.step is not None
    return d.step


def _grid_size(d: FloatDistribution | IntDistribution) -> int:
    """The largest grid index: ``low + n*step <= high``."""
    return int(math.floor((d.high - d.low) / _step(d) + 1e-9))


def _is_bool_choice(d: CategoricalDistribution) -> bool:
    return (
        len(d.choices) == 2
        and set(d.choices) == {True, False}
        and all(isinstance(c, bool) for c in d.choices)
    )


def make_gene(name: str, d: BaseDistribution) -> Gene | None:
    """The gene of a distribution, or None for one that has a single value."""
    if d.single():
        return None
    if isinstance(d, CategoricalDistribution):
        if _is_bool_choice(d):
            return Gene(name, d, Binary(), "binary")
        return Gene(name, d, Choice(options=np.arange(len(d.choices))), "choice")
    if isinstance(d, FloatDistribution):
        if d.log:
            return Gene(name, d, Real(bounds=(math.log(d.low), math.log(d.high))), "log")
        if d.step is not None:
            return Gene(name, d, Integer(bounds=(0, _grid_size(d))), "grid")
        return Gene(name, d, Real(bounds=(d.low, d.high)), "real")
    if isinstance(d, IntDistribution):
        if d.log:
            # +-0.5 gives the end values their share of the rounded range
            bounds = (math.log(d.low - 0.5), math.log(d.high + 0.5))
            return Gene(name, d, Real(bounds=bounds), "int_log")
        if d.step != 1:
            return Gene(name, d, Integer(bounds=(0, _grid_size(d))), "grid")
        return Gene(name, d, Integer(bounds=(d.low, d.high)), "int")
    return None


def make_genes(distributions: Mapping[str, BaseDistribution]) -> dict[str, Gene]:
    """Genes of ``distributions`` in their order, single-valued ones left out."""
    genes = {}
    for name, d in distributions.items():
        gene = make_gene(name, d)
        if gene is not None:
            genes[name] = gene
    return genes
