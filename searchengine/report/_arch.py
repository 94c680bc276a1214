"""Figures of the chosen architecture: embedding sizes, interaction gates, groups, DAG.

Each reads one trial (the chosen one; for user attributes, else the latest completed
trial that has them) and is left out when the study has no such data. What each reads:

* ``dims``: params ``model.embedding.dim[FIELD]``; cardinality and frequency from the
  data's schema (vocabulary size, mean train count per id).
* ``entity_sizes``: user attr ``entity_sizes``: ``{field: {"sizes": [...],
  "counts": [...]}}``, one size and train count per entity (ESAPN).
* ``gates``: user attr ``gate_weights``: ``{"a,b": |alpha|}`` (learned, AutoFIS); else
  params ``model.interactions.gate[a,b]`` (kept 1 / dropped 0).
* ``groups``: user attr ``groups``: ``{"2": [["a", "b"], ...], "3": [...]}``, the field
  sets chosen for each interaction order (AutoGroup); else the sets of the trial's
  architecture (``model.interactions.groups``, any strategy).
* ``multisize``: the trial's ``model.embedding.multisize`` sizes (NIS): each field's width
  per frequency bucket against the bucket's mean train rows per id.
* ``dag``: user attr ``dag``: ``{"nodes": [{"id": "b1", "label": "mlp 64"}, ...],
  "edges": [["input", "b1"], ...]}`` (AutoCTR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from searchengine.report._context import ReportContext

__all__ = [
    "dag_data",
    "dag_figure",
    "dag_layout",
    "dims_data",
    "dims_figure",
    "entity_data",
    "entity_figure",
    "gate_data",
    "gate_figure",
    "groups_data",
    "groups_figure",
    "multisize_data",
    "multisize_figure",
]

DIM_PREFIX, GATE_PREFIX = "model.embedding.dim[", "model.interactions.gate["


def _key(param: str, prefix: str) -> str:
    return param[len(prefix) : -1]


@dataclass
class DimsData:
    trial: int
    fields: list[str]
    dims: list[int]
    cardinality: list[int]
    frequency: list[float]  # mean train occurrences per id


def dims_data(ctx: ReportContext) -> DimsData | None:
    trial = ctx.chosen
    if trial is None or not any(p.startswith(DIM_PREFIX) for p in trial.params):
        return None
    schema = ctx.schema
    if schema is None:
        return None
    rows = []
    for param, value in trial.params.items():
        name = _key(param, DIM_PREFIX) if param.startswith(DIM_PREFIX) else None
        if name is None or name not in schema.names:
            continue
        info = schema.field(name)
        if not info.is_categorical:
            continue
        total = float(info.counts.sum()) if info.counts is not None else 0.0
        rows.append((name, int(value), int(info.vocab_size), total / max(info.vocab_size, 1)))
    if not rows:
        return None
    names, dims, card, freq = (list(c) for c in zip(*rows, strict=True))
    return DimsData(trial.number, names, dims, card, freq)


#: Above this many fields the dims figure names its points on hover only (printed names
#: of fields at the same width overlap).
DIMS_LABELS = 12


def dims_figure(data: DimsData) -> go.Figure:
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("against cardinality", "against frequency")
    )
    named = len(data.fields) <= DIMS_LABELS
    for col, xs, title in (
        (1, data.cardinality, "ids in the vocabulary (log)"),
        (2, data.frequency, "mean train rows per id (log)"),
    ):
        fig.add_trace(
            go.Scatter(
                x=xs, y=data.dims, mode="markers+text" if named else "markers",
                text=data.fields if named else None, hovertext=data.fields,
                textposition=label_positions(data.dims) if named else None,
                hovertemplate="%{hovertext}: width %{y}, %{x:,.3g}<extra></extra>",
                showlegend=False,
            ),
            row=1, col=col,
        )  # fmt: skip
        # decades only: the minor ticks of a log axis print unreadable digits
        fig.update_xaxes(type="log", dtick=1, title_text=title, row=1, col=col)
    fig.update_yaxes(title_text="embedding dimension", row=1, col=1)
    fig.update_layout(
        title=f"Embedding dimension per field (trial {data.trial})",
        height=460,
        margin={"l": 70, "r": 40, "t": 80, "b": 60},
    )
    return fig


def label_positions(dims: list[int] | list[float]) -> list[str]:
    """Where each point's name goes: points at the same width take turns above, below,
    right and left, so that their names do not print over each other."""
    turns = ("top center", "bottom center", "middle right", "middle left")
    seen: dict[float, int] = {}
    out = []
    for dim in dims:
        k = seen.get(float(dim), 0)
        seen[float(dim)] = k + 1
        out.append(turns[k % len(turns)])
    return out


#: Above this many points a scatter plot is drawn with WebGL instead of SVG.
_SVG_POINTS = 20_000


@dataclass
class EntityData:
    trial: int
    fields: dict[str, tuple[list[float], list[float]]]  # field -> (counts, sizes)


def entity_data(ctx: ReportContext) -> EntityData | None:
    found = ctx.trial_attr("entity_sizes")
    if found is None or not isinstance(found[1], dict):
        return None
    fields = {
        str(name): (list(map(float, v["counts"])), list(map(float, v["sizes"])))
        for name, v in found[1].items()
        if isinstance(v, dict) and len(v.get("counts", ())) == len(v.get("sizes", ()))
    }
    return EntityData(found[0].number, fields) if fields else None


def entity_figure(data: EntityData) -> go.Figure:
    fig = go.Figure()
    points = sum(len(counts) for counts, _ in data.fields.values())
    trace = go.Scattergl if points > _SVG_POINTS else go.Scatter  # WebGL for very many ids
    for name, (counts, sizes) in data.fields.items():
        fig.add_trace(trace(x=counts, y=sizes, mode="markers", name=name))
    fig.update_xaxes(type="log", title_text="train rows of the entity (log)")
    fig.update_layout(
        title=f"Embedding size per entity against its frequency (trial {data.trial})",
        yaxis_title="embedding size",
        height=460,
    )
    return fig


@dataclass
class GateData:
    trial: int
    fields: list[str]
    matrix: np.ndarray  # (F, F), NaN where no pair
    learned: bool  # |alpha| (True) or kept/dropped (False)


def gate_data(ctx: ReportContext) -> GateData | None:
    found = ctx.trial_attr("gate_weights")
    if found is not None and isinstance(found[1], dict) and found[1]:
        pairs = {str(k): abs(float(v)) for k, v in found[1].items()}
        return _gate_matrix(found[0].number, pairs, learned=True)
    trial = ctx.chosen
    if trial is None:
        return None
    pairs = {
        _key(p, GATE_PREFIX): float(bool(v))
        for p, v in trial.params.items()
        if p.startswith(GATE_PREFIX)
    }
    return _gate_matrix(trial.number, pairs, learned=False) if pairs else None


def _gate_matrix(trial: int, pairs: dict[str, float], *, learned: bool) -> GateData | None:
    fields: list[str] = []
    for key in pairs:
        for name in key.split(",", 1):
            if name not in fields:
                fields.append(name)
    index = {name: i for i, name in enumerate(fields)}
    matrix = np.full((len(fields), len(fields)), np.nan)
    for key, value in pairs.items():
        a, _, b = key.partition(",")
        if not b:
            continue
        matrix[index[a], index[b]] = matrix[index[b], index[a]] = value
    return GateData(trial, fields, matrix, learned)


def gate_figure(data: GateData) -> go.Figure:
    what = "learned |alpha|" if data.learned else "kept (1) or dropped (0)"
    fig = go.Figure(
        go.Heatmap(z=data.matrix, x=data.fields, y=data.fields, zmin=0,
                   colorscale="Viridis" if data.learned else [[0, "#d9534f"], [1, "#2e7d32"]],
                   colorbar={"title": "|alpha|" if data.learned else "kept"})
    )  # fmt: skip
    fig.update_layout(
        title=f"Interaction gates, field x field: {what} (trial {data.trial})",
        height=max(420, 24 * len(data.fields) + 200),
        yaxis={"autorange": "reversed"},
    )
    return fig


@dataclass
class GroupsData:
    trial: int
    orders: dict[str, list[list[str]]]


def groups_data(ctx: ReportContext) -> GroupsData | None:
    found = ctx.trial_attr("groups")
    if found is None or not isinstance(found[1], dict):
        trial = ctx.chosen
        arch = ctx.architecture(trial) if trial is not None else None
        groups = arch.model.interactions.groups if arch is not None else None
        if trial is None or groups is None or groups.members is None:
            return None
        found = (trial, {str(p): sets for p, sets in sorted(groups.members.items())})
    orders = {
        str(order): [[str(f) for f in s] for s in sets]
        for order, sets in found[1].items()
        if isinstance(sets, list)
    }
    return GroupsData(found[0].number, orders) if orders else None


def groups_figure(data: GroupsData) -> go.Figure:
    fields = sorted({f for sets in data.orders.values() for s in sets for f in s})
    rows = [(order, i) for order, sets in data.orders.items() for i in range(len(sets))]
    z = [[1.0 if f in data.orders[o][i] else 0.0 for f in fields] for o, i in rows]
    labels = [f"order {o}, set {i + 1}" for o, i in rows]
    fig = go.Figure(go.Heatmap(z=z, x=fields, y=labels, colorscale="Greens", showscale=False))
    fig.update_layout(
        title=f"Feature sets per interaction order (trial {data.trial})",
        height=max(360, 28 * len(rows) + 200),
        yaxis={"autorange": "reversed"},
    )
    return fig


@dataclass
class MultiSizeData:
    trial: int
    chunk: int
    fields: dict[str, tuple[list[int], list[float]]]  # field -> (blocks, mean rows per id)


def multisize_data(ctx: ReportContext) -> MultiSizeData | None:
    trial = ctx.chosen
    arch = ctx.architecture(trial) if trial is not None else None
    multisize = arch.model.embedding.multisize if arch is not None else None
    schema = ctx.schema
    if trial is None or multisize is None or multisize.sizes is None or schema is None:
        return None
    from searchengine.models.embedding.multisize import bucket_of_ids

    fields = {}
    for name, blocks in multisize.sizes.items():
        if name not in schema.names:
            continue
        info = schema.field(name)
        counts = np.asarray(info.counts if info.counts is not None else np.ones(info.vocab_size))
        bucket = bucket_of_ids(info.counts, info.vocab_size, multisize.buckets)
        rows = [float(counts[bucket == b].mean()) if (bucket == b).any() else 0.0
                for b in range(multisize.buckets)]  # fmt: skip
        fields[name] = (list(blocks), rows)
    return MultiSizeData(trial.number, multisize.chunk, fields) if fields else None


def multisize_figure(data: MultiSizeData) -> go.Figure:
    fig = go.Figure()
    for name, (blocks, rows) in data.fields.items():
        widths = [b * data.chunk for b in blocks]
        labels = [f"bucket {i}" for i in range(len(rows))]
        fig.add_trace(go.Scatter(x=rows, y=widths, name=name, mode="lines+markers", text=labels))
    fig.update_xaxes(type="log", title_text="mean train rows per id of the bucket (log)")
    fig.update_layout(
        title=f"Multi-size embedding width per frequency bucket (trial {data.trial}; 0: one "
        "shared vector)",
        yaxis_title="width (blocks x chunk)",
        height=460,
    )
    return fig


@dataclass
class DagData:
    trial: int
    nodes: list[dict[str, Any]]
    edges: list[tuple[str, str]]


def dag_data(ctx: ReportContext) -> DagData | None:
    found = ctx.trial_attr("dag")
    if found is None or not isinstance(found[1], dict):
        return None
    nodes = [n if isinstance(n, dict) else {"id": str(n)} for n in found[1].get("nodes", [])]
    edges = [(str(a), str(b)) for a, b in found[1].get("edges", [])]
    return DagData(found[0].number, nodes, edges) if nodes else None


def dag_layout(data: DagData) -> tuple[Any, dict[str, Any]]:
    """The DAG as a networkx graph (``label`` node attributes) and node positions in
    layers of its topological generations, inputs left, logit right."""
    import networkx as nx

    graph = nx.DiGraph()
    for node in data.nodes:
        graph.add_node(str(node["id"]), label=str(node.get("label", node["id"])))
    graph.add_edges_from(data.edges)
    for layer, names in enumerate(nx.topological_generations(graph)):
        for name in names:
            graph.nodes[name]["layer"] = layer
    return graph, nx.multipartite_layout(graph, subset_key="layer")


def dag_figure(data: DagData) -> go.Figure:
    graph, pos = dag_layout(data)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in graph.edges:
        xs += [pos[a][0], pos[b][0], None]
        ys += [pos[a][1], pos[b][1], None]
    names = list(graph.nodes)
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#888"}, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(x=[pos[n][0] for n in names], y=[pos[n][1] for n in names],
                   mode="markers+text", text=[graph.nodes[n].get("label", n) for n in names],
                   textposition="top center", marker={"size": 16})
    )  # fmt: skip
    fig.update_layout(title=f"Architecture DAG (trial {data.trial})", showlegend=False,
                      xaxis={"visible": False}, yaxis={"visible": False}, height=480)  # fmt: skip
    return fig
