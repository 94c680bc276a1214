"""The engine on generic searches: resume, failures, constraints, interrupts, study checks."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from searchengine import run
from searchengine.errors import SearchEngineError, SpecError
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


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_a_resumed_seeded_search_continues_instead_of_replaying(
    tmp_path: Path, strategy: str
) -> None:
    spec = parse_spec(generic())
    asks = []
    for out in ("a", "b"):  # the same commands twice: the same trials
        run(spec, strategy=strategy, trials=2, out=tmp_path / out, progress=False)
        resumed = run(spec, strategy=strategy, trials=4, out=tmp_path / out, progress=False)
        asks.append([t.params["params.x"] for t in resumed.study.trials])
    assert len(set(asks[0])) == 4, asks[0]
    assert asks[0] == asks[1]


def test_the_interrupted_trial_is_not_proposed_again(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SE_TEST_COUNTER", str(tmp_path / "calls"))
    spec = parse_spec(generic("tests.engine.functions:interrupt_on_third"))
    assert run(spec, trials=4, strategy="random", out=tmp_path, progress=False).interrupted
    again = run(spec, trials=4, strategy="random", out=tmp_path, progress=False)
    xs = [t.params["params.x"] for t in again.study.trials]
    assert len(xs) == 5 and len(set(xs)) == 5, xs


def test_workers_on_one_study_ask_different_candidates(tmp_path: Path) -> None:
    spec = parse_spec(generic())
    for index, trials in ((1, 2), (2, 4), (1, 6)):  # worker 1 restarts and joins again
        result = run(
            spec, trials=trials, strategy="random", out=tmp_path, progress=False,
            worker_index=index,
        )  # fmt: skip
    xs = [t.params["params.x"] for t in result.study.trials]
    assert len(set(xs)) == 6, xs


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


def test_another_strategy_on_a_study_is_refused_unless_asked_for(tmp_path: Path) -> None:
    spec = parse_spec(generic())
    run(spec, trials=2, out=tmp_path, progress=False)
    with pytest.raises(SearchEngineError) as refused:
        run(spec, trials=3, strategy="random", out=tmp_path, progress=False)
    assert str(refused.value) == (
        f"study 'g' in sqlite:///{tmp_path / 'study.db'} is searched by tpe (2 trials); "
        "rerun with --strategy tpe to continue it, --continue-with random to continue it "
        "with random, or --study NAME for a new study"
    )
    switched = run(
        spec, trials=3, strategy="random", continue_with=True, out=tmp_path, progress=False
    )
    assert [t.user_attrs["strategy"] for t in switched.study.trials] == ["tpe", "tpe", "random"]
    assert switched.summary["strategy"] == "random"
    assert switched.summary["strategies"] == {"tpe": 2, "random": 1}


def test_a_study_that_meets_the_budget_says_so(tmp_path: Path, caplog) -> None:
    spec = parse_spec(generic())
    run(spec, trials=3, out=tmp_path, progress=False)
    with caplog.at_level("WARNING", logger="searchengine"):
        again = run(spec, trials=2, out=tmp_path, progress=False)
    assert len(again.study.trials) == 3
    assert [r.getMessage() for r in caplog.records if "nothing to run" in r.getMessage()] == [
        f"study 'g' in sqlite:///{tmp_path / 'study.db'} already has 3 finished trials, the "
        "budget is 2: nothing to run (give --trials 4 or more to search further)"
    ]


@pytest.mark.parametrize(
    ("strategy", "options", "note"),
    [
        (
            "evolution",
            "{}",
            "evolution: 3 trials never leave generation 0, the random first population of 20 "
            "(search.options.population_size); give --trials 60 or more (three generations), "
            "or a smaller population_size",
        ),
        ("evolution", "{population_size: 2}", None),
        (
            "tpe",
            "{}",
            "tpe: all 3 trials fall within its 10 random start-up trials "
            "(search.options.n_startup_trials), so it searches exactly like random; give "
            "--trials 20 or more, or fewer start-up trials",
        ),
        ("tpe", "{n_startup_trials: 2}", None),
    ],
)
def test_a_budget_too_small_for_the_strategy_is_warned_of_once(
    tmp_path: Path, strategy: str, options: str, note: str | None, caplog, monkeypatch
) -> None:
    from searchengine.engine import loop as engine

    monkeypatch.setattr(engine, "_noted", set())
    spec = parse_spec(generic(extra=f"search: {{options: {options}}}\n"))
    with caplog.at_level("WARNING", logger="searchengine"):
        for out in ("a", "b"):
            run(spec, trials=3, strategy=strategy, out=tmp_path / out, progress=False)
    notes = [r.getMessage() for r in caplog.records if r.name == "searchengine.engine"]
    assert notes == ([note] if note else [])


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
