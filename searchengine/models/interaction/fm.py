"""The factorization-machine interaction: the sum of the kept pairs' inner products."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from searchengine.models.interaction.pairs import PairwiseProducts, all_pairs_sum

__all__ = ["FMInteraction"]


class FMInteraction(nn.Module):
    """``sum_{(i,j) kept} <e_i, e_j>``.

    Args:
        n_fields: the size of the input's field axis.
        pairs: the kept pairs as positions into the field axis, or None for all pairs
            (computed with the O(F D) FM identity).

    Shapes:
        ``(B, F, D)`` -> ``(B,)``.
    """

    def __init__(self, n_fields: int, pairs: Sequence[tuple[int, int]] | None = None) -> None:
        super().__init__()
        self.products = None if pairs is None else PairwiseProducts(pairs, n_fields)

    def forward(self, e: Tensor) -> Tensor:
        """Return the interaction logit ``(B,)``."""
        if self.products is None:
            return all_pairs_sum(e)  # (B,)
        return self.products(e).sum(dim=1)  # (B,)
