"""The decisions of ``model.interactions.groups`` (AutoGroup) and their concrete form.

Without ``members``, the compiler makes one keep/drop decision per order, set and field,
like ``interactions.gate: search`` makes one per field pair:

* ``model.interactions.groups[p,k,FIELD]`` -- True/False: whether ``FIELD`` joins the
  ``k``-th set of order ``p`` (default True: every field in every set).

An Architecture holds the resolved sets: ``{orders, sets, members: {p: [[FIELD, ...],
...]}}``, ``sets`` lists per order, fields in the data's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from optuna.distributions import CategoricalDistribution

from searchengine.searchspace._slots import Contribution
from searchengine.searchspace.space import Decision, Slot, decision_name

if TYPE_CHECKING:
    from searchengine.searchspace._slots import SlotView
    from searchengine.spec.format import GroupsSpec

__all__ = ["LOC", "MODE", "SLOTS", "GroupSlots", "is_group", "parse_key", "slot_value"]

LOC = ("model", "interactions", "groups")
MODE = "groups"
PREFIX = "model.interactions.groups["


def is_group(name: str) -> bool:
    """Whether a decision name is one of the group membership decisions."""
    return name.startswith(PREFIX)


def parse_key(name: str) -> tuple[int, int, str]:
    """``model.interactions.groups[3,1,age]`` -> ``(3, 1, "age")``."""
    order, index, field = name[len(PREFIX) : -1].split(",", 2)
    return int(order), int(index), field


class GroupSlots:
    """``model.interactions.groups``: one membership decision per order, set and field."""

    loc = LOC

    def contribute(self, view: SlotView) -> Contribution:
        """The membership decisions of the spec (if searched)."""
        settings = view.spec.model_or_default().interactions.groups
        if settings is None or not view.fields:
            return Contribution()
        names = view.field_names()
        if settings.members is not None:
            _check_members(view, settings, names)
            return Contribution()
        if len(names) < 2:
            view.issue(LOC, "feature groups need at least two fields")
            return Contribution()
        made = tuple(
            Decision(
                decision_name(LOC, f"{order},{index},{field}"),
                CategoricalDistribution([True, False]),
                LOC,
                f"{order},{index},{field}",
                default=True,
            )
            for order in settings.orders
            for index in range(settings.sets)
            for field in names
        )
        return Contribution(made, Slot(LOC, MODE, tuple(d.name for d in made), None))


SLOTS = GroupSlots()


def _check_members(c: SlotView, settings: GroupsSpec, names: list[str]) -> None:
    from searchengine.errors import did_you_mean

    for order, sets in (settings.members or {}).items():
        for k, fields in enumerate(sets):
            for i, name in enumerate(fields):
                if name not in names:
                    c.issue(
                        LOC + ("members", order, k, i),
                        f"no field {name!r} in the data{did_you_mean(name, names)}",
                    )


def slot_value(
    settings: GroupsSpec, slot: Slot, values: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The concrete ``groups`` section of the decided values (defaults where missing)."""
    members: dict[int, list[list[str]]] = {
        order: [[] for _ in range(settings.sets)] for order in settings.orders
    }
    for name in slot.decisions:
        order, index, field = parse_key(name)
        if values.get(name, defaults[name]):
            members[order][index].append(field)
    return {"orders": list(settings.orders), "sets": settings.sets, "members": members}
