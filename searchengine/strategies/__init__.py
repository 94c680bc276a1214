"""Strategies: how a study is driven (see :class:`Strategy`)."""

from searchengine.strategies.base import (
    STRATEGIES,
    NoOptions,
    OneShotStrategy,
    SamplerStrategy,
    Strategy,
    resolve_strategy,
)
from searchengine.strategies.baselines import FDEStrategy, MDEStrategy
from searchengine.strategies.samplers import RandomStrategy, TPEStrategy

__all__ = [
    "STRATEGIES",
    "FDEStrategy",
    "MDEStrategy",
    "NoOptions",
    "OneShotStrategy",
    "RandomStrategy",
    "SamplerStrategy",
    "Strategy",
    "TPEStrategy",
    "resolve_strategy",
]
