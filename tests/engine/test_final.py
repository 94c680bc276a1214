"""A search with cheaper candidates (``search.fidelity``) ends by retraining its best ones
at full fidelity; the run's best is chosen among the retrains, which use no trial budget,
and a time budget keeps room for them."""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

import optuna
import pytest

from searchengine import parse_spec, run
from searchengine._optuna import METRICS_ATTR, RETRAIN_OF_ATTR, retrain_of
from searchengine.engine.final import best_candidates, reserve
from searchengine.engine.results import hypervolume, hypervolume_of
from searchengine.engine.session import Session
from searchengine.engine.study import budget_used
from searchengine.evaluation import Evaluator
from searchengine.searchspace import SearchSpace

_DATA = {
    "dataset": "synthetic",
    "rows": 1500,
    "options": {"categorical": 4, "numerical": 2, "max_vocab": 50},
}


def _spec(fidelity: dict[str, Any], trials: int = 5, **search: Any) -> Any:
    return parse_spec(
        {
            "name": "fidelity-final",
            "data": _DATA,
            "model": {
                "backbone": "deepfm",
                "embedding": {"dim": {"choice": [2, 4, 8]}},
                "mlp": {"layers": {"choice": [[8], [16], [16, 8]]}},
            },
            "train": {"batch_size": 256, "epochs": 2, "patience": 5, "threads": 1},
            "search": {
                "strategy": "random",
                "trials": trials,
                "seed": 1,
                "fidelity": fidelity,
                **search,
            },
        }  # fmt: skip
    )


def _candidates(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if retrain_of(t) is None]


def test_the_best_candidates_are_retrained_as_train_says_and_chosen_among(
    tmp_path: Path,
) -> None:
    spec = _spec({"subsample": 0.3, "epochs": 1, "retrain": 2})
    result = run(spec, out=tmp_path, progress=False)
    study = result.study
    candidates = _candidates(study)
    retrains = [t for t in study.trials if retrain_of(t) is not None]
    assert len(candidates) == 5 and len(retrains) == 2
    assert budget_used(study) == 5  # retrains use no budget
    # the two best candidates by their (cheap) validation AUC, one per architecture
    expected = best_candidates(study, 2)
    assert [retrain_of(t) for t in retrains] == [t.number for t in expected]
    for t in retrains:
        assert t.state.name == "COMPLETE"
        assert t.params == study.trials[retrain_of(t)].params
        assert t.user_attrs[METRICS_ATTR]["epochs"] == 2  # train.epochs, not fidelity's 1
    assert all(t.user_attrs[METRICS_ATTR]["epochs"] == 1 for t in candidates)
    # the run's best is the better retrain, with its full-fidelity value
    assert [t.number for t in result.best] == [max(retrains, key=lambda t: t.value).number]
    # a retrain is exactly a plain training of the candidate's architecture
    space = SearchSpace.from_spec(spec)
    chosen = study.trials[retrain_of(result.best[0])]
    plain = Evaluator(spec).evaluate(space.of_trial(chosen))
    assert plain.metrics["auc"] == pytest.approx(result.best[0].value, abs=1e-6)


def test_a_rerun_retrains_only_new_best_candidates(tmp_path: Path) -> None:
    spec = _spec({"subsample": 0.3, "epochs": 1, "retrain": 1}, trials=3)
    first = run(spec, out=tmp_path, progress=False).study
    assert len(first.trials) == 4
    again = run(spec, out=tmp_path, progress=False).study  # budget met, retrain done
    assert len(again.trials) == 4
    more = run(spec, trials=8, out=tmp_path, progress=False).study
    retrained = [retrain_of(t) for t in more.trials if retrain_of(t) is not None]
    best = best_candidates(more, 1)[0].number
    assert budget_used(more) == 8 and best in retrained
    assert len(retrained) == (1 if best < 3 else 2)


def test_retrain_zero_and_full_fidelity_keep_the_old_behaviour(tmp_path: Path) -> None:
    old = run(
        _spec({"subsample": 0.3, "epochs": 1, "retrain": 0}), out=tmp_path / "a", progress=False
    )
    assert len(old.study.trials) == 5 and old.best[0].user_attrs[METRICS_ATTR]["epochs"] == 1
    plain = run(_spec({}), out=tmp_path / "b", progress=False)  # nothing cheaper: no retrain
    assert len(plain.study.trials) == 5 and all(retrain_of(t) is None for t in plain.study.trials)


def test_multi_objective_retrains_follow_the_front_and_the_best_is_their_front(
    tmp_path: Path,
) -> None:
    spec = _spec({"subsample": 0.3, "epochs": 1, "retrain": 3}, trials=6)
    data = spec.model_dump(mode="python", by_alias=True, exclude_unset=True)
    data["objectives"] = [{"metric": "auc"}, {"metric": "params", "direction": "minimize"}]
    result = run(parse_spec(data), out=tmp_path, progress=False)
    retrains = [t for t in result.study.trials if retrain_of(t) is not None]
    assert len(retrains) == 3
    assert {t.number for t in result.best} <= {t.number for t in retrains}
    # the best retrain by AUC is first and no retrain dominates a chosen one
    assert result.best[0].values[0] == max(t.values[0] for t in retrains)
    # the hypervolume is the retrains' too (the cheap values are not comparable)
    directions = result.study.directions
    assert hypervolume(result.study) == hypervolume_of(retrains, directions)
    assert hypervolume(result.study) != hypervolume_of(result.study.trials, directions)


def _done(
    number: int, value: float, train: float, epochs: int, seconds: float
) -> optuna.trial.FrozenTrial:
    start = datetime.datetime(2026, 1, 1)
    trial = optuna.trial.create_trial(
        value=value,
        params={"x": float(number)},  # one architecture each
        distributions={"x": optuna.distributions.FloatDistribution(0.0, 10.0)},
        user_attrs={METRICS_ATTR: {"train_seconds": train, "epochs": epochs}},
    )
    trial.number = number
    trial.datetime_start = start
    trial.datetime_complete = start + datetime.timedelta(seconds=seconds)
    return trial


def test_the_reserve_scales_the_best_candidates_to_all_rows_and_epochs() -> None:
    spec = _spec({"subsample": 0.5, "epochs": 1, "retrain": 2})  # train.epochs: 2
    # per epoch: training / subsample + the rest (validation, test); times 2 epochs
    best = _done(0, 0.9, 2.0, 1, 3.0)  # (2 / 0.5 + 1) * 2 = 10 s
    second = _done(1, 0.8, 1.0, 1, 1.5)  # (1 / 0.5 + 0.5) * 2 = 5 s
    slow_but_worse = _done(2, 0.5, 10.0, 1, 12.0)  # not among the two to retrain
    assert reserve(spec, [best, second, slow_but_worse]) == pytest.approx(2 * (10 + 5) / 2)
    assert reserve(spec, [slow_but_worse]) == pytest.approx(2 * 44.0)
    assert reserve(spec, []) == 0.0
    retrained = _done(3, 0.99, 10.0, 2, 10.0)  # as long as estimated: scale 1
    retrained.user_attrs[RETRAIN_OF_ATTR] = 0  # a retrain is not a candidate
    assert reserve(spec, [best, second, retrained]) == pytest.approx(15.0)


def test_the_session_stops_asking_when_the_time_left_is_kept(tmp_path: Path) -> None:
    spec = _spec({"subsample": 0.5, "epochs": 1}, timeout=100)
    space = SearchSpace.from_spec(spec)
    study = optuna.create_study(direction="maximize")
    kept = Session(
        spec, space, study, Evaluator(spec), trials=5, timeout=100, reserve=lambda t: math.inf
    )
    assert kept.next_trial() is None and not study.trials
    free = Session(spec, space, study, Evaluator(spec), trials=5, timeout=100, reserve=None)
    assert free.next_trial() is not None


def test_the_time_the_retrains_leave_goes_back_to_the_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time kept for the retrains is an upper bound: after them the search goes on,
    and its new best candidate is retrained in turn."""
    from searchengine.engine import final

    def kept(spec: Any, trials: list[optuna.trial.FrozenTrial]) -> float:
        if any(retrain_of(t) is not None for t in trials):
            return 0.0  # the retrains took nothing: all the time is the search's again
        return math.inf if sum(t.state.name == "COMPLETE" for t in trials) >= 2 else 0.0

    monkeypatch.setattr(final, "reserve", kept)
    spec = _spec({"subsample": 0.3, "epochs": 1, "retrain": 1}, trials=6, timeout=600)
    study = run(spec, out=tmp_path, progress=False).study
    first = study.trials[2]  # after two candidates the time was all kept: a retrain
    assert retrain_of(first) in (0, 1)
    assert budget_used(study) == 6  # then the search used the rest of its budget
    retrained = [retrain_of(t) for t in study.trials if retrain_of(t) is not None]
    assert len(set(retrained)) == len(retrained)
    assert best_candidates(study, 1)[0].number in retrained


def test_the_estimate_is_scaled_by_what_the_retrains_really_took() -> None:
    spec = _spec({"subsample": 0.5, "epochs": 1, "retrain": 2})
    best, second = _done(0, 0.9, 2.0, 1, 3.0), _done(1, 0.8, 1.0, 1, 1.5)  # 10 s and 5 s
    retrained = _done(2, 0.95, 5.0, 2, 5.0)  # estimated 10 s, took 5 s
    retrained.user_attrs[RETRAIN_OF_ATTR] = 0
    assert reserve(spec, [best, second, retrained]) == pytest.approx(15.0 * 0.5)
