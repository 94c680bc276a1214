"""Feature interactions: FM (all pairs or a kept subset), FwFM, the DCN and DCN-V2 cross
networks, AutoInt's self-attention."""

from __future__ import annotations

from searchengine.models.interaction.attention import SelfAttention
from searchengine.models.interaction.cross import CrossNetwork
from searchengine.models.interaction.cross_v2 import CrossNetworkV2
from searchengine.models.interaction.fm import FMInteraction
from searchengine.models.interaction.fwfm import FwFMInteraction
from searchengine.models.interaction.pairs import PairwiseProducts, all_pairs_sum

__all__ = [
    "CrossNetwork",
    "CrossNetworkV2",
    "FMInteraction",
    "FwFMInteraction",
    "PairwiseProducts",
    "SelfAttention",
    "all_pairs_sum",
]
