"""The decisions of ``model.embedding.multisize`` (NIS) and their concrete form.

Without ``sizes``, the compiler makes one decision per categorical field and frequency
bucket, like ``interactions.gate: search`` makes one per field pair:

* ``model.embedding.multisize[FIELD,b]`` -- int 0..K: the blocks bucket ``b`` uses
  (``b = 0`` is the most frequent bucket);
* with ``monotone: true`` only the head is decided so: for ``b >= 1`` the decision is
  ``model.embedding.multisize.shrink[FIELD,b]`` -- int 0..K: how many blocks fewer than
  bucket ``b - 1`` bucket ``b`` gets (never below 0). Head buckets are thus never smaller
  than tail buckets, whatever the values.

An Architecture holds the resolved sizes: ``{buckets, chunk, chunks, monotone, sizes:
{FIELD: [n_0, ..., n_{B-1}]}}``. With multi-size embeddings the categorical fields are
``K * chunk`` wide, so per-field ``embedding.dim`` decisions are made for numerical
fields only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from optuna.distributions import IntDistribution

from searchengine.searchspace.space import Decision, Slot, decision_name

if TYPE_CHECKING:
    from searchengine.searchspace._compile import _Compiler
    from searchengine.spec.format import MultiSizeSpec

__all__ = ["LOC", "MODE", "SHRINK", "add_decisions", "is_multisize", "slot_value"]

_log = logging.getLogger("searchengine.searchspace")
LOC = ("model", "embedding", "multisize")
SHRINK = ("model", "embedding", "multisize", "shrink")
MODE = "multisize"
_DIM = ("model", "embedding", "dim")


def is_multisize(name: str) -> bool:
    """Whether a decision name is one of the multi-size decisions."""
    return name.startswith(("model.embedding.multisize[", "model.embedding.multisize.shrink["))


def add_decisions(c: _Compiler) -> None:
    """Add the multi-size decisions of the spec (if searched) to the compiler."""
    settings = c.spec.model_or_default().embedding.multisize
    if settings is None:
        return
    categorical = c.field_names("categorical")
    _check_sizes(c, settings, categorical)
    dropped = [d for d in c.decisions if d.loc == _DIM and d.key in categorical]
    if dropped:
        _log.info("multisize sets the categorical widths; not searched: %s", dropped[0].name)
        c._replace([d for d in c.decisions if d not in dropped])
    if settings.sizes is not None or not c.fields:
        return
    if not categorical:
        c.issue(LOC, "multi-size embeddings need at least one categorical field")
        return
    names = []
    for field in categorical:
        for b in range(settings.buckets):
            shrink = settings.monotone and b > 0
            decision = Decision(
                decision_name(SHRINK if shrink else LOC, f"{field},{b}"),
                IntDistribution(0, settings.chunks),
                LOC,
                f"{field},{b}",
                default=0 if shrink else settings.chunks,
            )
            c.decisions.append(decision)
            names.append(decision.name)
    c.slots.append(Slot(LOC, MODE, tuple(names), None))


def _check_sizes(c: _Compiler, settings: MultiSizeSpec, categorical: list[str]) -> None:
    from searchengine.errors import did_you_mean

    if settings.sizes is None or not c.fields:
        return
    for name in settings.sizes:
        if name not in categorical:
            c.issue(
                LOC + ("sizes", name),
                f"not a categorical field: {name!r}{did_you_mean(name, categorical)}",
            )
    missing = [n for n in categorical if n not in settings.sizes]
    if missing:
        c.issue(LOC + ("sizes",), f"no sizes for field(s) {', '.join(missing)}")


def slot_value(
    settings: MultiSizeSpec, slot: Slot, values: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The concrete ``multisize`` section of the decided values (defaults where missing)."""
    decided: dict[str, dict[int, tuple[bool, int]]] = {}
    for name in slot.decisions:
        field, bucket = name[name.index("[") + 1 : -1].rsplit(",", 1)
        shrink = name.startswith("model.embedding.multisize.shrink[")
        value = int(values.get(name, defaults[name]))
        decided.setdefault(field, {})[int(bucket)] = (shrink, value)
    sizes: dict[str, list[int]] = {}
    for field, by_bucket in decided.items():
        row = sizes[field] = []
        for b in sorted(by_bucket):
            shrink, value = by_bucket[b]
            row.append(max(row[-1] - value, 0) if shrink and row else value)
    out = settings.model_dump(mode="python")
    out["sizes"] = sizes
    return out
