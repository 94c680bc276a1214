"""Every registered black-box strategy (and the demo plug-in) passes the conformance suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from searchengine.strategies import STRATEGIES, SamplerStrategy
from searchengine.testing import strategies as suite

SAMPLER_STRATEGIES = [
    n for n in STRATEGIES.names() if issubclass(STRATEGIES.get(n), SamplerStrategy)
]
CHECKS = [
    suite.check_distributions,
    suite.check_reproducible,
    suite.check_conditional,
    suite.check_failures_and_nan,
    suite.check_partial_fixed,
    suite.check_parallel,
    suite.check_multi_objective,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", SAMPLER_STRATEGIES)
def test_strategy_conformance(name: str, check) -> None:
    check(STRATEGIES.get(name))


def test_plugin_strategy_conformance(monkeypatch) -> None:
    monkeypatch.syspath_prepend(
        str(Path(__file__).resolve().parents[1] / "plugins" / "demo_plugin")
    )
    module = __import__("searchengine_demo_plugin")
    suite.check_distributions(module.HaltonStrategy)
    suite.check_conditional(module.HaltonStrategy)
    sys.modules.pop("searchengine_demo_plugin", None)


def test_a_broken_sampler_fails_the_suite() -> None:
    import optuna

    class OutOfBounds(SamplerStrategy):
        name = "broken"

        def sampler(self, space, directions):
            class Sampler(optuna.samplers.RandomSampler):
                def sample_independent(self, study, trial, name, dist):
                    return (
                        getattr(dist, "high", None) + 1
                        if hasattr(dist, "high")
                        else dist.choices[0]
                    )

            return Sampler(seed=self.seed)

    with pytest.raises(AssertionError, match="outside"):
        suite.check_distributions(OutOfBounds)
