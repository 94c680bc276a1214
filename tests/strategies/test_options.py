"""``search.options`` under any strategy: foreign options are left out, typos are not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from searchengine import run
from searchengine.errors import SpecError
from searchengine.searchspace import parse_spec
from searchengine.strategies import _options, create_strategy

GENERIC = """\
name: g
evaluator: tests.engine.functions:quadratic
params: {x: {float: [-5, 5]}}
objectives: [{metric: value, direction: minimize}]
search: {strategy: tpe, seed: 0, options: OPTIONS}
"""


def spec_with(options: str):
    return parse_spec(GENERIC.replace("OPTIONS", options), file="s.yaml")


@pytest.mark.parametrize("strategy", ["evolution", "random"])
def test_a_spec_tuned_for_tpe_runs_under_another_strategy(
    tmp_path: Path, strategy: str, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(_options, "_noted", set())  # noted once per process
    spec = spec_with("{n_startup_trials: 1}")
    with caplog.at_level(logging.WARNING, logger="searchengine"):
        result = run(spec, strategy=strategy, trials=2, out=tmp_path, progress=False)
    assert len(result.study.trials) == 2
    notes = [r.getMessage() for r in caplog.records if r.name.endswith("._options")]
    assert notes == [
        f"search.options: {strategy} does not take n_startup_trials (an option of tpe): ignored"
    ]


def test_options_keyed_by_strategy() -> None:
    options = spec_with("{tpe: {n_startup_trials: 3}, evolution: {population_size: 4}}")
    options = options.search.options
    assert create_strategy("tpe", options, seed=0).options.n_startup_trials == 3
    assert create_strategy("evolution", options, seed=0).options.population_size == 4
    assert create_strategy("random", options, seed=0).options.model_dump() == {}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            "{n_startup_trial: 3}",
            "s.yaml:5: search.options.n_startup_trial: unknown key 'n_startup_trial'; did you "
            "mean 'n_startup_trials'? (options of tpe: constant_liar, group, multivariate, "
            "n_ei_candidates, n_startup_trials)",
        ),
        (
            "{tpe: {n_startup_trials: -1}}",
            "s.yaml:5: search.options.tpe.n_startup_trials:",
        ),
    ],
)
def test_a_typo_in_options_is_still_an_error_with_its_place(
    tmp_path: Path, options: str, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        run(spec_with(options), trials=1, out=tmp_path, progress=False)
    assert str(caught.value).startswith(message), str(caught.value)
    assert not (tmp_path / "study.db").exists()
