"""What a run leaves behind: result.json, best.yaml, the terminal summary and progress."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from searchengine.errors import SearchEngineError
from searchengine.searchspace import SearchSpace, Spec

__all__ = ["Progress", "best_trials", "print_summary", "write"]


def _feasible(trial: FrozenTrial) -> bool:
    return all(v <= 0 for v in trial.constraints.values())


def best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The best feasible trial, or the feasible Pareto set sorted by the first objective."""
    if len(study.directions) == 1:
        done = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if _feasible(t)
        ]
        if not done:
            return []
        return [study.best_trial]
    sign = 1 if study.directions[0] == optuna.study.StudyDirection.MINIMIZE else -1
    return sorted(study.best_trials, key=lambda t: sign * t.values[0])


def _entry(trial: FrozenTrial, space: SearchSpace, metrics: list[str]) -> dict[str, Any]:
    try:
        architecture: dict[str, Any] | None = space.fixed(trial.params, encoded=True).to_dict()
    except SearchEngineError:
        architecture = None
    return {
        "number": trial.number,
        "values": dict(zip(metrics, trial.values, strict=True)),
        "metrics": trial.user_attrs.get("metrics", {}),
        "test_metrics": trial.user_attrs.get("test_metrics", {}),
        "params": trial.params,
        "constraints": trial.constraints,
        "search_cost": trial.user_attrs.get("search_cost"),
        "architecture": architecture,
    }


def _counts(study: optuna.Study) -> dict[str, int]:
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name.lower() for t in trials)
    counts["infeasible"] = sum(
        1 for t in trials if t.state == TrialState.COMPLETE and not _feasible(t)
    )
    return {k: counts.get(k, 0) for k in ("complete", "infeasible", "pruned", "fail", "running")}


def write(
    study: optuna.Study, space: SearchSpace, spec: Spec, out_dir: Path, storage: str, strategy: str
) -> dict[str, Any]:
    """Write ``result.json`` and ``best.yaml``; return the summary written."""
    metrics = [o.metric for o in spec.objectives]
    best = best_trials(study)
    failures = [
        {
            "number": t.number,
            "state": t.state.name,
            "reason": t.user_attrs.get("fail_reason") or t.user_attrs.get("prune_reason", ""),
        }
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL, TrialState.PRUNED))
    ]
    summary = {
        "name": spec.name,
        "study": study.study_name,
        "storage": storage,
        "strategy": strategy,
        "objectives": [
            {"metric": m, "direction": d.name.lower()}
            for m, d in zip(metrics, study.directions, strict=True)
        ],
        "constraints": [c.model_dump(exclude_none=True) for c in spec.constraints],
        "trials": _counts(study),
        "best": [_entry(t, space, metrics) for t in best],
        "failures": failures[:50],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "result.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if best and summary["best"][0]["architecture"] is not None:
        (out_dir / "best.yaml").write_text(space.fixed(best[0].params, encoded=True).to_yaml())
    return summary


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4f}"
    return "" if value is None else str(value)


def print_summary(summary: dict[str, Any], out_dir: Path, console: Console | None = None) -> None:
    """The best trial (or the Pareto set) as a table, then counts and failure reasons."""
    console = console or Console()
    metrics = [o["metric"] for o in summary["objectives"]]
    title = "Pareto set" if len(metrics) > 1 else "Best trial"
    table = Table(title=f"{title} of {summary['study']} ({summary['strategy']})")
    table.add_column("trial", justify="right")
    for m in metrics:
        table.add_column(m, justify="right")
    extra = [(f"test {m}", "test_metrics", m) for m in metrics[:1]]
    extra += [
        ("test auc", "test_metrics", "auc"),
        ("embedding params", "metrics", "embedding_params"),
    ]
    extra = [
        e
        for i, e in enumerate(extra)
        if e[0] not in {x[0] for x in extra[:i]}
        and e[2] not in metrics[1:]
        and any(e[2] in b[e[1]] for b in summary["best"])
    ]
    for header, _, _ in extra:
        table.add_column(header, justify="right")
    for entry in summary["best"][:20]:
        table.add_row(
            str(entry["number"]),
            *(_fmt(entry["values"][m]) for m in metrics),
            *(_fmt(entry[group].get(key)) for _, group, key in extra),
        )
    if summary["best"]:
        console.print(table)
    else:
        console.print("[yellow]no feasible completed trial yet[/yellow]")
    counts = summary["trials"]
    console.print(", ".join(f"{n} {k}" for k, n in counts.items() if n))
    reasons = Counter(f["reason"].split(":")[0] for f in summary["failures"] if f["reason"])
    for reason, n in reasons.most_common(5):
        console.print(f"  {n} x {reason}")
    console.print(f"results: {out_dir / 'result.json'}")


class Progress:
    """A live progress bar: trial i/N, best so far, elapsed (silent when disabled)."""

    def __init__(self, study: optuna.Study, budget: int, spec: Spec, *, enabled: bool) -> None:
        from searchengine.engine import budget_used

        self.study, self.budget, self.enabled = study, budget, enabled
        self.metric = spec.objectives[0].metric
        self.start_done = budget_used(study)
        self.started = time.monotonic()
        self._bar: RichProgress | None = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.enabled:
            self._bar = RichProgress(
                TextColumn("trial {task.completed}/{task.total}"),
                BarColumn(),
                TextColumn("{task.fields[best]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(
                "search", total=self.budget, completed=self.start_done, best=""
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def update(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self._bar is None:
            return
        from searchengine.engine import budget_used

        best = best_trials(study)
        text = f"best {self.metric} {best[0].values[0]:.4f}" if best else ""
        if len(study.directions) > 1:
            text = f"{len(best)} on the Pareto front"
        self._bar.update(self._task, completed=budget_used(study), best=text)
