"""The decisions of ``model.fields.keep`` (field selection, AutoField) and their form.

``keep: search`` makes one keep/drop decision per field of the data, like
``interactions.gate: search`` makes one per field pair:

* ``model.fields.keep[FIELD]`` -- True/False: whether the model reads ``FIELD`` (default
  True: every field kept). The decisions about the field's vector (its width, numerical
  method, gated pairs, feature-set memberships) are conditioned on it being kept.

An Architecture holds the kept fields as a list in the data's order, or ``all`` where
every field is kept. ``keep: [a, b]`` is checked here: every name a field of the data,
at least one field kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from optuna.distributions import CategoricalDistribution

from searchengine.errors import did_you_mean
from searchengine.searchspace._slots import Contribution
from searchengine.searchspace.space import Condition, Decision, Slot, decision_name

if TYPE_CHECKING:
    from searchengine.searchspace._slots import SlotView

__all__ = ["LOC", "MODE", "SLOTS", "FieldSlots", "slot_value"]

LOC = ("model", "fields", "keep")
MODE = "fields"
_NUMERICAL = ("model", "embedding", "numerical")


class FieldSlots:
    """``model.fields.keep``: one keep/drop decision per field when searched."""

    loc = LOC

    def contribute(self, view: SlotView) -> Contribution:
        """The keep decisions of the spec (if searched), or a check of the fields it lists."""
        keep = view.spec.model_or_default().fields.keep
        if keep == "all" or not view.fields:
            return Contribution()
        names = view.field_names()
        if isinstance(keep, list):
            _check_list(view, keep, names)
            return Contribution()
        made = tuple(
            Decision(
                decision_name(LOC, field),
                CategoricalDistribution([True, False]),
                LOC,
                field,
                default=True,
            )
            for field in names
        )
        return Contribution(made, Slot(LOC, MODE, tuple(d.name for d in made), "all"))

    def condition(self, decisions: Sequence[Decision]) -> list[Decision]:
        """``decisions`` with those about one field's vector or method (its width,
        numerical method, a gated pair, a feature-set membership) conditioned on the field
        being kept."""
        from searchengine.searchspace import _groups
        from searchengine.searchspace._compile import _vector_fields_of, _with_conditions

        keeps = {str(d.key): d.name for d in decisions if d.loc == LOC}
        if not keeps:
            return list(decisions)
        kept = []
        for d in decisions:
            fields = _vector_fields_of(d, _groups.LOC)
            if d.loc == _NUMERICAL and d.key is not None:
                fields = [d.key]
            extra = tuple(Condition(keeps[f], (True,)) for f in fields if f in keeps)
            kept.append(_with_conditions(d, d.conditions + extra) if extra else d)
        return kept


SLOTS = FieldSlots()


def _check_list(c: SlotView, keep: list[str], names: list[str]) -> None:
    if not keep:
        c.issue(LOC, "keep at least one field (or `all`)")
    for i, name in enumerate(keep):
        if name not in names:
            c.issue(LOC + (i,), f"no field {name!r} in the data{did_you_mean(name, names)}")
        elif name in keep[:i]:
            c.issue(LOC + (i,), f"field {name!r} is listed twice")


def slot_value(slot: Slot, values: Mapping[str, Any], keys: Mapping[str, str]) -> Any:
    """The kept fields of the decided values (a decision missing: kept), ``all`` where
    every field is kept."""
    kept = [keys[name] for name in slot.decisions if values.get(name, True)]
    return "all" if len(kept) == len(slot.decisions) else kept
