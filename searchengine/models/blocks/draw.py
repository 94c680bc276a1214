"""A block DAG as text: the report's ``dag`` attribute, graphviz dot, mermaid.

from searchengine.models.blocks import BlocksConfig, to_mermaid
print(to_mermaid(BlocksConfig.unchecked(arch.model.blocks)))
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from searchengine.models.blocks.config import BlocksConfig

__all__ = ["dag_attr", "label", "to_dot", "to_mermaid"]


def label(graph: nx.DiGraph, name: str) -> str:
    """``b0: mlp width=64 layers=2`` for a block, the name for an input or the logit."""
    attrs = graph.nodes[name]
    if attrs.get("kind") != "block":
        return name
    settings = " ".join(f"{k}={v}" for k, v in attrs.items() if k not in ("kind", "type"))
    return f"{name}: {attrs['type']}" + (f" {settings}" if settings else "")


def dag_attr(dag: BlocksConfig) -> dict[str, Any]:
    """The trial user attribute ``dag`` the report's DAG figure reads:
    ``{"nodes": [{"id", "label"}], "edges": [[a, b], ...]}``."""
    graph = dag.graph()
    return {
        "nodes": [{"id": n, "label": label(graph, n)} for n in graph.nodes],
        "edges": [[a, b] for a, b in graph.edges],
    }


def to_dot(dag: BlocksConfig) -> str:
    """Graphviz ``dot`` source: inputs as ellipses, blocks as boxes, the logit a circle."""
    graph = dag.graph()
    shapes = {"input": "ellipse", "block": "box", "output": "doublecircle"}
    lines = ["digraph blocks {", "  rankdir=LR;"]
    for name, attrs in graph.nodes(data=True):
        text = label(graph, name).replace('"', "'")
        lines.append(f'  {name} [label="{text}", shape={shapes[attrs["kind"]]}];')
    lines += [f"  {a} -> {b};" for a, b in graph.edges]
    return "\n".join([*lines, "}"]) + "\n"


def to_mermaid(dag: BlocksConfig) -> str:
    """A mermaid ``flowchart`` (renders in GitHub markdown)."""
    graph = dag.graph()
    brackets = {"input": ("([", "])"), "block": ('["', '"]'), "output": ("((", "))")}
    lines = ["flowchart LR"]
    for name, attrs in graph.nodes(data=True):
        left, right = brackets[attrs["kind"]]
        lines.append(f"  {name}{left}{label(graph, name).replace(chr(34), chr(39))}{right}")
    lines += [f"  {a} --> {b}" for a, b in graph.edges]
    return "\n".join(lines) + "\n"
