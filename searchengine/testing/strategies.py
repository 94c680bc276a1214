"""A conformance suite every black-box strategy (its Optuna sampler) must pass.

Run it from a test, parametrized over the registry::

    @pytest.mark.parametrize("name", STRATEGIES.names())
    def test_strategy(name):
        check_strategy(STRATEGIES.get(name))

Each ``check_*(cls)`` builds its own in-memory studies and raises ``AssertionError`` with
a message on a failure. The checks follow what any Optuna sampler must do: sample every
distribution kind (steps, log scales, categorical choices of mixed types) within bounds,
handle conditional parameters, survive NaN objective values and failing trials, respect
partially fixed parameters, run with ``n_jobs=2``, and give the same asks for the same seed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from searchengine._optuna import contains
from searchengine.strategies import SamplerStrategy

__all__ = [
    "DISTRIBUTIONS",
    "check_conditional",
    "check_distributions",
    "check_failures_and_nan",
    "check_multi_objective",
    "check_parallel",
    "check_partial_fixed",
    "check_reproducible",
    "check_strategy",
]

#: One of every distribution shape a strategy must sample correctly.
DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "float": FloatDistribution(-3.0, 2.0),
    "float_log": FloatDistribution(1e-5, 1e-1, log=True),
    "float_step": FloatDistribution(0.0, 1.0, step=0.25),
    "int": IntDistribution(-4, 9),
    "int_step": IntDistribution(8, 64, step=8),
    "int_log": IntDistribution(1, 1024, log=True),
    "cat_str": CategoricalDistribution(["a", "b", "c"]),
    "cat_mixed": CategoricalDistribution([None, True, 2, 2.5, "x"]),
    "cat_one": CategoricalDistribution([7]),
}
N_TRIALS = 16


def _study(
    cls: type[SamplerStrategy], seed: int = 0, directions: int = 1, **options: Any
) -> optuna.Study:
    strategy = cls(seed=seed, **options)
    dirs = [optuna.study.StudyDirection.MINIMIZE] * directions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = strategy.sampler(_EmptySpace(), dirs)
    return optuna.create_study(sampler=sampler, directions=["minimize"] * directions)


class _EmptySpace:
    """Strategies get the SearchSpace; these generic checks have none to give."""

    decisions: list[Any] = []

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def _suggest(trial: optuna.Trial, name: str, d: BaseDistribution) -> Any:
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    assert isinstance(d, CategoricalDistribution)
    return trial.suggest_categorical(name, d.choices)


def _objective(trial: optuna.Trial) -> float:
    total = 0.0
    for name, d in DISTRIBUTIONS.items():
        value = _suggest(trial, name, d)
        total += hash(str(value)) % 7 if not isinstance(value, int | float) else float(value)
    return total


def _optimize(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], Any],
    n_trials: int = N_TRIALS,
    **kwargs: Any,
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=n_trials, **kwargs)


def check_distributions(cls: type[SamplerStrategy]) -> None:
    """Every sampled value lies in its distribution, steps and log scales included."""
    study = _study(cls)
    _optimize(study, _objective)
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE, f"trial {trial.number}: {trial.state}"
        for name, d in DISTRIBUTIONS.items():
            value = trial.params[name]
            assert contains(d, value), f"{name}={value!r} outside {d}"


def check_reproducible(cls: type[SamplerStrategy]) -> None:
    """The same seed gives the same asks; another seed gives others."""
    runs = []
    for seed in (3, 3, 4):
        study = _study(cls, seed=seed)
        _optimize(study, _objective)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1], "the same seed gave different trials"
    assert runs[0] != runs[2], "different seeds gave the same trials"


def check_conditional(cls: type[SamplerStrategy]) -> None:
    """Parameters that exist only for some values of another are sampled correctly."""

    def objective(trial: optuna.Trial) -> float:
        kind = trial.suggest_categorical("kind", ["linear", "tree"])
        if kind == "linear":
            return trial.suggest_float("alpha", 1e-4, 1.0, log=True)
        depth = trial.suggest_int("depth", 1, 8)
        if depth > 4:
            return depth + trial.suggest_float("gamma", 0.0, 1.0)
        return float(depth)

    study = _study(cls)
    _optimize(study, objective, n_trials=24)
    for t in study.trials:
        assert t.state == TrialState.COMPLETE
        expected = (
            {"kind", "alpha"}
            if t.params["kind"] == "linear"
            else ({"kind", "depth", "gamma"} if t.params["depth"] > 4 else {"kind", "depth"})
        )
        assert set(t.params) == expected, f"trial {t.number} has {sorted(t.params)}"


def check_failures_and_nan(cls: type[SamplerStrategy]) -> None:
    """NaN objective values and raising trials are recorded as FAIL; sampling goes on."""

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        trial.suggest_int("n", 0, 3)
        if trial.number % 3 == 1:
            return math.nan
        if trial.number % 3 == 2:
            raise ValueError("candidate failed")
        return x * x

    study = _study(cls)
    _optimize(study, objective, n_trials=18, catch=(ValueError,))
    states = [t.state for t in study.trials]
    assert len(states) == 18
    assert states.count(TrialState.FAIL) == 12 and states.count(TrialState.COMPLETE) == 6


def check_partial_fixed(cls: type[SamplerStrategy]) -> None:
    """Optuna's PartialFixedSampler around the strategy's sampler keeps fixed values."""
    study = _study(cls)
    study.sampler = optuna.samplers.PartialFixedSampler({"int": 5, "cat_str": "b"}, study.sampler)
    _optimize(study, _objective, n_trials=10)
    assert all(t.params["int"] == 5 and t.params["cat_str"] == "b" for t in study.trials)
    assert len({t.params["float"] for t in study.trials}) > 1


def check_parallel(cls: type[SamplerStrategy]) -> None:
    """``n_jobs=2`` completes every trial (samplers are called from two threads)."""
    study = _study(cls)
    _optimize(study, _objective, n_trials=12, n_jobs=2)
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 12


def check_multi_objective(cls: type[SamplerStrategy]) -> None:
    """Two objectives: every trial completes and the Pareto front is not empty."""

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        y = trial.suggest_categorical("y", [0, 1, 2])
        return x + y, (1 - x) ** 2 + y

    study = _study(cls, directions=2)
    _optimize(study, objective, n_trials=12)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert study.best_trials


def check_strategy(cls: type[SamplerStrategy]) -> None:
    """Run every check on ``cls``."""
    for check in (
        check_distributions,
        check_reproducible,
        check_conditional,
        check_failures_and_nan,
        check_partial_fixed,
        check_parallel,
        check_multi_objective,
    ):
        check(cls)
