"""The engine on generic searches: resume, failures, constraints, interrupts, study checks."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from searchengine import run
from searchengine.errors import SpecError
from searchengine.searchspace import parse_spec


def generic(
    function: str = "tests.engine.functions:quadratic",
    *,
    x: str = "{float: [-5, 5]}",
    extra: str = "",
) -> str:
    return (
        f"name: g\nevaluator: {function}\nparams: {{x: {x}}}\n"
        "objectives: [{metric: value, direction: minimize}]\n" + extra
    )


def states(study: optuna.Study) -> list[TrialState]:
    return [t.state for t in study.get_trials()]


def test_resume_continues_to_the_budget(tmp_path: Path) -> None:
    spec = parse_spec(generic())
    first = run(spec, trials=3, out=tmp_path, progress=False)
    assert states(first.study) == [TrialState.COMPLETE] * 3
    before = [t.params for t in first.study.trials]
    second = run(spec, trials=5, out=tmp_path, progress=False)
    assert states(second.study) == [TrialState.COMPLETE] * 5
    assert [t.params for t in second.study.trials[:3]] == before
    third = run(spec, trials=5, out=tmp_path, progress=False)
    assert len(third.study.trials) == 5  # budget spent: nothing more runs
    assert (tmp_path / "result.json").exists() and (tmp_path / "best.yaml").exists()


def test_same_seed_same_trials(tmp_path: Path) -> None:
    spec = parse_spec(generic())
    a = run(spec, trials=4, out=tmp_path / "a", progress=False)
    b = run(spec, trials=4, out=tmp_path / "b", progress=False)
    c = run(spec, trials=4, out=tmp_path / "c", progress=False, seed=1)
    assert [t.params for t in a.study.trials] == [t.params for t in b.study.trials]
    assert [t.params for t in a.study.trials] != [t.params for t in c.study.trials]


def test_failing_candidates_are_fail_trials_with_reasons(tmp_path: Path) -> None:
    spec = parse_spec(generic("examples.functions:fails_when_large", x="{float: [0, 8]}"))
    result = run(spec, trials=8, strategy="random", out=tmp_path, progress=False)
    failed = [t for t in result.study.trials if t.state == TrialState.FAIL]
    assert failed, "some x > 4 must have been sampled"
    assert all(t.user_attrs["fail_reason"].startswith("ValueError: x=") for t in failed)
    assert len(result.study.trials) == 8  # failures count against the budget
    assert result.summary["trials"]["fail"] == len(failed)


def test_nan_objective_is_a_fail_trial(tmp_path: Path) -> None:
    result = run(
        parse_spec(generic("tests.engine.functions:nan_metric")),
        trials=2,
        out=tmp_path,
        progress=False,
    )
    assert states(result.study) == [TrialState.FAIL] * 2
    assert result.study.trials[0].user_attrs["fail_reason"] == "CandidateError: non-finite value"


def test_constraints_mark_infeasible_trials(tmp_path: Path) -> None:
    spec = parse_spec(generic(extra="constraints: [{metric: size, max: 20}]\n"))
    result = run(spec, trials=10, strategy="random", out=tmp_path, progress=False)
    for t in result.study.trials:
        assert t.state == TrialState.COMPLETE
        violation = t.constraints["size<=20"]
        assert violation == pytest.approx(t.user_attrs["metrics"]["size"] - 20)
        size = t.user_attrs["metrics"]["size"]
        reason = t.user_attrs.get("infeasible_reason")
        assert reason == (f"over constraint: size={size:g} (size<=20)" if violation > 0 else None)
    best = result.best[0]
    assert best.user_attrs["metrics"]["size"] <= 20
    assert result.summary["trials"]["infeasible"] == sum(
        t.constraints["size<=20"] > 0 for t in result.study.trials
    )


def test_interrupted_trial_is_not_counted_and_rerun_completes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SE_TEST_COUNTER", str(tmp_path / "calls"))
    spec = parse_spec(generic("tests.engine.functions:interrupt_on_third"))
    result = run(spec, trials=4, out=tmp_path / "run", progress=False)
    assert result.interrupted
    assert states(result.study) == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    assert result.study.trials[2].user_attrs["interrupted"] is True
    again = run(spec, trials=4, out=tmp_path / "run", progress=False)
    assert not again.interrupted
    assert states(again.study).count(TrialState.COMPLETE) == 4


def test_changed_distribution_is_refused(tmp_path: Path) -> None:
    run(parse_spec(generic()), trials=1, out=tmp_path, progress=False)
    with pytest.raises(SpecError, match=r"params.x changed their distribution since study 'g'"):
        run(parse_spec(generic(x="{float: [0, 1]}")), trials=2, out=tmp_path, progress=False)
    study = optuna.load_study(study_name="g", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert states(study) == [TrialState.COMPLETE]  # nothing lost


def test_changed_objectives_are_refused(tmp_path: Path) -> None:
    run(parse_spec(generic()), trials=1, out=tmp_path, progress=False)
    other = generic().replace("direction: minimize", "direction: maximize")
    with pytest.raises(SpecError, match="optimizes \\['minimize'\\], the spec \\['maximize'\\]"):
        run(parse_spec(other), trials=2, out=tmp_path, progress=False)


def test_journal_storage(tmp_path: Path) -> None:
    spec = parse_spec(generic())
    journal = str(tmp_path / "study.log")
    run(spec, trials=2, storage=journal, out=tmp_path, progress=False)
    result = run(spec, trials=3, storage=journal, out=tmp_path, progress=False)
    assert states(result.study) == [TrialState.COMPLETE] * 3


def test_multi_objective_result_holds_the_pareto_set(tmp_path: Path) -> None:
    spec = parse_spec(
        generic().replace(
            "objectives: [{metric: value, direction: minimize}]",
            "objectives: [{metric: value, direction: minimize}, {metric: size, direction: minimize}]",
        )
    )
    result = run(spec, trials=8, strategy="random", out=tmp_path, progress=False)
    front = result.summary["best"]
    assert front and len(front) == len(result.study.best_trials)
    values = [entry["values"]["value"] for entry in front]
    assert values == sorted(values)
    assert all(
        entry["architecture"]["params"]["x"] == entry["params"]["params.x"] for entry in front
    )


@pytest.mark.parametrize("strategy", ["random", "evolution", "rl"])
def test_an_exhausted_discrete_space_ends_the_run(tmp_path: Path, caplog, strategy: str) -> None:
    """x in {0, 1, 2}, c in {a, b} only where x is 1: four candidates, budget 30."""
    spec = parse_spec(
        generic(x="{int: [0, 2]}").replace(
            "params: {x: {int: [0, 2]}}",
            "params: {x: {int: [0, 2]}, c: {choice: [a, b], when: {params.x: 1}}}",
        )
    )
    with caplog.at_level("WARNING", logger="searchengine.engine"):
        result = run(spec, trials=30, strategy=strategy, out=tmp_path, progress=False)
    done = [t for t in result.study.trials if t.state == TrialState.COMPLETE]
    assert {tuple(sorted(t.params.items())) for t in done} == {
        (("params.x", 0),),
        (("params.c", "a"), ("params.x", 1)),
        (("params.c", "b"), ("params.x", 1)),
        (("params.x", 2),),
    }
    assert len(result.study.trials) < 30
    n = len(result.study.trials)
    assert (
        f"search space exhausted: all 4 candidates have a complete trial; stopping with {n} of the 30 trials"
        in caplog.text
    )
    again = run(spec, trials=30, strategy=strategy, out=tmp_path, progress=False)
    assert len(again.study.trials) == n  # a rerun asks for nothing


def test_a_space_larger_than_the_budget_is_not_enumerated(tmp_path: Path) -> None:
    from searchengine.searchspace import SearchSpace
    from searchengine.searchspace._enumerate import candidates

    space = SearchSpace.from_spec(parse_spec(generic(x="{int: [0, 9]}")))
    assert candidates(space, 10) == {(("params.x", v),) for v in range(10)}
    assert candidates(space, 9) is None
    assert candidates(SearchSpace.from_spec(parse_spec(generic())), 10**6) is None  # a float
