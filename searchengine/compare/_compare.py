"""Running the comparison and summarizing it (see the package docstring)."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from searchengine._optuna import COMPARE_ATTR, METRICS_ATTR, SECONDS_ATTR, TEST_METRICS_ATTR
from searchengine.compare._stats import mean_std, welch_t_test
from searchengine.engine import directions, run, storage_options
from searchengine.engine import results as _results
from searchengine.engine.storage import default_storage_url, open_storage
from searchengine.errors import SearchEngineError, SpecError, SpecIssue
from searchengine.spec import Spec
from searchengine.spec.format import safe_name
from searchengine.strategies import resolve_strategy

__all__ = ["BASELINES", "Comparison", "RunRecord", "compare", "parse_budget"]

_log = logging.getLogger(__name__)
#: Entries compared against: the best of those present is the reference of the t-tests.
BASELINES = ("fde", "mde", "random")
ALPHA = 0.05


@dataclass
class RunRecord:
    """One strategy on one seed: what it found and what it cost."""

    strategy: str
    seed: int
    study: str
    trials: int
    search_seconds: float
    value: float | None = None
    test: dict[str, float] = field(default_factory=dict)
    embedding_params: float | None = None
    anytime: list[list[float]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    number: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Comparison:
    """All runs of a comparison and their summary table."""

    name: str
    metric: str
    direction: str
    budget: dict[str, float | None]
    records: list[RunRecord]
    storage: str
    strategies: list[str] = field(default_factory=list)

    @property
    def test_metric(self) -> str:
        return self.metric if any(self.metric in r.test for r in self.records) else "value"

    def _score(self, record: RunRecord) -> float:
        value = record.test.get(self.metric) if self.test_metric != "value" else record.value
        return math.nan if value is None else float(value)

    def reference(self) -> str | None:
        """The best baseline present (by mean score), the reference of the t-tests."""
        present = [s for s in self.strategies if s in BASELINES]
        sign = 1.0 if self.direction == "maximize" else -1.0
        means = {
            s: mean_std([self._score(r) for r in self.records if r.strategy == s])[0]
            for s in present
        }
        means = {s: m for s, m in means.items() if math.isfinite(m)}
        return max(means, key=lambda s: sign * means[s]) if means else None

    def rows(self) -> list[dict[str, Any]]:
        """One row per strategy: mean ± std of each column, t-test against the reference."""
        ref = self.reference()
        ref_scores = [self._score(r) for r in self.records if r.strategy == ref]
        sign = 1.0 if self.direction == "maximize" else -1.0
        rows = []
        for s in self.strategies:
            runs = [r for r in self.records if r.strategy == s]
            scores = [self._score(r) for r in runs]
            row: dict[str, Any] = {
                "strategy": s,
                "runs": len(runs),
                "seeds": [r.seed for r in runs],
            }
            row["test_auc"] = mean_std([r.test.get("auc", math.nan) for r in runs])
            row["test_logloss"] = mean_std([r.test.get("logloss", math.nan) for r in runs])
            row["embedding_params"] = mean_std([r.embedding_params or math.nan for r in runs])
            row["search_seconds"] = mean_std([r.search_seconds for r in runs])
            row["score"] = mean_std(scores)
            t, p = (
                (math.nan, math.nan)
                if s == ref or ref is None
                else welch_t_test(scores, ref_scores)
            )
            row["t"], row["p"] = t, p
            row["significant_win"] = bool(
                math.isfinite(p)
                and p < ALPHA
                and sign * (row["score"][0] - mean_std(ref_scores)[0]) > 0
            )
            rows.append(row)
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "direction": self.direction,
            "test_metric": self.test_metric,
            "budget": self.budget,
            "storage": self.storage,
            "reference": self.reference(),
            "rows": self.rows(),
            "runs": [asdict(r) for r in self.records],
        }

    def to_markdown(self) -> str:
        ref = self.reference()
        head = (
            f"| strategy | runs | test AUC | test logloss | embedding params | search s | "
            f"p vs {ref or '-'} |\n|---|---:|---:|---:|---:|---:|---:|\n"
        )
        lines = []
        for row in self.rows():
            p = row["p"]
            mark = " **win**" if row["significant_win"] else ""
            lines.append(
                f"| {row['strategy']} | {row['runs']} | {_pm(row['test_auc'], 4)} | "
                f"{_pm(row['test_logloss'], 4)} | {_pm(row['embedding_params'], 0)} | "
                f"{_pm(row['search_seconds'], 1)} | "
                f"{_p_cell(row['strategy'] == ref, p)}{mark} |"
            )
        budget = ", ".join(f"{k} {v:g}" for k, v in self.budget.items() if v is not None)
        note = (
            f"\nBudget per run: {budget}. Mean ± std over seeds; p: two-sided Welch t-test of "
            f"the test {self.test_metric} against {ref or 'no baseline'}; **win**: p < {ALPHA} "
            "and a better mean.\n"
        )
        return head + "\n".join(lines) + "\n" + note


def _p_cell(is_reference: bool, p: float) -> str:
    if is_reference:
        return "ref"
    return "-" if math.isnan(p) else f"{p:.3g}"


def _pm(pair: tuple[float, float], digits: int) -> str:
    mean, std = pair
    if not math.isfinite(mean):
        return "-"
    if digits == 0:
        return f"{mean:,.0f} ± {std:,.0f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def parse_budget(text: str) -> tuple[int | None, float | None]:
    """``"30"`` -> 30 trials; ``"300s"`` -> 300 seconds; ``"30,300s"`` -> both.

    Raises:
        SearchEngineError: anything else.
    """
    trials, seconds = None, None
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            if part.endswith("s"):
                seconds = float(part[:-1])
            else:
                trials = int(part)
        except ValueError:
            raise SearchEngineError(
                f"--budget {text!r}: expected TRIALS, SECONDSs or both (e.g. 30,600s)"
            ) from None
    if (
        (trials is not None and trials <= 0)
        or (seconds is not None and seconds <= 0)
        or (trials is None and seconds is None)
    ):
        raise SearchEngineError(f"--budget {text!r}: expected positive trials and/or seconds")
    return trials, seconds


def _check_strategies(strategies: list[str]) -> None:
    issues = []
    for name in strategies:
        try:
            resolve_strategy(name)
        except SearchEngineError as exc:
            issues.append(SpecIssue("--strategies", str(exc)))
    if len(set(strategies)) != len(strategies):
        issues.append(SpecIssue("--strategies", "a strategy is listed twice"))
    if issues:
        raise SpecError(issues)


def _anytime(trials: list[FrozenTrial], sign: float) -> list[list[float]]:
    done = sorted(
        (
            t
            for t in trials
            if t.state == TrialState.COMPLETE
            and t.datetime_complete
            and all(v <= 0 for v in t.constraints.values())
        ),
        key=lambda t: t.datetime_complete,
    )
    starts = [t.datetime_start for t in trials if t.datetime_start]
    if not done or not starts:
        return []
    origin, best, curve = min(starts), -math.inf, []
    for t in done:
        best = max(best, sign * t.values[0])
        curve.append([(t.datetime_complete - origin).total_seconds(), sign * best])
    return curve


def _record(study: optuna.Study, strategy: str, seed: int, sign: float) -> RunRecord:
    trials = study.get_trials(deepcopy=False)
    best = _results.best_trials(study)
    chosen = best[0] if best else None
    return RunRecord(
        strategy=strategy,
        seed=seed,
        study=study.study_name,
        trials=sum(t.state != TrialState.RUNNING for t in trials),
        search_seconds=float(study.user_attrs.get(SECONDS_ATTR, 0.0)),
        value=chosen.values[0] if chosen else None,
        test=dict(chosen.user_attrs.get(TEST_METRICS_ATTR, {})) if chosen else {},
        embedding_params=(
            chosen.user_attrs.get(METRICS_ATTR, {}).get("embedding_params") if chosen else None
        ),
        anytime=_anytime(trials, sign),
        params=dict(chosen.params) if chosen else {},
        number=chosen.number if chosen else None,
        metrics=dict(chosen.user_attrs.get(METRICS_ATTR, {})) if chosen else {},
    )


def _done(storage: str, spec: Spec, name: str) -> optuna.Study | None:
    try:
        study = optuna.load_study(
            study_name=name, storage=open_storage(storage, storage_options(spec.search))
        )
    except KeyError:
        return None
    return study if study.user_attrs.get(COMPARE_ATTR, {}).get("done") else None


def compare(
    spec: Spec,
    strategies: list[str],
    *,
    seeds: int = 3,
    trials: int | None = None,
    seconds: float | None = None,
    storage: str | None = None,
    out: str | Path | None = None,
    progress: bool = False,
) -> Comparison:
    """Run every strategy on every seed with an equal budget; resume what was done.

    Args:
        spec: the search spec; its space, data split and training are shared by all runs.
        strategies: registered names or ``package.module:Class``.
        seeds: repeats; run ``k`` uses seed ``search.seed + k`` (sampler and training).
        trials: the trial budget of every run (default ``search.trials``).
        seconds: the wall-clock budget of every run (one-shot strategies are charged
            their real search time).
        storage: one storage for all runs (default ``<out>/compare.db``).
        out: output folder (default ``runs/<name>/compare``).

    Raises:
        SpecError: unknown strategies. KeyboardInterrupt: a run was interrupted (finished
            runs are kept; rerun to complete the missing ones).
    """
    _check_strategies(strategies)
    if seeds < 1:
        raise SearchEngineError(f"--seeds: expected a positive integer, got {seeds}")
    out_dir = Path(out) if out is not None else Path("runs") / safe_name(spec.name) / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage_url(out_dir).replace("study.db", "compare.db")
    budget_trials = trials or (spec.search.trials if seconds is None else 10**9)
    direction = directions(spec)[0]
    sign = 1.0 if direction == "maximize" else -1.0
    records = []
    for strategy in strategies:
        for k in range(seeds):
            seed = spec.search.seed + k
            name = f"{spec.study_name}.{safe_name(strategy)}.seed{seed}"
            study = _done(storage, spec, name)
            if study is None:
                _log.info("compare: %s, seed %d", strategy, seed)
                result = run(
                    spec,
                    strategy=strategy,
                    seed=seed,
                    trials=budget_trials,
                    timeout=seconds,
                    storage=storage,
                    study_name=name,
                    out=out_dir / f"{safe_name(strategy)}-seed{seed}",
                    progress=progress,
                )
                if result.interrupted:
                    raise KeyboardInterrupt
                study = result.study
                study.set_user_attr(
                    COMPARE_ATTR, {"strategy": strategy, "seed": seed, "done": True}
                )
            records.append(_record(study, strategy, seed, sign))
    comparison = Comparison(
        spec.name,
        spec.objectives[0].metric,
        direction,
        {
            "trials": trials or (spec.search.trials if seconds is None else None),
            "seconds": seconds,
        },
        records,
        storage,
        list(strategies),
    )
    write(comparison, out_dir)
    return comparison


def write(comparison: Comparison, out_dir: Path) -> None:
    """``compare.md``, ``compare.json`` and, with plotly, ``compare.html`` (anytime curves)."""
    (out_dir / "compare.md").write_text(comparison.to_markdown())
    (out_dir / "compare.json").write_text(json.dumps(comparison.to_json(), indent=2) + "\n")
    try:
        import plotly.graph_objects as go
    except ImportError:
        return
    figure = go.Figure()
    for r in comparison.records:
        if r.anytime:
            xs, ys = zip(*r.anytime, strict=True)
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines+markers",
                    line_shape="hv",
                    name=f"{r.strategy} (seed {r.seed})",
                )
            )
    figure.update_layout(
        title=f"Anytime performance: best {comparison.metric} against time",
        xaxis_title="seconds since the run's first trial",
        yaxis_title=f"best validation {comparison.metric}",
    )
    figure.write_html(out_dir / "compare.html", include_plotlyjs=True)
