"""A conformance suite every one-shot strategy must pass, run through the real engine.

A one-shot strategy trains what it needs itself and records derived architectures
through the session. Whatever it searches, the engine relies on the same contract::

    from searchengine.testing.oneshot import check_one_shot
    check_one_shot(parse_spec(TINY_SPEC), tmp_path)   # the spec names the strategy

:func:`check_one_shot` runs the spec's search on a fresh SQLite study and checks that:

* it records at least one trial, every one COMPLETE, with the strategy's name and
  search cost (seconds) in its user attributes, and every parameter inside the space;
* the study is marked as searched, and a rerun on the same storage adds no trial
  (a resumed or second worker's run never repeats a finished search);
* the same seed on a fresh study records the same architectures (parameters).

Keep the spec tiny (a few thousand synthetic rows, one or two epochs, ``threads: 1``).
"""

from __future__ import annotations

from pathlib import Path

from optuna.trial import FrozenTrial, TrialState

from searchengine._optuna import ONESHOT_DONE_ATTR, SEARCH_COST_ATTR, TRIAL_STRATEGY_ATTR
from searchengine.engine import run
from searchengine.searchspace import SearchSpace
from searchengine.spec import Spec
from searchengine.strategies import create_strategy

__all__ = ["check_one_shot"]


def _search(spec: Spec, folder: Path) -> list[FrozenTrial]:
    folder.mkdir(parents=True, exist_ok=True)
    result = run(
        spec,
        storage=f"sqlite:///{folder / 'study.db'}",
        out=folder,
        progress=False,
        write_results=False,
    )
    assert result.study.user_attrs.get(ONESHOT_DONE_ATTR) is True, (
        "the study is not marked as searched (searchengine._optuna.ONESHOT_DONE_ATTR)"
    )
    return result.study.get_trials()


def check_one_shot(spec: Spec, tmp: Path) -> None:
    """Run ``spec``'s one-shot strategy through the engine and check its contract."""
    name = spec.search.strategy
    strategy = create_strategy(name, spec.search.options, seed=spec.search.seed)
    assert strategy.one_shot, f"{name} is not a one-shot strategy"
    space = SearchSpace.from_spec(spec)
    trials = _search(spec, tmp / "first")
    assert trials, f"{name} recorded no trial"
    for t in trials:
        assert t.state == TrialState.COMPLETE, (
            f"{name}: trial {t.number} is {t.state.name}: {t.user_attrs.get('fail_reason')}"
        )
        assert t.user_attrs.get(TRIAL_STRATEGY_ATTR) == name, f"trial {t.number}: strategy"
        cost = t.user_attrs.get(SEARCH_COST_ATTR)
        assert isinstance(cost, dict) and float(cost.get("seconds", -1)) >= 0, (
            f"{name}: trial {t.number} records no search cost (seconds): {cost!r}"
        )
        for param, value in t.params.items():
            assert param in space, f"{name}: trial {t.number} has {param!r}, not in the space"
            assert space[param].contains(value), f"{name}: {param}={value!r} outside the space"

    again = _search(spec, tmp / "first")
    assert len(again) == len(trials), (
        f"{name}: a rerun on the same study added {len(again) - len(trials)} trial(s)"
    )
    same_seed = _search(spec, tmp / "second")
    assert [t.params for t in same_seed] == [t.params for t in trials], (
        f"{name}: the same seed recorded other architectures"
    )
