"""What a run leaves behind: result.json, best.yaml and the terminal summary."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from searchengine._format import number
from searchengine._optuna import (
    HYPERVOLUME_ATTR,
    METRICS_ATTR,
    SEARCH_COST_ATTR,
    TEST_METRICS_ATTR,
    reason,
    retrain_of,
)
from searchengine.errors import SearchEngineError
from searchengine.searchspace import SearchSpace
from searchengine.spec import Spec
from searchengine.spec.architecture import SCHEMA_COMMENT

__all__ = [
    "HYPERVOLUME_ATTR",
    "best_trials",
    "feasible",
    "hypervolume",
    "hypervolume_of",
    "front_ranks",
    "pareto_front",
    "print_summary",
    "write",
]


def feasible(trial: FrozenTrial) -> bool:
    return all(v <= 0 for v in trial.constraints.values())


def best_trials(
    study: optuna.Study, trials: Sequence[FrozenTrial] | None = None
) -> list[FrozenTrial]:
    """The best feasible trial, or the feasible Pareto set sorted by the first objective.

    When the search ended with full-fidelity retrains (``search.fidelity.retrain``), the
    best is chosen among them only: the cheaper candidates' values are not comparable.
    ``trials``: the study's trials when the caller has just read them (one storage read
    less); for one objective the best is then taken from them, the first of equal values
    in trial order, as ``study.best_trials`` does.
    """
    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    judged = _judged(complete)
    if len(study.directions) == 1:
        done = [t for t in judged if feasible(t)]
        if not done:
            return []
        pick = min if study.direction == optuna.study.StudyDirection.MINIMIZE else max
        return [pick(done, key=lambda t: t.values[0])]
    signs = [1 if d == optuna.study.StudyDirection.MINIMIZE else -1 for d in study.directions]
    front = pareto_front(judged, signs) if judged is not complete else study.best_trials
    return sorted(front, key=lambda t: signs[0] * t.values[0])


def _judged(trials: Sequence[FrozenTrial]) -> Sequence[FrozenTrial]:
    """The complete full-fidelity retrains among ``trials`` where the search ended with
    some (the cheaper candidates' values are not comparable with theirs), else ``trials``."""
    retrains = [t for t in trials if t.state == TrialState.COMPLETE and retrain_of(t) is not None]
    return retrains or trials


def front_ranks(trials: Sequence[FrozenTrial], signs: Sequence[int]) -> list[int]:
    """The non-domination rank of each trial (0: the front), by pymoo's sorting;
    ``signs``: 1 for an objective minimized, -1 for one maximized."""
    if not trials:
        return []
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting  # a slow import

    points = np.array([t.values for t in trials], dtype=float) * np.asarray(signs, dtype=float)
    return NonDominatedSorting().do(points, return_rank=True)[1].tolist()


def pareto_front(trials: Sequence[FrozenTrial], signs: Sequence[int]) -> list[FrozenTrial]:
    """The feasible trials no other feasible trial dominates."""
    done = [t for t in trials if feasible(t)]
    return [t for t, rank in zip(done, front_ranks(done, signs), strict=True) if rank == 0]


def hypervolume(
    study: optuna.Study, reference_point: Sequence[float] | None = None
) -> dict[str, Any] | None:
    """The hypervolume of the study's feasible Pareto front, and its reference point.

    See :func:`hypervolume_of`; this is it over the study's trials (over its full-fidelity
    retrains only, where the search ended with some, as :func:`best_trials` chooses),
    stored in ``result.json`` and in the study's user attribute ``searchengine:hypervolume``.
    """
    if len(study.directions) < 2:
        return None
    trials = study.get_trials(deepcopy=False)
    return hypervolume_of(_judged(trials), study.directions, reference_point)


def hypervolume_of(
    trials: Sequence[FrozenTrial],
    directions: Sequence[optuna.study.StudyDirection],
    reference_point: Sequence[float] | None = None,
) -> dict[str, Any] | None:
    """The hypervolume of the feasible Pareto front of ``trials``.

    Computed with pymoo's ``HV`` in minimization form (maximized objectives negated) over
    the feasible complete trials. ``reference_point`` is one value per objective, in the
    objective's own units (an AUC of 0.5, 20000 parameters); a trial counts only where it
    is better than the reference point in every objective. By default the reference point
    is, for each objective, the worst value among the feasible complete trials moved 10%
    of the objective's range (worst - best) further out, so that the extreme members of
    the front add to the volume too. That default depends on the trials: to compare
    studies, give them one reference point.

    Returns:
        ``{"value": ..., "reference_point": [...]}``, or None without a feasible complete
        trial (and no reference point to measure against).
    """
    from pymoo.indicators.hv import HV  # a slow import, needed only here

    signs = np.array(
        [1.0 if d == optuna.study.StudyDirection.MINIMIZE else -1.0 for d in directions]
    )
    done = [t for t in trials if t.state == TrialState.COMPLETE and feasible(t)]
    points = np.array([t.values for t in done], dtype=float).reshape(-1, len(signs)) * signs
    points = points[np.all(np.isfinite(points), axis=1)]
    if reference_point is not None:
        ref = np.asarray(reference_point, dtype=float) * signs
    elif len(points):
        worst, best = points.max(axis=0), points.min(axis=0)
        span = np.where(worst > best, worst - best, np.maximum(np.abs(worst), 1.0))
        ref = worst + 0.1 * span
    else:
        return None
    inside = points[np.all(points < ref, axis=1)]
    value = float(HV(ref_point=ref)(inside)) if len(inside) else 0.0
    return {"value": value, "reference_point": [float(r) for r in ref * signs]}


def _entry(trial: FrozenTrial, space: SearchSpace, metrics: list[str]) -> dict[str, Any]:
    try:
        architecture: dict[str, Any] | None = space.of_trial(trial).to_dict()
    except SearchEngineError:
        architecture = None
    return {
        "number": trial.number,
        "values": dict(zip(metrics, trial.values, strict=True)),
        "metrics": trial.user_attrs.get(METRICS_ATTR, {}),
        "test_metrics": trial.user_attrs.get(TEST_METRICS_ATTR, {}),
        "params": trial.params,
        "constraints": trial.constraints,
        "search_cost": trial.user_attrs.get(SEARCH_COST_ATTR),
        "strategy": trial.user_attrs.get("strategy"),
        "architecture": architecture,
    }


def _counts(study: optuna.Study) -> dict[str, int]:
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name.lower() for t in trials)
    counts["infeasible"] = sum(
        1 for t in trials if t.state == TrialState.COMPLETE and not feasible(t)
    )
    return {k: counts.get(k, 0) for k in ("complete", "infeasible", "pruned", "fail", "running")}


def _strategies(study: optuna.Study) -> dict[str, int]:
    """How many trials each strategy proposed (``unrecorded``: trials of older versions)."""
    trials = study.get_trials(deepcopy=False)
    return dict(Counter(t.user_attrs.get("strategy", "unrecorded") for t in trials))


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
            "reason": reason(t),
        }
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL, TrialState.PRUNED))
    ]
    summary = {
        "name": spec.name,
        "study": study.study_name,
        "storage": storage,
        "strategy": strategy,
        "strategies": _strategies(study),
        "objectives": [
            {"metric": m, "direction": d.name.lower()}
            for m, d in zip(metrics, study.directions, strict=True)
        ],
        "constraints": [c.model_dump(exclude_none=True) for c in spec.constraints],
        "trials": _counts(study),
        "best": [_entry(t, space, metrics) for t in best],
        "failures": failures[:50],
    }
    if len(metrics) > 1:
        summary["hypervolume"] = hypervolume(study, _reference_point(spec, strategy))
        if summary["hypervolume"] is not None:
            study.set_user_attr(HYPERVOLUME_ATTR, summary["hypervolume"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "result.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if best and summary["best"][0]["architecture"] is not None:
        (out_dir / "best.yaml").write_text(best_yaml(space.of_trial(best[0])))
    return summary


def _reference_point(spec: Spec, strategy: str) -> Any:
    """``reference_point`` of the strategy's options, or of any strategy's section."""
    from searchengine.strategies import strategy_options

    options = spec.search.options
    point = strategy_options(strategy, options, note=False).get("reference_point")
    sections = [v for v in options.values() if isinstance(v, dict)]
    return (
        point
        or options.get("reference_point")
        or next((v["reference_point"] for v in sections if "reference_point" in v), None)
    )


def best_yaml(arch: Any) -> str:
    """``best.yaml``: the concrete spec of the best trial, named ``<name>-best`` (and without
    the search's study name), so that running it evaluates it once in its own run folder
    and study instead of reopening the finished search."""
    data = arch.to_dict()
    data["name"] = f"{data.get('name', 'search')}-best"
    if isinstance(data.get("search"), dict):
        data["search"].pop("study", None)
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    return f"{SCHEMA_COMMENT}\n{body}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return number(value)
    return "" if value is None else str(value)


#: Members of a Pareto set the terminal table shows (result.json holds them all).
_SHOWN = 30


def print_summary(summary: dict[str, Any], out_dir: Path, console: Console | None = None) -> None:
    """The best trial (or the Pareto set) as a table, then counts and failure reasons."""
    console = console or Console()
    metrics = [o["metric"] for o in summary["objectives"]]
    title = "Pareto set" if len(metrics) > 1 else "Best trial"
    made_by = summary.get("strategies") or {}
    by = summary["strategy"]
    if set(made_by) - {by, "unrecorded"}:  # a study continued with another strategy
        by = ", ".join(f"{n} {name}" for name, n in made_by.items())
    table = Table(title=f"{title} of {summary['study']} ({by})")
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
    shown = summary["best"][:_SHOWN]
    if len(summary["best"]) > _SHOWN:
        table.caption = f"the first {_SHOWN} of {len(summary['best'])}; all in result.json"
    for entry in shown:
        table.add_row(
            str(entry["number"]),
            *(_fmt(entry["values"][m]) for m in metrics),
            *(_fmt(entry[group].get(key)) for _, group, key in extra),
        )
    if summary["best"]:
        console.print(table)
    else:
        console.print("[yellow]no feasible completed trial yet[/yellow]")
    if summary.get("hypervolume"):
        hv = summary["hypervolume"]
        ref = ", ".join(
            f"{m} {_fmt(r)}" for m, r in zip(metrics, hv["reference_point"], strict=True)
        )
        console.print(f"hypervolume {hv['value']:.6g} (reference point: {ref})")
    counts = summary["trials"]
    console.print(", ".join(f"{n} {k}" for k, n in counts.items() if n))
    reasons = Counter(f["reason"].split(":")[0] for f in summary["failures"] if f["reason"])
    for why, n in reasons.most_common(5):
        console.print(f"  {n} x {escape(why)}")
    console.print(f"results: {out_dir / 'result.json'}")
