"""Feature interactions: FM (all pairs or a kept subset), FwFM, the DCN cross network."""

from __future__ import annotations

from searchengine.models.interaction.cross import CrossNetwork
from searchengine.models.interaction.fm import FMInteraction
from searchengine.models.interaction.fwfm import FwFMInteraction
from searchengine.models.interaction.pairs import PairwiseProducts, all_pairs_sum

__all__ = [
    "CrossNetwork",
    "FMInteraction",
    "FwFMInteraction",
    "PairwiseProducts",
    "all_pairs_sum",
]
