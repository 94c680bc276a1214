"""The decisions of ``model.blocks`` (AutoCTR) and their concrete form.

Without ``nodes``, for a DAG of at most ``K`` blocks (``count``, or its high end), the
compiler makes one flat, conditional encoding that every black-box strategy searches:

* ``model.blocks.count`` -- int (or choice): how many blocks, when ``count`` is searched;
* for every block slot ``i < K``, active when ``model.blocks.count`` is one of
  ``i+1 .. K`` (always, below the fewest blocks):

  * ``model.blocks.type[i]`` -- a choice of ``types`` (when there are several);
  * ``model.blocks.inputs[i]`` -- a choice of input sets: every set of 1 to
    ``max_inputs`` of the raw inputs (``sparse``, ``dense`` with numerical fields, the
    groups) and the earlier blocks ``b0 .. b(i-1)``, as a label: ``sparse+b0``;
  * ``model.blocks.width[i]``, ``.layers[i]``, ``.fields[i]`` -- the slot's expression,
    when it is one and some type uses it, active when ``type[i]`` is a type that does.

Every assignment is a valid DAG, so no strategy can propose an invalid one: a block reads
only earlier blocks (the index order is topological: no cycle), any block can read any
other (adapters), and every block that no later block reads feeds the logit (so every
block reaches the output). The concrete form lists the blocks:
``blocks: {nodes: [{type: mlp, inputs: [sparse], width: 64, layers: 2}, ...]}``.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optuna.distributions import CategoricalDistribution

from searchengine.errors import did_you_mean
from searchengine.searchspace._slots import Contribution
from searchengine.searchspace.space import Condition, Decision, Slot, decision_name
from searchengine.spec.expressions import ChoiceExpr, Expr, IntExpr
from searchengine.spec.format import MAX_BLOCKS, BlocksSpec

if TYPE_CHECKING:
    from searchengine.searchspace._slots import SlotView

__all__ = [
    "COUNT",
    "LOC",
    "MODE",
    "Layout",
    "SLOTS",
    "BlockSlots",
    "input_label",
    "parse_inputs",
    "role",
    "slot_value",
]

_log = logging.getLogger("searchengine.searchspace")
LOC = ("model", "blocks")
MODE = "blocks"
COUNT = "model.blocks.count"
HYPERPARAMETERS = ("width", "layers", "fields")
_NAME = re.compile(r"^model\.blocks\.(\w+)\[(\d+)\]$")


@dataclass(frozen=True)
class Layout:
    """What resolving block decisions needs, fixed at compile time.

    Attributes:
        count: the literal block count, or None when it is the decision :data:`COUNT`.
        types: the types a block may take.
        uses: type -> the hyperparameters it has.
        literals: hyperparameter -> its plain value, for slots that are not searched.
        rest: the concrete settings besides ``nodes`` (groups, projected_fields).
        users: the backbones that read ``model.blocks``.
        backbone: the spec's backbone when it is not searched.
    """

    count: int | None
    types: tuple[str, ...]
    uses: tuple[tuple[str, tuple[str, ...]], ...]
    literals: tuple[tuple[str, Any], ...]
    rest: tuple[tuple[str, Any], ...]
    users: tuple[str, ...]
    backbone: str | None


def input_label(sources: Sequence[str]) -> str:
    """The label of an input set: ``["sparse", "b0"]`` -> ``"sparse+b0"``."""
    return "+".join(sources)


def parse_inputs(label: str) -> tuple[str, ...]:
    """The inputs of a label: ``"sparse+b0"`` -> ``("sparse", "b0")``."""
    return tuple(label.split("+"))


def role(name: str) -> tuple[str, int] | None:
    """``("count", -1)``, ``("type", i)``, ``("inputs", i)`` or ``(hyperparameter, i)``
    for a block decision name; None for any other decision."""
    if name == COUNT:
        return "count", -1
    match = _NAME.match(name)
    return (match.group(1), int(match.group(2))) if match else None


def input_choices(raw: Sequence[str], index: int, max_inputs: int) -> list[str]:
    """Every input set of block ``index``: 1 to ``max_inputs`` of the raw inputs and the
    earlier blocks, smaller sets first."""
    sources = [*raw, *(f"b{j}" for j in range(index))]
    return [
        input_label(c)
        for k in range(1, min(max_inputs, len(sources)) + 1)
        for c in itertools.combinations(sources, k)
    ]


class BlockSlots:
    """``model.blocks``: the block count, each block's type, inputs and settings."""

    loc = LOC

    def contribute(self, view: SlotView) -> Contribution:
        """Check ``model.blocks``; its decisions (when searched) and its slot."""
        return _contribute(view)


SLOTS = BlockSlots()


def _contribute(c: SlotView) -> Contribution:
    model = c.spec.model_or_default()
    users = _users(c)
    if model.blocks is None and not users:
        return Contribution()
    settings = model.blocks or BlocksSpec()
    uses = _check(c, settings)
    if settings.nodes is not None:
        return Contribution()
    count_values = _count_values(c, settings.count)
    made: list[Decision] = []
    if users and count_values:
        made = _decisions(c, settings, uses, count_values)
    elif not users:
        _log.info("model.blocks is searched but no backbone of this spec reads it")
    backbone = model.backbone if isinstance(model.backbone, str) else None
    layout = Layout(
        count=settings.count if isinstance(settings.count, int) else None,
        types=tuple(settings.types),
        uses=tuple((t, uses.get(t, ())) for t in settings.types),
        literals=tuple((h, _plain(getattr(settings, h))) for h in HYPERPARAMETERS),
        rest=(("groups", settings.groups), ("projected_fields", settings.projected_fields)),
        users=tuple(users),
        backbone=backbone,
    )
    return Contribution(tuple(made), Slot(LOC, MODE, tuple(d.name for d in made), layout))


def _decisions(
    c: SlotView, settings: BlocksSpec, uses: dict[str, tuple[str, ...]], counts: list[int]
) -> list[Decision]:
    from searchengine.searchspace._compile import _distribution

    made: list[Decision] = []
    if isinstance(settings.count, Expr):
        distribution, _ = _distribution(settings.count)
        made.append(Decision(COUNT, distribution, LOC + ("count",), default=settings.count.first))
    raw = (
        ["sparse"]
        + (["dense"] if c.field_names("numerical") else [])
        + list(settings.groups or {})
    )
    for i in range(max(counts)):
        alive = [n for n in counts if n > i]
        when = () if len(alive) == len(counts) else (Condition(COUNT, tuple(alive)),)
        key = str(i)
        if len(settings.types) > 1:
            types = CategoricalDistribution(list(settings.types))
            made.append(
                Decision(
                    decision_name(LOC + ("type",), key),
                    types,
                    LOC + ("type",),
                    key,
                    when,
                    settings.types[0],
                )
            )
        choices = input_choices(raw, i, settings.max_inputs)
        default = "sparse" if i == 0 else f"b{i - 1}"
        made.append(
            Decision(
                decision_name(LOC + ("inputs",), key),
                CategoricalDistribution(choices),
                LOC + ("inputs",),
                key,
                when,
                default,
            )
        )
        for hp in HYPERPARAMETERS:
            made.extend(_hyper_decision(c, settings, uses, hp, i, when))
    return made


def _hyper_decision(
    c: SlotView,
    settings: BlocksSpec,
    uses: dict[str, tuple[str, ...]],
    hp: str,
    i: int,
    when: tuple[Condition, ...],
) -> list[Decision]:
    from searchengine.searchspace._compile import _distribution

    expr = getattr(settings, hp)
    owners = tuple(t for t in settings.types if hp in uses.get(t, ()))
    if not isinstance(expr, Expr) or not owners:
        return []
    loc = LOC + (hp,)
    if expr.per is not None and i == 0:
        c.issue(loc + ("per",), "`per: field` is not valid on block settings (they are per block)")
    conditions = list(when)
    if len(settings.types) > 1 and len(owners) < len(settings.types):
        conditions.append(Condition(decision_name(LOC + ("type",), str(i)), owners))
    conditions += [
        Condition(parent, tuple(v) if isinstance(v, list) else (v,))
        for parent, v in (expr.when or {}).items()
    ]
    distribution, labels = _distribution(expr)
    name = decision_name(loc, str(i))
    return [Decision(name, distribution, loc, str(i), tuple(conditions), expr.first, labels)]


def _plain(slot: Any) -> Any:
    return slot.first if isinstance(slot, Expr) else slot


def _users(c: SlotView) -> list[str]:
    """The backbones of this spec that read ``model.blocks``."""
    from searchengine.searchspace._backbones import backbone_traits, is_backbone

    _, names, _ = c.backbones()
    return [n for n in names if is_backbone(n) and backbone_traits(n).uses_blocks]


def _count_values(c: SlotView, count: Any) -> list[int]:
    """Every block count the spec allows; an issue when one is out of range."""
    if isinstance(count, IntExpr):
        values = list(range(count.low, count.high + 1, count.step))
    elif isinstance(count, ChoiceExpr):
        values = [int(v) for v in count.choice]
    else:
        values = [int(count)]
    if max(values) > MAX_BLOCKS:
        c.issue(LOC + ("count",), f"at most {MAX_BLOCKS} blocks, got {max(values)}")
        return []
    return values


def _check(c: SlotView, settings: BlocksSpec) -> dict[str, tuple[str, ...]]:
    """Types, groups and concrete nodes; return each known type's hyperparameters."""
    from searchengine.searchspace._backbones import block_settings, block_types
    from searchengine.spec.vocabulary import unknown_block_input as unknown_input
    from searchengine.spec.vocabulary import unknown_block_type

    types = block_types()

    def unknown_type(name: str) -> str:
        return unknown_block_type(name, types)

    uses: dict[str, tuple[str, ...]] = {}
    for i, name in enumerate(settings.types):
        if name in types:
            uses[name] = block_settings(name)
        else:
            c.issue(LOC + ("types", i), unknown_type(name))
    fields = c.field_names()
    for group, members in (settings.groups or {}).items():
        if group in ("sparse", "dense") or re.fullmatch(r"b\d+", group):
            c.issue(LOC + ("groups", group), f"{group!r} names a raw input or a block")
        for name in members if c.fields else ():
            if name not in fields:
                c.issue(
                    LOC + ("groups", group),
                    f"unknown field {name!r}{did_you_mean(name, fields)}",
                )
    raw = ["sparse"] + (["dense"] if c.field_names("numerical") or not c.fields else [])
    raw += list(settings.groups or {})
    for i, node in enumerate(settings.nodes or ()):
        if node.type not in types:
            c.issue(LOC + ("nodes", i, "type"), unknown_type(node.type))
        known = raw + [f"b{j}" for j in range(i)]
        for k, name in enumerate(node.inputs):
            if name not in known:
                c.issue(LOC + ("nodes", i, "inputs", k), unknown_input(name, i, known))
    return uses


def slot_value(layout: Layout, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> Any:
    """The concrete ``blocks`` section of the decided values (defaults where missing), or
    None when the chosen backbone does not read it."""
    backbone = values.get("model.backbone", layout.backbone)
    if backbone not in layout.users:
        return None

    def value(name: str) -> Any:
        return values.get(name, defaults.get(name))

    count = layout.count if layout.count is not None else int(value(COUNT))
    uses, literals = dict(layout.uses), dict(layout.literals)
    nodes = []
    for i in range(count):
        kind = value(f"model.blocks.type[{i}]") or layout.types[0]
        node: dict[str, Any] = {
            "type": kind,
            "inputs": list(parse_inputs(value(f"model.blocks.inputs[{i}]"))),
        }
        for hp in uses.get(kind, ()):
            decided = value(f"model.blocks.{hp}[{i}]")
            node[hp] = decided if decided is not None else literals[hp]
        nodes.append(node)
    return {"nodes": nodes, **{k: v for k, v in layout.rest if v is not None}}
