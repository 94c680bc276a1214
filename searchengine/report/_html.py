"""The report page: one self-contained HTML file (plotly.js inlined, no network)."""

from __future__ import annotations

import html
import json
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from searchengine._format import number
from searchengine._optuna import (
    METRICS_ATTR,
    SEARCH_COST_ATTR,
    SECONDS_ATTR,
    TEST_METRICS_ATTR,
    reason,
)
from searchengine.report._context import ReportContext
from searchengine.report._pareto import pareto_mask

__all__ = ["page"]

TOP_TRIALS = 20
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; }
th { background: #f5f5f5; } td.text { text-align: left; max-width: 40em; }
.meta { color: #555; } .notes li { color: #666; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return number(value, significant=True)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)[:200]
    return "" if value is None else str(value)


def page(ctx: ReportContext, sections: list[tuple[str, str, str]], plotly_js: str) -> str:
    """The whole page.

    Args:
        ctx: the study.
        sections: ``(key, title, figure html)`` of each figure drawn.
        plotly_js: plotly.js itself, inlined once.
    """
    figures = "\n".join(
        f'<section id="{_e(key)}"><h2>{_e(title)}</h2>\n{body}</section>'
        for key, title, body in sections
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in ctx.notes)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>searchengine report: {_e(ctx.study.study_name)}</title>"
        f"<style>{_STYLE}</style>\n<script>{plotly_js}</script>\n</head><body>\n"
        f"{_header(ctx)}\n{figures}\n"
        f'<section id="top-trials"><h2>Top trials</h2>{_top_table(ctx)}</section>\n'
        f'<section id="failures"><h2>Failures</h2>{_failures(ctx)}</section>\n'
        + (
            f'<section id="notes"><h2>Left out</h2><ul class="notes">{notes}</ul></section>'
            if notes
            else ""
        )  # fmt: skip
        + "\n</body></html>\n"
    )


def _header(ctx: ReportContext) -> str:
    states = Counter(t.state.name.lower() for t in ctx.trials)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no trials yet"
    directions = ", ".join(
        f"{name} ({'min' if s > 0 else 'max'})"
        for name, s in zip(ctx.objectives, ctx.signs, strict=True)
    )
    running = states.get("running", 0)
    live = f"<p><b>still running</b>: {running} trial(s) in progress.</p>" if running else ""
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    seconds = ctx.study.user_attrs.get(SECONDS_ATTR)
    spent = f" · searched {float(seconds):,.0f} s" if isinstance(seconds, int | float) else ""
    return (
        f"<h1>{_e(ctx.study.study_name)}</h1>"
        f'<p class="meta">strategy {_e(ctx.strategy)} · objectives {_e(directions)} · '
        f"{_e(counts)}{spent} · storage {_e(ctx.storage)} · made {made}</p>{live}"
    )


def _ranked(ctx: ReportContext) -> list[FrozenTrial]:
    """Completed trials, best first: feasible before infeasible, the front first."""
    done = ctx.complete()
    if not done:
        return []
    values = np.array([t.values for t in done], dtype=np.float64) * ctx.signs
    feasible = np.array([ctx.feasible(t) for t in done])
    front = np.zeros(len(done), dtype=bool)
    if feasible.any():
        front[np.flatnonzero(feasible)] = pareto_mask(values[feasible])
    order = sorted(range(len(done)), key=lambda i: (not feasible[i], not front[i], values[i, 0]))
    return [done[i] for i in order]


def _top_table(ctx: ReportContext) -> str:
    ranked = _ranked(ctx)[:TOP_TRIALS]
    if not ranked:
        return "<p>No completed trial yet.</p>"
    tests = sorted({k for t in ranked for k in t.user_attrs.get(TEST_METRICS_ATTR, {})})
    # latency_ms (median of 7 passes over 1,000 rows) moves with the load of the machine
    # more than between similar models: shown where it is an objective, not by default
    costs = [
        c
        for c in ("embedding_params", "params", "train_seconds")
        if c not in ctx.objectives and any(c in t.user_attrs.get(METRICS_ATTR, {}) for t in ranked)
    ]
    head = ["trial", "feasible", *ctx.objectives, *(f"test {m}" for m in tests), *costs]
    head += ["search cost", "parameters"]
    rows = []
    for t in ranked:
        metrics, test = t.user_attrs.get(METRICS_ATTR, {}), t.user_attrs.get(TEST_METRICS_ATTR, {})
        cells = [t.number, "yes" if ctx.feasible(t) else "no", *t.values]
        cells += [test.get(m) for m in tests] + [metrics.get(c) for c in costs]
        cells.append(t.user_attrs.get(SEARCH_COST_ATTR))
        params = "<br>".join(_e(f"{k} = {_fmt(v)}") for k, v in t.params.items())
        rows.append(
            "".join(f"<td>{_e(_fmt(c))}</td>" for c in cells)
            + f'<td class="text"><details><summary>{len(t.params)}</summary>{params}'
            "</details></td>"
        )
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _failures(ctx: ReportContext) -> str:
    bad = [t for t in ctx.trials if t.state in (TrialState.FAIL, TrialState.PRUNED)]
    infeasible = sum(1 for t in ctx.complete() if not ctx.feasible(t))
    summary = (
        f"<p>{sum(t.state == TrialState.FAIL for t in bad)} failed, "
        f"{sum(t.state == TrialState.PRUNED for t in bad)} pruned, "
        f"{infeasible} completed but infeasible.</p>"
    )
    if not bad:
        return summary
    reasons = Counter(_reason(t).split(":")[0] or "no reason recorded" for t in bad)
    grouped = "".join(
        f"<tr><td>{n}</td><td class='text'>{_e(r)}</td></tr>" for r, n in reasons.most_common()
    )
    listing = "".join(
        f"<tr><td>{t.number}</td><td>{t.state.name}</td>"
        f"<td class='text'>{_e(_reason(t)[:400])}</td></tr>"
        for t in bad[:50]
    )
    return (
        f"{summary}<table><thead><tr><th>count</th><th>reason</th></tr></thead>"
        f"<tbody>{grouped}</tbody></table>"
        f"<table><thead><tr><th>trial</th><th>state</th><th>reason</th></tr></thead>"
        f"<tbody>{listing}</tbody></table>"
    )


def _reason(trial: FrozenTrial) -> str:
    return reason(trial)
