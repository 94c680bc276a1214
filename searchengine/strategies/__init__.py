"""Strategies: how a study is driven (see :class:`Strategy`)."""

from searchengine.strategies._options import (
    create_strategy,
    strategy_name_issues,
    strategy_options,
)
from searchengine.strategies.base import (
    STRATEGIES,
    NoOptions,
    OneShotStrategy,
    SamplerStrategy,
    Strategy,
    continued_seed,
    resolve_strategy,
)
from searchengine.strategies.baselines import FDEStrategy, MDEStrategy
from searchengine.strategies.differentiable import DifferentiableStrategy
from searchengine.strategies.esapn import ESAPNStrategy
from searchengine.strategies.evolution import EvolutionStrategy
from searchengine.strategies.fieldperm import FieldPermStrategy
from searchengine.strategies.pep import PEPStrategy
from searchengine.strategies.rl import NISStrategy, RLStrategy
from searchengine.strategies.samplers import RandomStrategy, TPEStrategy

__all__ = [
    "STRATEGIES",
    "DifferentiableStrategy",
    "ESAPNStrategy",
    "EvolutionStrategy",
    "FDEStrategy",
    "FieldPermStrategy",
    "MDEStrategy",
    "NoOptions",
    "NISStrategy",
    "OneShotStrategy",
    "PEPStrategy",
    "RLStrategy",
    "RandomStrategy",
    "SamplerStrategy",
    "Strategy",
    "TPEStrategy",
    "continued_seed",
    "create_strategy",
    "resolve_strategy",
    "strategy_name_issues",
    "strategy_options",
]
