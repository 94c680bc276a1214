"""``evolution`` through the engine: Pareto sets, constraints, hypervolume, workers.

Two workers share one storage (SQLite from two threads, a journal file from two worker
processes): they reach the budget together and never evaluate one child twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from searchengine import parse_spec, run
from searchengine.cli import main
from searchengine.engine import budget_used
from searchengine.engine import results as _results
from searchengine.engine.storage import open_storage
from searchengine.strategies._evolution import (
    EVOLUTION_GENERATION_ATTR,
    EVOLUTION_SLOT_ATTR,
    parents_key,
)

ROOT = Path(__file__).resolve().parents[2]
GENERIC = """\
name: evo
evaluator: tests.strategies.functions:%(function)s
params: {x: {float: [0.0, 1.0]}, k: {int: [0, 5]}, kind: {choice: [a, b]}}
objectives:
  - {metric: f1, direction: minimize}
  - {metric: f2, direction: minimize}
constraints: [{metric: cost, max: 6}]
search: {strategy: evolution, trials: %(trials)d, seed: 0, heartbeat: 1, grace: 3,
         options: {population_size: 4}}
"""


def generic(trials: int, function: str = "two_objectives") -> str:
    return GENERIC % {"function": function, "trials": trials}


def test_pareto_set_is_feasible_and_hypervolume_is_stored(tmp_path: Path) -> None:
    result = run(parse_spec(generic(16)), out=tmp_path, progress=False)
    study = result.study
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert any(t.constraints["cost<=6"] > 0 for t in trials)  # infeasible ones were made
    summary = json.loads((tmp_path / "result.json").read_text())
    front = summary["best"]
    assert front and all(e["constraints"]["cost<=6"] <= 0 for e in front)
    assert [e["values"]["f1"] for e in front] == sorted(e["values"]["f1"] for e in front)
    assert all(e["architecture"] is not None for e in front)
    hv = summary["hypervolume"]
    assert hv["value"] > 0 and len(hv["reference_point"]) == 2
    assert study.user_attrs[_results.HYPERVOLUME_ATTR] == hv
    again = _results.hypervolume_of(trials, study.directions, hv["reference_point"])
    assert again["value"] == pytest.approx(hv["value"])
    console = Console(record=True, width=120)
    _results.print_summary(summary, tmp_path, console)
    assert f"hypervolume {hv['value']:.6g} (reference point: f1 " in console.export_text()


def test_three_objectives_give_a_three_dimensional_front(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "name": "three",
            "evaluator": "tests.report.functions:three",
            "params": {"x": {"float": [0, 1]}, "y": {"float": [0, 1]}},
            "objectives": [
                {"metric": "a", "direction": "minimize"},
                {"metric": "b", "direction": "minimize"},
                {"metric": "c", "direction": "maximize"},
            ],
            "search": {
                "strategy": "evolution",
                "trials": 16,
                "seed": 1,
                "options": {"population_size": 4},
            },
        }  # fmt: skip
    )
    result = run(spec, out=tmp_path, progress=False)
    front = result.summary["best"]
    assert len(front) >= 2 and len(result.summary["hypervolume"]["reference_point"]) == 3
    assert [e["values"]["a"] for e in front] == sorted(e["values"]["a"] for e in front)
    done = result.study.get_trials(states=(TrialState.COMPLETE,))
    signs = (1, 1, -1)  # all minimized
    for entry in front:  # nobody dominates a member of the front
        mine = [s * entry["values"][m] for s, m in zip(signs, "abc", strict=True)]
        for t in done:
            other = [s * v for s, v in zip(signs, t.values, strict=True)]
            assert not (all(o <= v for o, v in zip(other, mine, strict=True)) and other != mine)
    assert max(t.system_attrs[EVOLUTION_GENERATION_ATTR] for t in done) == 3
    console = Console(record=True, width=120)
    _results.print_summary(result.summary, tmp_path, console)
    assert "Pareto set of three (evolution)" in console.export_text()


def test_a_given_reference_point_is_used(tmp_path: Path) -> None:
    text = generic(8).replace("population_size: 4", "population_size: 4, reference_point: [2, 2]")
    summary = run(parse_spec(text), out=tmp_path, progress=False).summary
    assert summary["hypervolume"]["reference_point"] == [2.0, 2.0]


def test_hypervolume_by_hand() -> None:
    directions = [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    trials = [
        optuna.trial.create_trial(values=[0.8, 10.0]),
        optuna.trial.create_trial(values=[0.7, 5.0]),
        optuna.trial.create_trial(values=[0.6, 8.0]),  # dominated
        optuna.trial.create_trial(values=[0.9, 1.0], system_attrs={"constraints:c": 1.0}),
    ]
    hv = _results.hypervolume_of(trials, directions, [0.5, 20.0])
    # boxes (0.8-0.5) x (20-10) and (0.7-0.5) x (20-5), overlapping (0.7-0.5) x (20-10)
    assert hv["value"] == pytest.approx(0.3 * 10 + 0.2 * 15 - 0.2 * 10)
    default = _results.hypervolume_of(trials, directions)
    assert default["reference_point"] == pytest.approx([0.6 - 0.02, 10.0 + 0.5])


def test_pruners_are_refused_for_several_objectives(tmp_path: Path, capsys) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(generic(4).replace("heartbeat: 1", "pruner: median, heartbeat: 1"))
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "-q"]) == 2
    assert "search.pruner: pruners work with a single objective only" in capsys.readouterr().err


def test_model_search_keeps_infeasible_candidates_off_the_front(tmp_path: Path) -> None:
    text = """\
name: evo-model
data: {dataset: synthetic, rows: 2000, options: {categorical: 4, numerical: 0, seed: 1}}
model:
  backbone: fm
  embedding: {dim: {choice: [2, 4, 8, 16], per: field}}
train: {batch_size: 512, epochs: 1, patience: 1, lr: 5.0e-3}
objectives:
  - {metric: auc, direction: maximize}
  - {metric: embedding_params, direction: minimize}
constraints: [{metric: embedding_params, max: 6000}]
search: {strategy: evolution, trials: 10, seed: 0, options: {population_size: 4}}
"""
    result = run(parse_spec(text), out=tmp_path, progress=False)
    trials = result.study.get_trials()
    over = [t for t in trials if t.state == TrialState.PRUNED]
    assert over and all(t.constraints["embedding_params<=6000"] > 0 for t in over)
    assert {t.system_attrs[EVOLUTION_GENERATION_ATTR] for t in trials} >= {0, 1}
    summary = json.loads((tmp_path / "result.json").read_text())
    assert summary["best"] and summary["hypervolume"]["value"] > 0
    for entry in summary["best"]:
        assert entry["metrics"]["embedding_params"] <= 6000
        assert "auc" in entry["test_metrics"] and entry["architecture"]["model"]["embedding"]


def assert_one_evolution(storage: str, budget: int) -> None:
    study = optuna.load_study(study_name="evo", storage=open_storage(storage))
    trials = study.get_trials()
    assert budget_used(study) == budget
    assert sum(t.state == TrialState.COMPLETE for t in trials) == budget
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    claimed = [
        (t.system_attrs[EVOLUTION_GENERATION_ATTR], t.system_attrs[EVOLUTION_SLOT_ATTR])
        for t in trials
        if EVOLUTION_GENERATION_ATTR in t.system_attrs
    ]
    assert len(claimed) == len(set(claimed)) >= budget  # no child evaluated twice
    last = max(g for g, _ in claimed)
    assert last >= 2
    attrs = study._storage.get_study_system_attrs(study._study_id)
    assert all(len(attrs[parents_key(g)]) == 4 for g in range(1, last + 1))


def test_two_threads_share_one_sqlite_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    spec = parse_spec(generic(16, "slow_two_objectives"))
    open_storage(storage)  # the tables, before two threads race to create them
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            run(
                spec,
                storage=storage,
                out=tmp_path / str(index),
                worker_index=index,
                progress=False,
                write_results=False,
            )
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert_one_evolution(storage, 16)


def test_two_worker_processes_share_one_journal(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(generic(16, "slow_two_objectives"))
    storage = f"journal:{tmp_path / 'study.log'}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "searchengine",
                "worker",
                str(spec),
                "--storage",
                storage,
                "--worker-index",
                str(k),
                "--out",
                str(tmp_path / f"w{k}"),
                "--no-results",
                "-q",
            ],
            cwd=ROOT,
            env={**os.environ, "SE_TEST_SLEEP": "0.05"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert_one_evolution(storage, 16)
