"""The "Field selection" figure: which fields the chosen trial keeps, and why.

It reads the chosen trial's params ``model.fields.keep[FIELD]`` (kept or dropped, any
strategy) and, where a one-shot strategy recorded one, a score per field: user attr
``field_keep`` (``{field: P(keep)}``, the differentiable strategy's AutoField gates) or
``field_importance`` (``{field: validation AUC drop when shuffled}``, ``fieldperm``).
Without a score the bars are 1 (kept) and 0 (dropped). Left out of a study without keep
decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go

from searchengine.report._context import ReportContext

__all__ = ["FieldsData", "fields_data", "fields_figure", "fields_png"]

KEEP_PREFIX = "model.fields.keep["
_SCORES = {"field_keep": "P(keep)", "field_importance": "AUC drop when shuffled"}


@dataclass
class FieldsData:
    trial: int
    fields: list[str]
    kept: list[bool]
    scores: list[float]
    score: str  # what the scores are


def fields_data(ctx: ReportContext) -> FieldsData | None:
    trial = ctx.chosen
    if trial is None:
        return None
    kept = {
        p[len(KEEP_PREFIX) : -1]: bool(v)
        for p, v in trial.params.items()
        if p.startswith(KEEP_PREFIX)
    }
    if not kept:
        return None
    fields = list(kept)
    for attr, label in _SCORES.items():
        found = trial.user_attrs.get(attr)
        if isinstance(found, dict) and all(f in found for f in fields):
            scores = [float(found[f]) for f in fields]
            return FieldsData(trial.number, fields, [kept[f] for f in fields], scores, label)
    flags = [kept[f] for f in fields]
    return FieldsData(trial.number, fields, flags, [float(k) for k in flags], "kept (1)")


def fields_figure(data: FieldsData) -> go.Figure:
    colors = ["#2e7d32" if k else "#d9534f" for k in data.kept]
    text = ["kept" if k else "dropped" for k in data.kept]
    fig = go.Figure(
        go.Bar(x=data.fields, y=data.scores, marker_color=colors, text=text,
               hovertemplate="%{x}: %{y:.4g} (%{text})<extra></extra>")
    )  # fmt: skip
    fig.update_layout(
        title=f"Field selection: {sum(data.kept)} of {len(data.fields)} fields kept "
        f"(trial {data.trial}); bars: {data.score}",
        yaxis={"title": data.score},
        height=420,
    )
    return fig


def fields_png(data: FieldsData, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 0.45 * len(data.fields)), 3.8))
    colors = ["#2e7d32" if k else "#d9534f" for k in data.kept]
    ax.bar(range(len(data.fields)), data.scores, color=colors)
    ax.set_xticks(range(len(data.fields)), data.fields, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(data.score)
    ax.set_title(f"Field selection: {sum(data.kept)} of {len(data.fields)} kept "
                 f"(trial {data.trial}; green kept, red dropped)", fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
