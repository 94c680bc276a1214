"""Baselines that need no search, as first-class strategies: ``fde`` and ``mde``.

Both are one-shot: they derive one Architecture from the space and the data, record it as
one trial through the common evaluator (so it is trained and measured exactly like any
searched candidate) and stop. Every decision other than the embedding widths takes its
default (the spec's ``default:`` or the first choice / the low end of a range).

* ``fde`` (full dimension embedding): every field at the largest candidate width.
* ``mde`` (mixed dimension embedding, Ginart et al. 2019): a field's width shrinks with
  its cardinality, ``d_f = d_max * (n_f / n_min) ** -alpha`` with ``n_f`` the number of
  ids that cover 95% of the field's training rows (its *effective* vocabulary, so a
  long tail of rare ids does not count), rounded to the nearest candidate width.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from searchengine._optuna import ONESHOT_DONE_ATTR, SEARCH_COST_ATTR
from searchengine.strategies.base import (
    STRATEGIES,
    NoOptions,
    OneShotStrategy,
    OptionsT,
    Session,
    training_evaluator,
)

if TYPE_CHECKING:
    from searchengine.searchspace import SearchSpace

__all__ = ["FDEStrategy", "MDEStrategy", "effective_vocabulary"]

_log = logging.getLogger(__name__)


def _dim_decisions(space: SearchSpace) -> list[Any]:
    return [d for d in space if d.role == "dim" and d.key is not None and d.kind != "float"]


def _candidates(decision: Any) -> list[int]:
    if decision.kind == "categorical":
        return sorted(int(c) for c in decision.choices)
    dist = decision.distribution
    return list(range(dist.low, dist.high + 1, dist.step))


def effective_vocabulary(counts: np.ndarray | None, coverage: float = 0.95) -> int:
    """How many of a field's most frequent ids cover ``coverage`` of its training rows."""
    if counts is None or counts.sum() <= 0:
        return 1
    ordered = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    cumulative = np.cumsum(ordered) / ordered.sum()
    return int(np.searchsorted(cumulative, coverage) + 1)


class _Baseline(OneShotStrategy[OptionsT]):
    """Shared life cycle: derive the widths, record one trial, once per study."""

    def widths(self, session: Session) -> dict[str, int]:
        raise NotImplementedError

    def search(self, session: Session) -> None:
        if session.study.user_attrs.get(ONESHOT_DONE_ATTR):  # the engine's claim holds the budget
            return
        values = session.space.defaults()
        values.update(self.widths(session))
        arch = session.space.fixed(values)
        widths = {d.name: values[d.name] for d in session.space if d.role == "dim"}
        _log.info("%s widths: %s", self.name, widths)
        session.record(
            arch, user_attrs={SEARCH_COST_ATTR: {"seconds": 0.0, "strategy": self.name}}
        )
        session.study.set_user_attr(ONESHOT_DONE_ATTR, True)


@STRATEGIES.register("fde")
class FDEStrategy(_Baseline[NoOptions]):
    """Every field at the largest candidate embedding width."""

    name = "fde"
    description = "baseline: every field at the largest candidate width (no search)"
    decides = "model.embedding.dim (no search); the rest at defaults"

    def widths(self, session: Session) -> dict[str, int]:
        return {d.name: _candidates(d)[-1] for d in _dim_decisions(session.space)}


class MDEOptions(BaseModel):
    """``search.options`` of ``mde``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(0.3, ge=0.0, le=2.0, description="How fast width falls with cardinality.")
    coverage: float = Field(
        0.95, gt=0.0, le=1.0, description="Share of rows the effective vocabulary covers."
    )


@STRATEGIES.register("mde")
class MDEStrategy(_Baseline[MDEOptions]):
    """Mixed dimensions from each field's (effective) cardinality."""

    name = "mde"
    description = "baseline: widths shrink with field cardinality (mixed dims, no search)"
    decides = "model.embedding.dim (no search); the rest at defaults"
    Options = MDEOptions

    def widths(self, session: Session) -> dict[str, int]:
        data = training_evaluator(session, self.name).data
        decisions = _dim_decisions(session.space)
        if not decisions:
            return {}
        o = self.options
        sizes = {}
        for d in decisions:
            info = data.schema.field(d.key)
            # a numerical field is one "id" per value: treat it as the smallest vocabulary
            sizes[d.name] = (
                effective_vocabulary(info.counts, o.coverage) if info.is_categorical else 1
            )
        smallest = min(sizes.values())
        out = {}
        for d in decisions:
            candidates = _candidates(d)
            target = candidates[-1] * (sizes[d.name] / smallest) ** (-o.alpha)
            out[d.name] = min(candidates, key=lambda c: (abs(math.log(c / target)), c))
        return out
