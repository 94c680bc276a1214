"""The implementation of the ``evolution`` strategy (see :class:`EvolutionSampler`)."""

from searchengine.strategies._evolution._state import (
    GENERATION_KEY,
    GENES_KEY,
    SEED_KEY,
    SLOT_KEY,
    parents_key,
)
from searchengine.strategies._evolution.sampler import EvolutionSampler

__all__ = [
    "GENERATION_KEY",
    "GENES_KEY",
    "SEED_KEY",
    "SLOT_KEY",
    "EvolutionSampler",
    "parents_key",
]
