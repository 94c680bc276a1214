"""The field-weighted factorization machine (FwFM, WWW'18)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from searchengine.models.interaction.pairs import PairwiseProducts

__all__ = ["FwFMInteraction"]


class FwFMInteraction(nn.Module):
    """``sum_{(i,j) kept} r_ij <e_i, e_j>`` with a learned scalar ``r_ij`` per pair.

    ``r`` starts at 1, so an untrained FwFM equals an FM over the same pairs.

    Args:
        n_fields: the size of the input's field axis.
        pairs: the kept pairs as positions into the field axis.

    Shapes:
        ``(B, F, D)`` -> ``(B,)``.
    """

    def __init__(self, n_fields: int, pairs: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self.products = PairwiseProducts(pairs, n_fields)
        self.weight = nn.Parameter(torch.ones(len(pairs)))  # (P,)

    def forward(self, e: Tensor) -> Tensor:
        """Return the interaction logit ``(B,)``."""
        return self.products(e) @ self.weight  # (B,)
