"""The implementation of the ``evolution`` strategy (see :class:`EvolutionSampler`)."""

from searchengine.strategies._evolution._state import (
    EVOLUTION_GENERATION_ATTR,
    EVOLUTION_GENES_ATTR,
    EVOLUTION_SEED_ATTR,
    EVOLUTION_SLOT_ATTR,
    parents_key,
)
from searchengine.strategies._evolution.sampler import EvolutionSampler

__all__ = [
    "EVOLUTION_GENERATION_ATTR",
    "EVOLUTION_GENES_ATTR",
    "EVOLUTION_SEED_ATTR",
    "EVOLUTION_SLOT_ATTR",
    "EvolutionSampler",
    "parents_key",
]
