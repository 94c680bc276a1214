"""The compiler from a validated Spec to a SearchSpace, with every semantic check.

Pydantic has already checked the shape of the spec; this pass checks what needs more
context: registered names (dataset, backbone, optimizer, metric, strategy), field names,
``per: field`` placement, conditions (known parents, valid values, no cycles), and
which slots a backbone actually uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import networkx as nx
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from pydantic import BaseModel

from searchengine.errors import SearchEngineError, SpecIssue, UnknownNameError, did_you_mean
from searchengine.searchspace._slots import Contribution
from searchengine.searchspace.loader import SpecSource, spec_source
from searchengine.searchspace.space import (
    Condition,
    Decision,
    SearchSpace,
    Slot,
    decision_name,
    is_primitive,
)
from searchengine.spec.expressions import ChoiceExpr, Expr, FloatExpr, IntExpr
from searchengine.spec.format import BlocksSpec, GateKeep, GroupsSpec, Spec

_log = logging.getLogger("searchengine.searchspace")

Loc = tuple[Any, ...]
# Slots only some backbones use: the backbone class attribute that says so.
_BACKBONE_SLOTS: dict[Loc, str] = {
    ("model", "interactions", "groups"): "uses_groups",
    ("model", "mlp"): "uses_mlp",
    ("model", "cross"): "uses_cross",
    ("model", "interactions"): "uses_pairs",
    ("model", "blocks"): "uses_blocks",
}
# Searched slots that are an error, not a warning, when no backbone of the spec has them.
_NEEDED: dict[str, str] = {
    "uses_pairs": "`search` needs a backbone with pairwise interactions",
    "uses_groups": "feature groups need a backbone with grouped interactions (fm, fwfm, deepfm)",
}


class _Compiler:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.source: SpecSource = spec_source(spec)
        self.issues: list[SpecIssue] = []
        self.fields: list[tuple[str, str]] = []
        self.decisions: list[Decision] = []
        self.slots: list[Slot] = []
        self.constants: dict[str, Any] = {}

    def issue(self, loc: Loc, message: str) -> None:
        self.issues.append(self.source.issue(loc, message))

    # ------------------------------------------------------------------ driver
    def run(self) -> SearchSpace:
        from searchengine.searchspace import _blocks, _checks, _fields, _groups, _multisize

        if self.spec.is_generic:
            self._walk_params()
        else:
            self.fields = _checks.declared_fields(self)
            self._walk(self.spec.model_or_default(), ("model",))
            self._add(_fields.SLOTS.contribute(self))
            self._gates()
            for kind in (_groups.SLOTS, _multisize.SLOTS, _blocks.SLOTS):
                self._add(kind.contribute(self))
            self._walk(self.spec.train, ("train",))
            _checks.check_model(self)
            self._backbone_conditions()
            self._raw_conditions()
            self._replace(_fields.SLOTS.condition(self.decisions))
        _checks.check_search(self)
        self._resolve_conditions()
        order = self._order()
        if self.issues:
            raise self.source.error(self.issues)
        decisions = [self.decisions[i] for i in order]
        return SearchSpace(self.spec, decisions, self.slots, self.fields)

    # ------------------------------------------------------------------ walking
    def _walk(self, obj: BaseModel, loc: Loc) -> None:
        for name, info in type(obj).model_fields.items():
            value = getattr(obj, name)
            here = loc + (info.alias or name,)
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if isinstance(value, Expr):
                self._expression(value, here, extra.get("per_field"))
            elif isinstance(value, GateKeep | BlocksSpec | GroupsSpec):
                continue  # concrete gates; blocks and groups have their own decisions
            elif isinstance(value, BaseModel):
                self._walk(value, here)
            elif isinstance(value, list) and any(isinstance(v, Expr) for v in value):
                for i, item in enumerate(value):
                    if isinstance(item, Expr):
                        self._expression(item, here + (i,), None)
                    else:
                        self.constants[decision_name(here + (i,))] = item
            else:
                self.constants[decision_name(here)] = value

    def _walk_params(self) -> None:
        for key, value in (self.spec.params or {}).items():
            loc = ("params", key)
            if isinstance(value, Expr):
                self._expression(value, loc, None)
            else:
                self.constants[decision_name(loc)] = value

    def field_names(self, which: str = "all") -> list[str]:
        return [n for n, kind in self.fields if which in ("all", kind)]

    def _expression(self, expr: Expr, loc: Loc, per_field: str | None) -> None:
        distribution, labels = _distribution(expr)
        conditions = tuple(
            Condition(parent, tuple(v) if isinstance(v, list) else (v,))
            for parent, v in (expr.when or {}).items()
        )
        keys: list[str | None] = [None]
        if expr.per == "field":
            if per_field is None:
                self.issue(
                    loc + ("per",),
                    "`per: field` is only valid on per-field slots "
                    "(model.embedding.dim, model.embedding.numerical)",
                )
            else:
                keys = list(self.field_names(per_field))
                if not keys and self.fields:
                    _log.warning(
                        "%s: `per: field` but the data has no %s fields; nothing to search",
                        decision_name(loc),
                        per_field,
                    )
        names = []
        for key in keys:
            decision = Decision(
                name=decision_name(loc, key),
                distribution=distribution,
                loc=loc,
                key=key,
                conditions=conditions,
                default=expr.first,
                labels=labels,
            )
            self.decisions.append(decision)
            names.append(decision.name)
        mode = "per_field" if keys != [None] else "single"
        self.slots.append(Slot(loc, mode, tuple(names), expr.first))

    def _gates(self) -> None:
        model = self.spec.model_or_default()
        if model.interactions.gate != "search":
            return
        loc = ("model", "interactions", "gate")
        names = self.field_names()
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
        if not pairs:
            self.issue(loc, "`search` needs at least two fields")
        decided = []
        for a, b in pairs:
            key = f"{a},{b}"
            decision = Decision(
                decision_name(loc, key),
                CategoricalDistribution([True, False]),
                loc,
                key,
                default=True,
            )
            self.decisions.append(decision)
            decided.append(decision.name)
        self.slots.append(Slot(loc, "gate", tuple(decided), "all"))

    # ------------------------------------------------------------------ backbones
    def backbones(self) -> tuple[Loc, list[str], bool]:
        """(location, backbone names the spec allows, whether the backbone is searched)."""
        backbone = self.spec.model_or_default().backbone
        if isinstance(backbone, ChoiceExpr):
            return ("model", "backbone"), [str(c) for c in backbone.choice], True
        return ("model", "backbone"), [str(backbone)], False

    def _backbone_conditions(self) -> None:
        from searchengine.searchspace._backbones import backbone_traits

        _, names, searched = self.backbones()
        model = self.spec.model_or_default()
        try:
            classes = {n: backbone_traits(n) for n in names}
        except UnknownNameError:
            return  # reported by the model checks
        kept: list[Decision] = []
        for d in self.decisions:
            attribute = next((a for p, a in _BACKBONE_SLOTS.items() if d.loc[: len(p)] == p), None)
            users = (
                [n for n, c in classes.items() if c.reads(attribute, model)]
                if attribute
                else _settings_users(d.loc, names, classes)
            )
            if not users:
                if attribute in _NEEDED:
                    self.issue(d.loc, f"{_NEEDED[attribute]}; {', '.join(names)} has none")
                    return
                _log.warning(
                    "%s is searched but no backbone of this spec uses it; not searched", d.name
                )
                continue
            if searched and len(users) < len(names):
                d = _restrict_backbone(d, users)
                if d is None:
                    continue
            kept.append(d)
        self._replace(kept)

    def _raw_conditions(self) -> None:
        """Decisions about the vector of a ``raw`` numerical field (its width, its pairs,
        its feature-set memberships) decide nothing: dropped where the field is raw in
        the spec, conditioned on its method decision where ``raw`` is one of its choices."""
        from searchengine.searchspace import _groups
        from searchengine.spec.vocabulary import RAW, literal_raw

        names = self.field_names("numerical")
        literal = literal_raw(self.spec.model_or_default().embedding.numerical, names)
        searched: dict[str, Decision] = {}
        for d in self.decisions:
            if d.loc == _NUMERICAL_LOC and RAW in getattr(d.distribution, "choices", ()):
                searched.update({name: d for name in ([d.key] if d.key else names)})
        if not literal and not searched:
            return
        kept: list[Decision] = []
        for d in self.decisions:
            fields = _vector_fields_of(d, _groups.LOC)
            if literal.intersection(fields):
                continue
            conditions = list(d.conditions)
            for name in fields:
                if name in searched:
                    method = searched[name]
                    others = tuple(c for c in method.distribution.choices if c != RAW)
                    conditions.append(Condition(method.name, others))
            kept.append(_with_conditions(d, tuple(conditions)) if fields else d)
        self._replace(kept)

    @property
    def compiled(self) -> Sequence[Decision]:
        """The decisions compiled so far (the slot kinds' read-only view)."""
        return tuple(self.decisions)

    def _add(self, contribution: Contribution) -> None:
        """Add what a slot kind returned: its decisions and slot, less what it supersedes."""
        if contribution.supersedes:
            self._replace([d for d in self.decisions if d.name not in contribution.supersedes])
        self.decisions.extend(contribution.decisions)
        if contribution.slot is not None:
            self.slots.append(contribution.slot)

    def _replace(self, kept: list[Decision]) -> None:
        names = {d.name for d in kept}
        self.decisions = kept
        self.slots = [
            Slot(s.loc, s.mode, tuple(n for n in s.decisions if n in names), s.default)
            for s in self.slots
        ]

    # ------------------------------------------------------------------ conditions
    def _resolve_conditions(self) -> None:
        """Check parents; fold conditions on fixed values; drop never-active decisions."""
        by_name = {d.name: d for d in self.decisions}
        kept: list[Decision] = []
        for d in self.decisions:
            conditions, alive = [], True
            for c in d.conditions:
                if c.parent in by_name:
                    parent = by_name[c.parent]
                    for v in c.values:
                        if not parent.contains(v):
                            self.issue(
                                d.loc + ("when", c.parent), f"{v!r} is not a value of {c.parent!r}"
                            )
                    conditions.append(c)
                elif c.parent in self.constants:
                    alive = alive and c.holds(self.constants[c.parent])
                else:
                    known = list(by_name) + list(self.constants)
                    self.issue(
                        d.loc + ("when",),
                        f"unknown decision {c.parent!r}{did_you_mean(c.parent, known)}",
                    )
            if alive:
                kept.append(_with_conditions(d, tuple(conditions)))
            else:
                _log.info("%s is never active (its condition is on a fixed value)", d.name)
        changed = True
        while changed:  # a child of a dropped decision can never be active either
            names = {d.name for d in kept}
            survivors = [d for d in kept if all(c.parent in names for c in d.conditions)]
            changed = len(survivors) < len(kept)
            kept = survivors
        self._replace(kept)

    def _order(self) -> list[int]:
        graph = nx.DiGraph()
        index = {d.name: i for i, d in enumerate(self.decisions)}
        graph.add_nodes_from(range(len(self.decisions)))
        for d in self.decisions:
            for c in d.conditions:
                if c.parent in index:
                    graph.add_edge(index[c.parent], index[d.name])
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            return list(nx.lexicographical_topological_sort(graph))
        path = [self.decisions[u].name for u, _ in cycle] + [self.decisions[cycle[0][0]].name]
        self.issue(
            self.decisions[cycle[0][0]].loc + ("when",),
            "conditions form a cycle: " + " -> ".join(path),
        )
        return list(range(len(self.decisions)))


def _settings_users(loc: Loc, names: list[str], classes: dict[str, Any]) -> list[str]:
    """The backbones of the spec that read ``loc``: where ``loc`` is in a section of
    ``model`` that a backbone owns (its ``settings``, e.g. ``model.dcnv2``), only its
    owners; otherwise every backbone."""
    from searchengine.spec.vocabulary import BUILTIN_BACKBONES

    if len(loc) < 2 or loc[0] != "model":
        return names
    owned = {t.settings for t in (*BUILTIN_BACKBONES.values(), *classes.values())}
    if loc[1] not in owned:
        return names
    return [n for n, c in classes.items() if c.settings == loc[1]]


def _restrict_backbone(d: Decision, users: list[str]) -> Decision | None:
    """Add (or narrow) the condition that the backbone is one that uses ``d``'s slot."""
    own = [c for c in d.conditions if c.parent == "model.backbone"]
    allowed = tuple(v for v in own[0].values if v in users) if own else tuple(users)
    if not allowed:
        _log.warning("%s is conditioned on backbones that do not use it; not searched", d.name)
        return None
    others = tuple(c for c in d.conditions if c.parent != "model.backbone")
    return _with_conditions(d, (*others, Condition("model.backbone", allowed)))


_NUMERICAL_LOC = ("model", "embedding", "numerical")
_DIM_LOC = ("model", "embedding", "dim")
_GATE_LOC = ("model", "interactions", "gate")


def _vector_fields_of(d: Decision, groups_loc: Loc) -> list[str]:
    """The fields whose vectors decision ``d`` is about: a per-field width, the two fields
    of a gated pair, the field of a feature-set membership; none for other decisions."""
    if d.key is None:
        return []
    if d.loc == _DIM_LOC:
        return [d.key]
    if d.loc == _GATE_LOC:
        return d.key.split(",", 1)
    if d.loc == groups_loc:
        return [d.key.split(",", 2)[2]]
    return []


def _with_conditions(d: Decision, conditions: tuple[Condition, ...]) -> Decision:
    return Decision(d.name, d.distribution, d.loc, d.key, conditions, d.default, d.labels)


def _distribution(expr: Expr) -> tuple[BaseDistribution, tuple[tuple[str, Any], ...]]:
    if isinstance(expr, ChoiceExpr):
        choices = list(expr.choice)
        if all(is_primitive(c) for c in choices):
            return CategoricalDistribution(choices), ()
        labels = tuple((_label(c), c) for c in choices)
        return CategoricalDistribution([lbl for lbl, _ in labels]), labels
    if isinstance(expr, IntExpr):
        return IntDistribution(expr.low, expr.high, log=expr.log, step=expr.step), ()
    assert isinstance(expr, FloatExpr)
    return FloatDistribution(expr.low, expr.high, log=expr.log, step=expr.step), ()


def _label(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def iter_choices(slot: Any) -> Iterator[tuple[Loc, Any]]:
    """The literal value of a slot, or each of its choices, with its relative location."""
    if isinstance(slot, ChoiceExpr):
        for i, value in enumerate(slot.choice):
            yield ("choice", i), value
    elif not isinstance(slot, Expr):
        yield (), slot


def compile_space(spec: Spec) -> SearchSpace:
    """Compile ``spec`` into its SearchSpace (see :meth:`SearchSpace.from_spec`)."""
    try:
        return _Compiler(spec).run()
    except SearchEngineError:
        raise
