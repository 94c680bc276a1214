"""PNG versions of the main figures, drawn with matplotlib's headless Agg backend.

Plotly's own image export needs a browser at run time (kaleido); matplotlib needs
nothing, so PNGs are made the same way everywhere, offline.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from searchengine.report._arch import (
    DagData,
    DimsData,
    EntityData,
    GateData,
    GroupsData,
    MultiSizeData,
    dag_layout,
)
from searchengine.report._fields import fields_png
from searchengine.report._search import HistoryData, HypervolumeData, ImportanceData, ParetoData

__all__ = ["PNG_RENDERERS"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)


def history_png(data: HistoryData, path: Path) -> None:
    plt = _pyplot()
    m = len(data.objectives)
    fig, axes = plt.subplots(m, 1, figsize=(8, 3.2 * m), sharex=True, squeeze=False)
    numbers = np.asarray(data.numbers)
    for j, (ax, name) in enumerate(zip(axes[:, 0], data.objectives, strict=True)):
        ax.scatter(numbers[data.feasible], data.values[data.feasible, j], s=16, label="trial")
        if (~data.feasible).any():
            ax.scatter(numbers[~data.feasible], data.values[~data.feasible, j], marker="x",
                       color="tab:red", label="infeasible")  # fmt: skip
        ax.step(numbers, data.best[:, j], where="post", color="tab:orange", label="best so far")
        ax.set_ylabel(name)
        ax.legend(loc="best", fontsize=8)
    axes[-1, 0].set_xlabel("trial")
    axes[0, 0].set_title("Optimization history")
    _save(fig, path)


def pareto_png(data: ParetoData, path: Path) -> None:
    plt = _pyplot()
    three = data.values.shape[1] == 3
    fig = plt.figure(figsize=(7, 5.5))
    ax = fig.add_subplot(projection="3d" if three else None)
    dominated, front = data.values[~data.front], data.values[data.front]
    ax.scatter(*dominated.T, color="grey", s=14, label="dominated")
    ax.scatter(*front.T, color="tab:blue", s=30, label="Pareto front")
    if not three:
        order = np.argsort(front[:, 0])
        ax.plot(front[order, 0], front[order, 1], color="tab:blue", alpha=0.5)
    numbers = np.asarray(data.numbers)
    for number, label in data.labels.items():
        point = data.values[list(numbers).index(number)]
        ax.text(*point, f" #{number} {label}", fontsize=8)
    ax.set_xlabel(data.objectives[0])
    ax.set_ylabel(data.objectives[1])
    if three:
        ax.set_zlabel(data.objectives[2])
    ax.set_title("Pareto front (feasible trials)")
    ax.legend(loc="best", fontsize=8)
    _save(fig, path)


def hypervolume_png(data: HypervolumeData, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.step(data.numbers, data.values, where="post", marker="o", markersize=3)
    ax.set_xlabel("trial")
    ax.set_ylabel("hypervolume")
    ax.set_title("Hypervolume over trials")
    _save(fig, path)


def importance_png(data: ImportanceData, path: Path) -> None:
    plt = _pyplot()
    k = len(data.importances)
    longest = max(len(s) for s in data.importances.values())
    fig, axes = plt.subplots(1, k, figsize=(6 * k, 1.2 + 0.3 * min(longest, 25)), squeeze=False)
    for ax, (objective, scores) in zip(axes[0], data.importances.items(), strict=True):
        names = sorted(scores, key=scores.__getitem__)[-25:]
        ax.barh(names, [scores[n] for n in names])
        ax.set_title(f"{objective} ({data.evaluator})", fontsize=10)
        ax.tick_params(axis="y", labelsize=7)
    _save(fig, path)


def dims_png(data: DimsData, path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, xs, label in (
        (axes[0], data.cardinality, "ids in the vocabulary"),
        (axes[1], data.frequency, "mean train rows per id"),
    ):
        ax.scatter(xs, data.dims)
        last: dict[float, tuple[float, int]] = {}  # width -> (log x of the last name, turn)
        for x, y, name in sorted(zip(xs, data.dims, data.fields, strict=True)):
            at = math.log10(max(float(x), 1e-12))
            before, turn = last.get(float(y), (-math.inf, -1))
            turn = turn + 1 if at - before < 0.35 else 0  # a neighbour's name is close by
            last[float(y)] = (at, turn)
            up = (-1) ** turn * (2 + 7 * ((turn + 1) // 2))  # above, below, further above...
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, up), textcoords="offset points",
                        va="center")  # fmt: skip
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(_pyplot().NullFormatter())  # decades only
        ax.set_xlabel(label)
    axes[0].set_yscale("log", base=2)  # the widths are powers of two, mostly
    widths = sorted({float(d) for d in data.dims})
    axes[0].set_yticks(widths, [f"{w:g}" for w in widths])
    axes[0].yaxis.set_minor_formatter(_pyplot().NullFormatter())
    axes[0].set_ylim(min(widths) / 1.6, max(widths) * 1.6)
    axes[0].set_ylabel("embedding dimension")
    fig.suptitle(f"Embedding dimension per field (trial {data.trial})")
    _save(fig, path)


def gates_png(data: GateData, path: Path) -> None:
    plt = _pyplot()
    n = len(data.fields)
    fig, ax = plt.subplots(figsize=(2 + 0.35 * n, 1.5 + 0.35 * n))
    cmap = _pyplot().get_cmap("viridis" if data.learned else "RdYlGn")
    cmap = cmap.with_extremes(bad="#e0e0e0")  # no pair: the diagonal
    image = ax.imshow(np.ma.masked_invalid(data.matrix), cmap=cmap, vmin=0)
    ax.set_xticks(range(n), data.fields, rotation=90, fontsize=7)
    ax.set_yticks(range(n), data.fields, fontsize=7)
    fig.colorbar(image, ax=ax, label="|alpha|" if data.learned else "kept")
    ax.set_title(f"Interaction gates (trial {data.trial})")
    _save(fig, path)


def entity_png(data: EntityData, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for name, (counts, sizes) in data.fields.items():
        ax.scatter(np.maximum(counts, 0.5), sizes, s=6, alpha=0.5, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("train rows of the entity")
    ax.set_ylabel("embedding size")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"Embedding size per entity (trial {data.trial})")
    _save(fig, path)


def multisize_png(data: MultiSizeData, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for name, (blocks, rows) in data.fields.items():
        ax.plot(np.maximum(rows, 1e-3), [b * data.chunk for b in blocks], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("mean train rows per id of the bucket")
    ax.set_ylabel("width (blocks x chunk)")
    ax.legend(loc="best", fontsize=7)
    ax.set_title(f"Multi-size embedding width per bucket (trial {data.trial})")
    _save(fig, path)


def groups_png(data: GroupsData, path: Path) -> None:
    plt = _pyplot()
    fields = sorted({f for sets in data.orders.values() for s in sets for f in s})
    rows = [(o, i) for o, sets in data.orders.items() for i in range(len(sets))]
    z = np.array([[f in data.orders[o][i] for f in fields] for o, i in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(2 + 0.35 * max(len(fields), 1), 1.5 + 0.35 * len(rows)))
    ax.imshow(z.reshape(len(rows), len(fields)), cmap="Greens", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(fields)), fields, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), [f"order {o}, set {i + 1}" for o, i in rows], fontsize=7)
    ax.set_title(f"Feature sets per order (trial {data.trial})")
    _save(fig, path)


def dag_png(data: DagData, path: Path) -> None:
    import networkx as nx

    plt = _pyplot()
    graph, pos = dag_layout(data)
    fig, ax = plt.subplots(figsize=(9, 4.8))
    nx.draw_networkx(graph, pos, ax=ax, labels=nx.get_node_attributes(graph, "label"),
                     node_color="#cfe2f3", node_size=900, font_size=7, arrows=True)  # fmt: skip
    ax.set_axis_off()
    ax.set_title(f"Architecture DAG (trial {data.trial})")
    _save(fig, path)


#: Figure key -> PNG renderer, for the main figures.
PNG_RENDERERS = {
    "history": history_png,
    "pareto": pareto_png,
    "hypervolume": hypervolume_png,
    "importances": importance_png,
    "dims": dims_png,
    "entity_sizes": entity_png,
    "multisize": multisize_png,
    "gates": gates_png,
    "groups": groups_png,
    "dag": dag_png,
    "fields": fields_png,
}
