"""A concrete block DAG (``model.blocks.nodes``), resolved and checked against a schema.

The raw inputs of a DAG are ``sparse`` (every field's embedding, ``fields``), ``dense``
(the numerical values, ``(B, N)``; only with numerical fields) and each named group of
``model.blocks.groups`` (its fields' embeddings). Block ``i`` is named ``b<i>`` and reads
raw inputs and earlier blocks only, so the index order is a topological order and no
DAG has a cycle. Every block that no later block reads feeds the logit (the last block
always does), so every block reaches the output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import networkx as nx

from searchengine.data.schema import DataSchema
from searchengine.errors import SpecIssue, did_you_mean
from searchengine.models.blocks.base import BLOCKS
from searchengine.spec.format import BlockNode, BlocksSpec
from searchengine.spec.vocabulary import block_name, unknown_block_type
from searchengine.spec.vocabulary import unknown_block_input as unknown_input

__all__ = [
    "HYPERPARAMETERS",
    "LOGIT",
    "BlocksConfig",
    "NodeConfig",
    "block_name",
    "raw_inputs",
    "unknown_input",
    "unknown_type",
]

LOGIT = "logit"
#: The settings a block may have: the ``model.blocks`` slots of the same names.
HYPERPARAMETERS = ("width", "layers", "fields")
_PATH = "model.blocks"


@dataclass(frozen=True)
class NodeConfig:
    """One block: its registered type, its inputs, its hyperparameters (read-only)."""

    type: str
    inputs: tuple[str, ...]
    hyper: MappingProxyType[str, int]


@dataclass(frozen=True)
class BlocksConfig:
    """A checked block DAG.

    Attributes:
        nodes: the blocks in index (topological) order.
        groups: group name -> its fields.
        projected_fields: ``F'`` of the ``dense -> fields`` adapter.
    """

    nodes: tuple[NodeConfig, ...]
    groups: MappingProxyType[str, tuple[str, ...]]
    projected_fields: int

    @classmethod
    def resolve(
        cls, spec: BlocksSpec | None, schema: DataSchema, issues: list[SpecIssue]
    ) -> BlocksConfig | None:
        """The DAG of a concrete ``model.blocks``, or None when it has no ``nodes``;
        every problem is appended to ``issues``."""
        if spec is None or spec.nodes is None:
            return None
        groups = _resolve_groups(spec, schema, issues)
        sources = raw_inputs(schema, groups)
        nodes = []
        for i, node in enumerate(spec.nodes):
            path = f"{_PATH}.nodes[{i}]"
            if node.type not in BLOCKS:
                issues.append(SpecIssue(f"{path}.type", unknown_type(node.type)))
                continue
            known = sources + [block_name(j) for j in range(i)]
            for name in node.inputs:
                if name not in known:
                    issues.append(SpecIssue(f"{path}.inputs", unknown_input(name, i, known)))
            if len(set(node.inputs)) < len(node.inputs):
                issues.append(
                    SpecIssue(f"{path}.inputs", f"an input is listed twice: {node.inputs}")
                )
            hyper = _hyperparameters(node, spec, path, issues)
            nodes.append(NodeConfig(node.type, tuple(node.inputs), MappingProxyType(hyper)))
        if not spec.nodes:
            issues.append(SpecIssue(f"{_PATH}.nodes", "a DAG needs at least one block"))
        frozen = MappingProxyType({k: tuple(v) for k, v in groups.items()})
        return cls(tuple(nodes), frozen, spec.projected_fields)

    @classmethod
    def unchecked(cls, spec: BlocksSpec) -> BlocksConfig:
        """The DAG of a concrete ``model.blocks`` as written: no schema, no checks (to
        draw one)."""
        nodes = tuple(
            NodeConfig(
                n.type,
                tuple(n.inputs),
                MappingProxyType({k: v for k in HYPERPARAMETERS if (v := getattr(n, k))}),
            )
            for n in spec.nodes or ()
        )
        groups = MappingProxyType({k: tuple(v) for k, v in (spec.groups or {}).items()})
        return cls(nodes, groups, spec.projected_fields)

    def read_inputs(self) -> list[str]:
        """The raw inputs some block reads, in the order of :func:`raw_inputs`."""
        read = {name for node in self.nodes for name in node.inputs}
        return [n for n in ("sparse", "dense", *self.groups) if n in read]

    def embedded_fields(self, schema: DataSchema) -> list[str]:
        """The fields whose embedding a block reads (through sparse or a group)."""
        read = set(self.read_inputs())
        if "sparse" in read:
            return schema.names
        wanted = {f for g in read if g in self.groups for f in self.groups[g]}
        return [name for name in schema.names if name in wanted]

    def consumed(self) -> set[str]:
        """Names some block reads."""
        return {name for node in self.nodes for name in node.inputs}

    def dangling(self) -> list[str]:
        """The blocks no later block reads: together they feed the logit."""
        read = self.consumed()
        return [block_name(i) for i in range(len(self.nodes)) if block_name(i) not in read]

    def graph(self) -> nx.DiGraph:
        """The DAG: raw inputs read, blocks (``type`` and hyperparameters as node
        attributes) and the ``logit``; an edge for every input and every dangling block."""
        g = nx.DiGraph()
        for name in self.read_inputs():
            g.add_node(name, kind="input")
        for i, node in enumerate(self.nodes):
            g.add_node(block_name(i), kind="block", type=node.type, **dict(node.hyper))
            g.add_edges_from((src, block_name(i)) for src in node.inputs)
        g.add_node(LOGIT, kind="output")
        g.add_edges_from((b, LOGIT) for b in self.dangling())
        return g


def raw_inputs(schema: DataSchema, groups: Mapping[str, object]) -> list[str]:
    """The raw inputs a DAG may read: sparse, dense (with numerical fields), the groups."""
    return ["sparse"] + (["dense"] if schema.numerical else []) + list(groups)


def unknown_type(name: str) -> str:
    """The message for an unregistered block type, with the closest match."""
    return unknown_block_type(name, BLOCKS.names())


def _hyperparameters(
    node: BlockNode, spec: BlocksSpec, path: str, issues: list[SpecIssue]
) -> dict[str, int]:
    """The node's settings; one left out takes the spec's plain value of that slot."""
    uses = BLOCKS.get(node.type).hyperparameters
    hyper: dict[str, int] = {}
    for name in HYPERPARAMETERS:
        value = getattr(node, name)
        if name not in uses:
            if value is not None:
                has = ", ".join(uses) or "none"
                issues.append(
                    SpecIssue(f"{path}.{name}", f"not a setting of {node.type} (it has: {has})")
                )
            continue
        default = getattr(spec, name)
        if value is None and not isinstance(default, int):
            issues.append(SpecIssue(f"{path}.{name}", f"required for {node.type}"))
            continue
        hyper[name] = int(value if value is not None else default)
    return hyper


def _resolve_groups(
    spec: BlocksSpec, schema: DataSchema, issues: list[SpecIssue]
) -> dict[str, list[str]]:
    groups = dict(spec.groups or {})
    names = schema.names
    for group, fields in groups.items():
        path = f"{_PATH}.groups.{group}"
        if group in ("sparse", "dense") or (group[1:].isdigit() and group[0] == "b"):
            issues.append(SpecIssue(path, f"{group!r} names a raw input or a block"))
        if not fields:
            issues.append(SpecIssue(path, "a group needs at least one field"))
        for name in fields:
            if name not in names:
                issues.append(
                    SpecIssue(path, f"unknown field {name!r}{did_you_mean(name, names)}")
                )
    return groups
