"""Optuna's own sampler test suites, run on every sampler we ship.

``optuna.testing.pytest_samplers`` holds the suites Optuna runs on its own samplers; each
case builds a study with the ``sampler`` fixture's factory. Populations are small (4) so
that the suites' 10-trial studies cross several generations.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
import pytest
from optuna.samplers import BaseSampler
from optuna.testing.pytest_samplers import (
    BasicSamplerTestCase,
    MultiObjectiveSamplerTestCase,
    RelativeSamplerTestCase,
)
from optuna.trial import TrialState

from searchengine.strategies import STRATEGIES, SamplerStrategy
from searchengine.strategies._evolution import EvolutionSampler
from searchengine.strategies._rl import ControllerSampler, ControllerSettings

SAMPLERS: dict[str, Callable[[], BaseSampler]] = {
    "evolution-nsga2": lambda: EvolutionSampler(population_size=4, seed=0),
    "evolution-dag": lambda: EvolutionSampler(population_size=4, seed=0, dag_roles={}),
    "rl-lstm": lambda: ControllerSampler(ControllerSettings("lstm", hidden=16), seed=0),
    "rl-mlp": lambda: ControllerSampler(ControllerSettings("mlp", hidden=16), seed=0),
}
# strategies whose sampler is Optuna's own, run through these suites by Optuna
OPTUNAS = {"random", "tpe"}


class TestOptunaSuites(
    BasicSamplerTestCase, RelativeSamplerTestCase, MultiObjectiveSamplerTestCase
):
    @pytest.fixture(params=sorted(SAMPLERS))
    def sampler(self, request: pytest.FixtureRequest) -> Callable[[], BaseSampler]:
        return SAMPLERS[request.param]


def test_every_sampler_strategy_is_in_the_suites() -> None:
    ours = {
        name
        for name in STRATEGIES.names()
        if issubclass(STRATEGIES.get(name), SamplerStrategy) and name not in OPTUNAS
    }
    covered = {key.split("-")[0] for key in SAMPLERS}
    assert ours <= covered, f"add {sorted(ours - covered)} to SAMPLERS"


SMALL = {
    "int": lambda t: t.suggest_int("x", 0, 10),
    "categorical": lambda t: t.suggest_categorical("x", ["a", "b", "c", "d", "e"]),
}
WIDE = {
    "evolution-nsga2": lambda: EvolutionSampler(population_size=20, seed=0),
    "evolution-dag": lambda: EvolutionSampler(population_size=20, seed=0, dag_roles={}),
}


@pytest.mark.parametrize("space", sorted(SMALL))
@pytest.mark.parametrize("name", sorted(SAMPLERS.keys() | WIDE.keys()))
def test_a_small_space_never_fails_a_trial(name: str, space: str) -> None:
    """Past the space's size (the default population of 20 on five choices, the second
    generation on), a sampler repeats candidates; it never fails a trial."""
    suggest = SMALL[space]
    factory = WIDE.get(name, SAMPLERS[name])
    study = optuna.create_study(sampler=factory())
    study.optimize(lambda t: float(sum(map(ord, str(suggest(t)))) % 7), n_trials=45, catch=())
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 45
