"""`searchengine compare`: equal budgets, recorded seeds, the t-test, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest
from scipy import stats

from searchengine import run as run_search
from searchengine.cli import main
from searchengine.compare import compare, mean_std, parse_budget, welch_t_test
from searchengine.errors import SearchEngineError, SpecError
from searchengine.searchspace import parse_spec

GENERIC = """\
name: cmp
evaluator: tests.engine.functions:{function}
params: {{x: {{float: [-5, 5]}}}}
objectives: [{{metric: value, direction: minimize}}]
search: {{trials: 4, seed: 10}}
"""


def spec(function: str = "quadratic"):
    return parse_spec(GENERIC.format(function=function))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([0.801, 0.805, 0.799], [0.790, 0.794, 0.792]),
        ([1.0, 2.0, 3.0, 4.0], [2.5, 3.5, 2.0]),
        ([0.5, 0.52], [0.41, 0.47, 0.44, 0.40, 0.43]),
    ],
)
def test_welch_t_test_matches_scipy(a, b) -> None:
    t, p = welch_t_test(a, b)
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert t == pytest.approx(expected.statistic, rel=1e-10)
    assert p == pytest.approx(expected.pvalue, rel=1e-8)


def test_degenerate_samples_give_nan() -> None:
    assert all(math.isnan(v) for v in welch_t_test([1.0], [1.0, 2.0]))
    assert all(math.isnan(v) for v in welch_t_test([1.0, 1.0], [1.0, 1.0]))
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))


def test_budgets_are_equal_and_seeds_recorded(tmp_path: Path) -> None:
    result = compare(spec(), ["random", "tpe", "fde"], seeds=2, trials=4, out=tmp_path)
    by = {(r.strategy, r.seed): r for r in result.records}
    assert set(by) == {(s, k) for s in ("random", "tpe", "fde") for k in (10, 11)}
    for (strategy, _), record in by.items():
        assert record.trials == (1 if strategy == "fde" else 4)
    seeds = {r.seed for r in result.records if r.strategy == "random"}
    assert seeds == {10, 11}
    first = [
        t.params
        for t in optuna.load_study(
            study_name=by["random", 10].study, storage=result.storage
        ).trials
    ]
    second = [
        t.params
        for t in optuna.load_study(
            study_name=by["random", 11].study, storage=result.storage
        ).trials
    ]
    assert first != second  # the seeds really differ
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert [r["seed"] for r in saved["runs"]] == [r.seed for r in result.records]
    assert saved["reference"] in ("random", "fde")
    table = (tmp_path / "compare.md").read_text()
    assert "| strategy | runs |" in table and "| tpe | 2 |" in table


def test_time_budget_is_enforced(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SE_TEST_SLEEP", "0.3")
    result = compare(spec("sleepy"), ["random"], seeds=1, seconds=1.0, out=tmp_path)
    record = result.records[0]
    assert 2 <= record.trials <= 5  # stops at the first trial that starts after 1 s
    assert record.search_seconds < 1.0 + 0.3 + 1.0


def test_a_resumed_time_budget_counts_the_time_already_spent(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SE_TEST_SLEEP", "0.3")
    searched = spec("sleepy")
    one = run_search(searched, trials=100, timeout=1.5, out=tmp_path, progress=False)
    spent = one.study.user_attrs["searchengine:seconds"]
    first = len(one.study.trials)  # the study objects read one storage: count now
    assert spent >= 1.5
    again = run_search(searched, trials=100, timeout=1.5, out=tmp_path, progress=False)
    assert len(again.study.trials) == first  # nothing left of the budget
    spent = again.study.user_attrs["searchengine:seconds"]
    more = run_search(searched, trials=100, timeout=spent + 0.9, out=tmp_path, progress=False)
    assert len(more.study.trials) > first


def test_anytime_curves_are_written_and_one_shot_runs_charged(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SE_TEST_SLEEP", "0.6")
    one_shot = "tests.engine.functions:SlowOneShot"
    result = compare(spec("quadratic"), ["random", one_shot], seeds=2, trials=5, out=tmp_path)
    slow = [r for r in result.records if r.strategy == one_shot]
    assert [len(r.anytime) for r in slow] == [1, 1]
    assert all(r.anytime[0][0] >= 0.6 for r in slow)  # its search time is on the time axis
    assert all(r.search_seconds >= 0.6 for r in slow)
    for record in result.records[:2]:
        times = [t for t, _ in record.anytime]
        values = [v for _, v in record.anytime]
        assert len(record.anytime) == 5 and times == sorted(times) and times[0] >= 0
        assert all(b <= a for a, b in zip(values, values[1:], strict=False))  # best so far
    html = (tmp_path / "compare.html").read_text()
    assert "Anytime performance" in html and "random (seed 11)" in html
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert [r["anytime"] for r in saved["runs"]] == [r.anytime for r in result.records]


def test_resume_completes_only_the_missing_runs(tmp_path: Path, monkeypatch) -> None:
    counter = tmp_path / "calls"
    monkeypatch.setenv("SE_TEST_COUNTER", str(counter))
    monkeypatch.setenv("SE_TEST_INTERRUPT_AT", "7")
    with pytest.raises(KeyboardInterrupt):
        compare(spec("interrupt_at"), ["random", "tpe"], seeds=1, trials=4, out=tmp_path / "o")
    assert int(counter.read_text()) == 7  # random done (4 calls), tpe interrupted on its 3rd
    monkeypatch.setenv("SE_TEST_INTERRUPT_AT", "0")
    counter.write_text("0")
    result = compare(
        spec("interrupt_at"), ["random", "tpe"], seeds=1, trials=4, out=tmp_path / "o"
    )
    assert int(counter.read_text()) == 2  # only tpe's two missing trials ran
    assert [r.trials for r in result.records] == [4, 5]  # tpe: 4 counted + 1 interrupted


def test_bad_input(tmp_path: Path, capsys) -> None:
    with pytest.raises(SpecError, match="unknown strategy 'tpee'; did you mean 'tpe'"):
        compare(spec(), ["random", "tpee"], out=tmp_path)
    with pytest.raises(SearchEngineError, match="expected TRIALS, SECONDSs or both"):
        parse_budget("ten")
    assert parse_budget("30,600s") == (30, 600.0) and parse_budget("45s") == (None, 45.0)
    path = tmp_path / "s.yaml"
    path.write_text(GENERIC.format(function="quadratic"))
    assert main(["compare", str(path), "--strategies", "random", "--budget", "-3"]) == 2
    assert "--budget '-3'" in capsys.readouterr().err
