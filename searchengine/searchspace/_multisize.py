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

from searchengine.searchspace._slots import Contribution
from searchengine.searchspace.space import Decision, Slot, decision_name

if TYPE_CHECKING:
    from searchengine.searchspace._slots import SlotView
    from searchengine.spec.format import MultiSizeSpec

__all__ = ["LOC", "MODE", "SHRINK", "SLOTS", "MultiSizeSlots", "is_multisize", "slot_value"]

_log = logging.getLogger("searchengine.searchspace")
LOC = ("model", "embedding", "multisize")
SHRINK = ("model", "embedding", "multisize", "shrink")
MODE = "multisize"
_DIM = ("model", "embedding", "dim")


def is_multisize(name: str) -> bool:
    """Whether a decision name is one of the multi-size decisions."""
    return name.startswith(("model.embedding.multisize[", "model.embedding.multisize.shrink["))


class MultiSizeSlots:
    """``model.embedding.multisize``: the blocks each frequency bucket of a field keeps;
    they set the categorical widths, whose own decisions they supersede."""

    loc = LOC

    def contribute(self, view: SlotView) -> Contribution:
        """The multi-size decisions of the spec (if searched)."""
        settings = view.spec.model_or_default().embedding.multisize
        if settings is None:
            return Contribution()
        categorical = view.field_names("categorical")
        _check_sizes(view, settings, categorical)
        dropped = frozenset(
            d.name for d in view.compiled if d.loc == _DIM and d.key in categorical
        )
        if dropped:
            _log.info("multisize sets the categorical widths; not searched: %s", min(dropped))
        if settings.sizes is not None or not view.fields:
            return Contribution(supersedes=dropped)
        if not categorical:
            view.issue(LOC, "multi-size embeddings need at least one categorical field")
            return Contribution(supersedes=dropped)
        made = tuple(
            Decision(
                decision_name(SHRINK if settings.monotone and b > 0 else LOC, f"{field},{b}"),
                IntDistribution(0, settings.chunks),
                LOC,
                f"{field},{b}",
                default=0 if settings.monotone and b > 0 else settings.chunks,
            )
            for field in categorical
            for b in range(settings.buckets)
        )
        slot = Slot(LOC, MODE, tuple(d.name for d in made), None)
        return Contribution(made, slot, dropped)


SLOTS = MultiSizeSlots()


def _check_sizes(c: SlotView, settings: MultiSizeSpec, categorical: list[str]) -> None:
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
