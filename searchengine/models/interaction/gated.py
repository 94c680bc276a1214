"""Gated pair interactions (AutoFIS, KDD'20): the relaxed form of the keep/drop gates.

Every field pair's product passes through a batch norm without affine parameters, which
puts all pairs on one scale so that the gate's size alone says how much a pair matters,
and is scaled by its gate ``alpha_ij``::

    sum_{i<j} alpha_ij * BN(<e_i, e_j>)           (FwFM: BN(r_ij <e_i, e_j>))

A search trains ``alpha`` with GRDA (:class:`~searchengine.evaluation.grda.GRDA`), which
drives the gates of useless pairs to exactly zero; the pairs with ``alpha != 0`` are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from searchengine.models.interaction.pairs import PairwiseProducts

__all__ = ["GatedPairs"]


class GatedPairs(nn.Module):
    """``sum_p alpha_p * BN(w_p * <e_i, e_j>_p)`` over the given pairs.

    Args:
        pairs: ``(i, j)`` positions into the input's field axis.
        n_fields: the size of the input's field axis.
        init: the initial value of every gate (AutoFIS: 0.6).
        weights: FwFM's per-pair weights ``w_p`` to keep (``(P,)``), or None.

    Attributes:
        alpha: ``(P,)`` the gates, the architecture weights a search trains.

    Shapes:
        ``(B, F, D)`` -> ``(B,)``.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[int, int]],
        n_fields: int,
        *,
        init: float = 0.6,
        weights: Tensor | None = None,
    ) -> None:
        super().__init__()
        if not pairs:
            raise ValueError("pairs must be non-empty")
        self.pairs = [(int(i), int(j)) for i, j in pairs]
        self.products = PairwiseProducts(self.pairs, n_fields)
        self.norm = nn.BatchNorm1d(len(self.pairs), affine=False)
        self.alpha = nn.Parameter(torch.full((len(self.pairs),), float(init)))  # (P,)
        self.weights = None if weights is None else nn.Parameter(weights.detach().clone())

    def forward(self, e: Tensor) -> Tensor:
        """Return the gated interaction logit ``(B,)``."""
        products = self.products(e)  # (B, P)
        if self.weights is not None:
            products = products * self.weights
        return (self.norm(products) * self.alpha).sum(dim=1)  # (B,)

    def kept(self) -> list[bool]:
        """Whether each pair's gate is non-zero, in the order of ``pairs``."""
        return [bool(a != 0.0) for a in self.alpha.detach().tolist()]
