"""Figures of the search itself: history, Pareto front, hypervolume, importances.

Each ``*_data(ctx)`` returns what its figure shows, or None when the study has nothing
for it (the figure is then left out); ``*_figure(data)`` draws it with plotly.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from searchengine._optuna import HYPERVOLUME_ATTR, HYPERVOLUME_REF_ATTR
from searchengine.report._context import ReportContext
from searchengine.report._pareto import hypervolume_history, knee, pareto_mask

__all__ = [
    "HistoryData",
    "ImportanceData",
    "ParetoData",
    "history_data",
    "history_figure",
    "hypervolume_data",
    "hypervolume_figure",
    "importance_data",
    "importance_figure",
    "pareto_data",
    "pareto_figure",
]

_log = logging.getLogger(__name__)
# What `searchengine run` stores with the study beside result.json's hypervolume:
# {"value": ..., "reference_point": [...]}; the curve then ends at that value.


@dataclass
class HistoryData:
    """Per objective: each completed trial's value and the best feasible value so far."""

    objectives: list[str]
    numbers: list[int]
    values: np.ndarray  # (n, m), the objectives' own units
    feasible: np.ndarray  # (n,) bool
    best: np.ndarray  # (n, m) best feasible so far (NaN before the first)


def history_data(ctx: ReportContext) -> HistoryData | None:
    done = ctx.complete()
    if not done:
        ctx.notes.append("history: no completed trial yet")
        return None
    values = np.array([t.values for t in done], dtype=np.float64)
    feasible = np.array([ctx.feasible(t) for t in done])
    best = np.full_like(values, np.nan)
    running = np.full(values.shape[1], np.inf)
    for i, row in enumerate(values * ctx.signs):
        if feasible[i]:
            running = np.minimum(running, row)
        best[i] = np.where(np.isfinite(running), running * ctx.signs, np.nan)
    return HistoryData(ctx.objectives, [t.number for t in done], values, feasible, best)


def history_figure(data: HistoryData) -> go.Figure:
    m = len(data.objectives)
    fig = make_subplots(rows=m, cols=1, shared_xaxes=True, subplot_titles=data.objectives)
    for j, name in enumerate(data.objectives):
        for ok, label, symbol in ((True, "feasible", "circle"), (False, "infeasible", "x")):
            mask = data.feasible == ok
            if not mask.any():
                continue
            fig.add_trace(
                go.Scatter(
                    x=np.asarray(data.numbers)[mask],
                    y=data.values[mask, j],
                    mode="markers",
                    marker={"symbol": symbol, "color": "#1f77b4" if ok else "#d62728"},
                    name=f"{name}: {label}",
                ),
                row=j + 1,
                col=1,
            )
        fig.add_trace(
            go.Scatter(
                x=data.numbers,
                y=data.best[:, j],
                mode="lines",
                line={"shape": "hv", "color": "#ff7f0e"},
                name=f"{name}: best so far",
            ),
            row=j + 1,
            col=1,
        )
    fig.update_xaxes(title_text="trial", row=m, col=1)
    fig.update_layout(height=320 * m, title="Optimization history")
    return fig


@dataclass
class ParetoData:
    """The feasible trials of a 2- or 3-objective study and their front."""

    objectives: list[str]
    numbers: list[int]
    values: np.ndarray  # (n, m) feasible trials, own units
    front: np.ndarray  # (n,) bool
    labels: dict[int, str] = field(default_factory=dict)  # trial number -> trade-off label
    infeasible: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))


def pareto_data(ctx: ReportContext) -> ParetoData | None:
    if len(ctx.signs) not in (2, 3):
        return None
    done = ctx.complete()
    feasible = [t for t in done if ctx.feasible(t)]
    if not feasible:
        ctx.notes.append("Pareto front: no feasible completed trial yet")
        return None
    values = np.array([t.values for t in feasible], dtype=np.float64)
    numbers = [t.number for t in feasible]
    front = pareto_mask(values * ctx.signs)
    names: dict[int, list[str]] = {}
    front_idx = np.flatnonzero(front)
    for j, name in enumerate(ctx.objectives):
        best = front_idx[np.argmin(values[front_idx, j] * ctx.signs[j])]
        names.setdefault(numbers[best], []).append(f"best {name}")
    middle = front_idx[knee(values[front_idx] * ctx.signs)]
    names.setdefault(numbers[middle], []).append("knee")
    if ctx.chosen is not None and ctx.chosen.number in numbers:
        names.setdefault(ctx.chosen.number, []).append("shown")
    labels = {n: ", ".join(parts) for n, parts in names.items()}
    bad = np.array([t.values for t in done if not ctx.feasible(t)], dtype=np.float64)
    return ParetoData(
        ctx.objectives, numbers, values, front, labels, bad.reshape(-1, len(ctx.signs))
    )


def pareto_figure(data: ParetoData) -> go.Figure:
    three = data.values.shape[1] == 3
    scatter = go.Scatter3d if three else go.Scatter
    axes = ("x", "y", "z")[: data.values.shape[1]]

    def trace(points: np.ndarray, **kwargs: Any) -> Any:
        return scatter(**{a: points[:, i] for i, a in enumerate(axes)}, **kwargs)

    numbers = np.asarray(data.numbers)
    fig = go.Figure()
    fig.add_trace(
        trace(data.values[~data.front], mode="markers", name="dominated",
              marker={"color": "#9e9e9e"}, text=[f"#{n}" for n in numbers[~data.front]])
    )  # fmt: skip
    if len(data.infeasible):
        fig.add_trace(trace(data.infeasible, mode="markers", name="infeasible",
                            marker={"color": "#d62728", "symbol": "x"}))  # fmt: skip
    order = np.argsort(data.values[data.front][:, 0])
    front = data.values[data.front][order]
    text = [f"#{n} {data.labels.get(n, '')}".strip() for n in numbers[data.front][order]]
    fig.add_trace(
        trace(front, mode="markers+lines+text" if not three else "markers+text",
              name="Pareto front", text=text, textposition="top center",
              marker={"color": "#1f77b4", "size": 9})
    )  # fmt: skip
    titles = {f"{a}axis_title": name for a, name in zip(axes, data.objectives, strict=True)}
    if three:
        fig.update_layout(scene=titles)
    else:
        fig.update_layout(xaxis_title=data.objectives[0], yaxis_title=data.objectives[1])
    fig.update_layout(title="Pareto front (feasible trials)", height=520)
    return fig


@dataclass
class HypervolumeData:
    numbers: list[int]
    values: np.ndarray
    reference: list[float]
    reference_source: str


def hypervolume_data(ctx: ReportContext) -> HypervolumeData | None:
    """Hypervolume of the feasible front after each completed trial."""
    if len(ctx.signs) < 2:
        return None
    feasible = [t for t in ctx.complete() if ctx.feasible(t)]
    if not feasible:
        return None
    points = np.array([t.values for t in feasible], dtype=np.float64) * ctx.signs
    given, source = _reference(ctx)
    if given is not None:
        reference = np.asarray(given, dtype=np.float64) * ctx.signs
    else:
        reference, source = points.max(axis=0), "the worst feasible value of each objective"
    history = hypervolume_history(points, reference)
    return HypervolumeData(
        [t.number for t in feasible], history, list(reference * ctx.signs), source
    )


def _reference(ctx: ReportContext) -> tuple[list[float] | None, str]:
    """A reference point given with the study, in the objectives' own units."""
    m = len(ctx.signs)
    given = ctx.study.user_attrs.get(HYPERVOLUME_REF_ATTR)
    if isinstance(given, list | tuple) and len(given) == m:
        return [float(v) for v in given], HYPERVOLUME_REF_ATTR
    stored = ctx.study.user_attrs.get(HYPERVOLUME_ATTR)
    point = stored.get("reference_point") if isinstance(stored, dict) else None
    if isinstance(point, list | tuple) and len(point) == m:
        return [float(v) for v in point], "the reference point of result.json"
    return None, ""


def hypervolume_figure(data: HypervolumeData) -> go.Figure:
    fig = go.Figure(
        go.Scatter(x=data.numbers, y=data.values, mode="lines+markers", line={"shape": "hv"})
    )
    ref = ", ".join(f"{v:.4g}" for v in data.reference)
    fig.update_layout(
        title=f"Hypervolume over trials (reference point ({ref}): {data.reference_source})",
        xaxis_title="trial",
        yaxis_title="hypervolume",
        height=400,
    )
    return fig


@dataclass
class ImportanceData:
    evaluator: str
    importances: dict[str, dict[str, float]]  # objective -> param -> importance


def importance_data(ctx: ReportContext) -> ImportanceData | None:
    """Optuna's parameter importances for each objective (fANOVA, else PED-ANOVA)."""
    done = ctx.complete()
    varied = {n for n in {k for t in done for k in t.params} if _varies(done, n)}
    if len(done) < 2 or not varied:
        ctx.notes.append("importances: need 2 completed trials with a parameter that varies")
        return None
    evaluator, name = _importance_evaluator()
    out: dict[str, dict[str, float]] = {}
    for j, objective in enumerate(ctx.objectives):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = optuna.importance.get_param_importances(
                    ctx.study, evaluator=evaluator, target=lambda t, j=j: t.values[j]
                )
        except (RuntimeError, ValueError, ZeroDivisionError) as exc:
            ctx.notes.append(f"importances of {objective}: {exc}")
            continue
        out[objective] = {k: float(v) for k, v in scores.items()}
    return ImportanceData(name, out) if out else None


def _varies(trials: list[Any], name: str) -> bool:
    return len({repr(t.params.get(name)) for t in trials}) > 1


def _importance_evaluator() -> tuple[Any, str]:
    try:
        import sklearn  # noqa: F401  (fANOVA fits a random forest)
    except ImportError:
        return optuna.importance.PedAnovaImportanceEvaluator(), "PED-ANOVA"
    return optuna.importance.FanovaImportanceEvaluator(seed=0), "fANOVA"


def importance_figure(data: ImportanceData) -> go.Figure:
    fig = go.Figure()
    for objective, scores in data.importances.items():
        names = sorted(scores, key=scores.__getitem__)[-25:]
        fig.add_trace(
            go.Bar(x=[scores[n] for n in names], y=names, orientation="h", name=objective)
        )
    height = 200 + 22 * max(len(s) for s in data.importances.values()) * len(data.importances)
    fig.update_layout(
        title=f"Parameter importances ({data.evaluator})",
        xaxis_title="importance",
        barmode="group",
        height=min(height, 1400),
    )
    return fig
