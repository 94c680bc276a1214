"""Compile a :class:`Spec` into a :class:`SearchSpace` of named decisions.

A decision is an Optuna distribution with a name that is a dotted path into the spec, the
field or pair in brackets: ``model.embedding.dim[user_id]``,
``model.interactions.gate[user_id,item_id]``, ``train.lr``. Decisions may be conditional
(``when:``); the conditions form a DAG and decisions are ordered so that every parent is
decided before its children.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from searchengine._optuna import contains
from searchengine.errors import SpecError
from searchengine.searchspace.loader import format_path
from searchengine.spec.architecture import MODEL_ATTR, Architecture
from searchengine.spec.format import Spec

__all__ = ["ROLES", "Condition", "Decision", "SearchSpace", "Slot"]

_log = logging.getLogger(__name__)
_PRIMITIVE = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Condition:
    """``parent`` must be active and take one of ``values``."""

    parent: str
    values: tuple[Any, ...]

    def holds(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) or _num_eq(value, v) for v in self.values)


def _num_eq(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


#: What a decision decides, by the place of its slot in the spec. Strategies read a
#: decision's :attr:`Decision.role` and :attr:`Decision.key`, never its name.
ROLES: Mapping[tuple[str, ...], str] = {
    ("model", "embedding", "dim"): "dim",
    ("model", "embedding", "numerical"): "numerical",
    ("model", "embedding", "multisize"): "multisize",
    ("model", "interactions", "gate"): "gate",
    ("model", "interactions", "groups"): "membership",
    ("model", "fields", "keep"): "keep",
    ("model", "blocks"): "block",
}


@dataclass(frozen=True)
class Decision:
    """One named choice of the space.

    Attributes:
        name: the Optuna parameter name.
        distribution: the Optuna distribution it is sampled from.
        loc: the location of its slot in the spec.
        key: the field (``per: field``) or pair (``a,b``) it is for, if any.
        conditions: all must hold for the decision to be active.
        default: its value where it is inactive, or for strategies that do not search it.
        labels: for choices that are not Optuna primitives (lists), label -> value.
    """

    name: str
    distribution: BaseDistribution
    loc: tuple[Any, ...]
    key: str | None = None
    conditions: tuple[Condition, ...] = ()
    default: Any = None
    labels: tuple[tuple[str, Any], ...] = ()

    @property
    def role(self) -> str:
        """What it decides: ``dim`` (a field's width), ``numerical`` (a numerical field's
        method), ``multisize`` (a bucket's size), ``gate`` (a pair kept or not),
        ``membership`` (a field in a feature set), ``keep`` (a field kept or dropped),
        ``block`` (a part of the ``blocks`` DAG), or ``setting`` (anything else)."""
        return ROLES.get(tuple(self.loc[:3]), ROLES.get(tuple(self.loc[:2]), "setting"))

    @property
    def pair(self) -> tuple[str, str]:
        """A gate's pair of fields."""
        assert self.role == "gate" and self.key is not None, self.name
        a, b = self.key.split(",", 1)
        return a, b

    @property
    def membership(self) -> tuple[int, int, str]:
        """A membership decision's ``(order, set index, field)``."""
        assert self.role == "membership" and self.key is not None, self.name
        order, index, field = self.key.split(",", 2)
        return int(order), int(index), field

    @property
    def block(self) -> tuple[str, int]:
        """A block decision's part and block index: ``("count", -1)``, ``("type", i)``,
        ``("inputs", i)`` or ``(hyperparameter, i)``."""
        assert self.role == "block", self.name
        part = str(self.loc[2])
        return part, -1 if self.key is None else int(self.key)

    @property
    def kind(self) -> str:
        """``"float"``, ``"int"`` or ``"categorical"``."""
        if isinstance(self.distribution, FloatDistribution):
            return "float"
        if isinstance(self.distribution, IntDistribution):
            return "int"
        return "categorical"

    @property
    def choices(self) -> tuple[Any, ...]:
        """Categorical decisions: the candidate values (decoded)."""
        assert isinstance(self.distribution, CategoricalDistribution)
        return tuple(self.decode(c) for c in self.distribution.choices)

    def decode(self, param: Any) -> Any:
        """Optuna's stored value -> the spec's value."""
        for label, value in self.labels:
            if label == param:
                return value
        return param

    def encode(self, value: Any) -> Any:
        """The spec's value -> what Optuna stores."""
        for label, candidate in self.labels:
            if candidate == value:
                return label
        return value

    def contains(self, value: Any) -> bool:
        return contains(self.distribution, self.encode(value))

    def suggest(self, trial: optuna.trial.BaseTrial) -> Any:
        """Sample this decision through ``trial.suggest_*`` and return the spec's value."""
        d = self.distribution
        if isinstance(d, FloatDistribution):
            return trial.suggest_float(self.name, d.low, d.high, step=d.step, log=d.log)
        if isinstance(d, IntDistribution):
            return trial.suggest_int(self.name, d.low, d.high, step=d.step, log=d.log)
        assert isinstance(d, CategoricalDistribution)
        return self.decode(trial.suggest_categorical(self.name, d.choices))


@dataclass(frozen=True)
class Slot:
    """A place in the spec filled by decisions: one, one per field, or one per pair."""

    loc: tuple[Any, ...]
    mode: str  # "single" | "per_field" | "gate" | "multisize" | "groups" | "blocks" | "fields"
    decisions: tuple[str, ...]
    default: Any


class SearchSpace:
    """The decisions of a spec, in sampling order.

    Built by :meth:`from_spec`; strategies read :attr:`decisions`; the engine calls
    :meth:`sample` inside an Optuna trial, one-shot strategies call :meth:`fixed`.
    """

    def __init__(
        self,
        spec: Spec,
        decisions: list[Decision],
        slots: list[Slot],
        fields: list[tuple[str, str]],
    ) -> None:
        self.spec = spec
        self.decisions = list(decisions)
        self.slots = list(slots)
        self.fields = list(fields)
        self._by_name = {d.name: d for d in self.decisions}

    @classmethod
    def from_spec(cls, spec: Spec) -> SearchSpace:
        """Compile ``spec``; every problem found is raised at once.

        Raises:
            SpecError: unknown names, bad conditions, cycles, misplaced ``per: field``...
        """
        from searchengine.searchspace._compile import compile_space

        return compile_space(spec)

    # -- container protocol
    def __len__(self) -> int:
        return len(self.decisions)

    def __iter__(self) -> Iterator[Decision]:
        return iter(self.decisions)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Decision:
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.decisions]

    def kinds(self) -> set[str]:
        return {d.kind for d in self.decisions}

    @property
    def field_names(self) -> list[str]:
        return [name for name, _ in self.fields]

    def is_active(self, decision: Decision, values: Mapping[str, Any]) -> bool:
        """Whether ``decision`` exists given the values decided so far."""
        return all(c.parent in values and c.holds(values[c.parent]) for c in decision.conditions)

    def distributions(self, values: Mapping[str, Any]) -> dict[str, BaseDistribution]:
        """The distributions of the decisions that are active under ``values``."""
        return {d.name: d.distribution for d in self.decisions if d.name in values}

    def signature(self) -> dict[str, str]:
        """Decision name -> JSON of its distribution (kept with the study)."""
        return {d.name: distribution_to_json(d.distribution) for d in self.decisions}

    def defaults(self) -> dict[str, Any]:
        """The default value of every decision active under the defaults."""
        values: dict[str, Any] = {}
        for d in self.decisions:
            if self.is_active(d, values):
                values[d.name] = d.default
        return values

    # -- sampling and resolution
    def sample(self, trial: optuna.trial.BaseTrial) -> Architecture:
        """Suggest every active decision through ``trial`` and resolve the Architecture."""
        values: dict[str, Any] = {}
        for d in self.decisions:
            if self.is_active(d, values):
                values[d.name] = d.suggest(trial)
        return self._resolve(values)

    def fixed(self, values: Mapping[str, Any], *, encoded: bool = False) -> Architecture:
        """Build the Architecture of given decision values.

        Args:
            values: decision name -> value; values of inactive decisions are ignored,
                missing active decisions take their default.
            encoded: values are Optuna's stored params (e.g. ``trial.params``).

        Raises:
            SpecError: an unknown decision name or a value outside its distribution.
        """
        problems = [f"unknown decision {n!r}" for n in values if n not in self._by_name]
        chosen: dict[str, Any] = {}
        for d in self.decisions:
            if not self.is_active(d, chosen):
                continue
            value = values.get(d.name, d.default)
            if encoded and d.name in values:
                value = d.decode(value)
            if not d.contains(value):
                problems.append(f"{d.name}: {value!r} is outside {d.distribution}")
            chosen[d.name] = value
        if problems:
            raise SpecError("; ".join(problems))
        return self._resolve(chosen)

    def of_trial(self, trial: optuna.trial.FrozenTrial) -> Architecture:
        """The Architecture a recorded trial was evaluated with.

        That is ``fixed(trial.params, encoded=True)``, except where a one-shot strategy
        recorded a model no decision expresses (ESAPN's per-entity sizes): its concrete
        ``model`` section, kept in the user attribute ``searchengine:model``, replaces the
        spec's.

        Raises:
            SpecError: as :meth:`fixed`.
        """
        arch = self.fixed(trial.params, encoded=True)
        model = trial.user_attrs.get(MODEL_ATTR)
        if model is None:
            return arch
        data = arch.spec.model_dump(mode="python", by_alias=True)
        data["model"] = model
        return Architecture(Spec.model_validate(data), arch.values, arch.params)

    def _resolve(self, values: Mapping[str, Any]) -> Architecture:
        data = self.spec.model_dump(mode="python", by_alias=True)
        for slot in self.slots:
            _set(data, slot.loc, self._slot_value(slot, values))
        spec = Spec.model_validate(data)
        params = {n: self._by_name[n].encode(v) for n, v in values.items()}
        return Architecture(spec=spec, values=values, params=params)

    def _slot_value(self, slot: Slot, values: Mapping[str, Any]) -> Any:
        if slot.mode == "single":
            name = slot.decisions[0] if slot.decisions else None
            return values.get(name, slot.default) if name else slot.default
        if slot.mode == "multisize":
            from searchengine.searchspace import _multisize

            settings = self.spec.model_or_default().embedding.multisize
            defaults = {n: self._by_name[n].default for n in slot.decisions}
            return _multisize.slot_value(settings, slot, values, defaults)
        if slot.mode == "groups":
            from searchengine.searchspace import _groups

            groups = self.spec.model_or_default().interactions.groups
            defaults = {n: self._by_name[n].default for n in slot.decisions}
            return _groups.slot_value(groups, slot, values, defaults)  # type: ignore[arg-type]
        if slot.mode == "fields":
            from searchengine.searchspace import _fields

            keys = {n: str(self._by_name[n].key) for n in slot.decisions}
            return _fields.slot_value(slot, values, keys)
        if slot.mode == "blocks":
            from searchengine.searchspace import _blocks

            defaults = {n: self._by_name[n].default for n in slot.decisions}
            return _blocks.slot_value(slot.default, values, defaults)
        items = {
            self._by_name[n].key: values.get(n, self._by_name[n].default) for n in slot.decisions
        }
        if slot.mode == "per_field":
            return items
        keep = [list(key.split(",", 1)) for key, kept in items.items() if kept]
        return {"keep": keep}

    def describe(self) -> list[dict[str, Any]]:
        """One row per decision, for tables and JSON."""
        return [
            {
                "name": d.name,
                "kind": d.kind,
                "distribution": _describe_distribution(d),
                "when": {c.parent: list(c.values) for c in d.conditions} or None,
            }
            for d in self.decisions
        ]


def _describe_distribution(d: Decision) -> str:
    dist = d.distribution
    if isinstance(dist, CategoricalDistribution):
        return "choice " + json.dumps(list(d.choices))
    assert isinstance(dist, FloatDistribution | IntDistribution)
    extra = (" log" if dist.log else "") + (
        f" step {dist.step}" if dist.step not in (None, 1) else ""
    )
    return f"{d.kind} [{dist.low}, {dist.high}]{extra}"


def _set(data: Any, loc: tuple[Any, ...], value: Any) -> None:
    for part in loc[:-1]:
        data = data[part]
    data[loc[-1]] = value


def decision_name(loc: tuple[Any, ...], key: str | None = None) -> str:
    """``("model", "embedding", "dim"), "user_id"`` -> ``model.embedding.dim[user_id]``."""
    name = format_path(loc)
    return f"{name}[{key}]" if key is not None else name


def is_primitive(value: Any) -> bool:
    return isinstance(value, _PRIMITIVE)
