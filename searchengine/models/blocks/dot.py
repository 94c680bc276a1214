"""``dot``: the pairwise inner products of field vectors (DLRM's interaction)."""

from __future__ import annotations

import torch
from torch import Tensor

from searchengine.models.blocks.base import BLOCKS, Block, Shape

__all__ = ["DotBlock"]


@BLOCKS.register("dot")
class DotBlock(Block):
    """``<e_i, e_j>`` for every pair ``i < j`` of the input's fields.

    A single field has no pair: its output is then its squared norm.

    Args:
        shape: ``fields`` ``(F, D)``.

    Shapes:
        ``(B, F, D)`` -> ``(B, F (F - 1) / 2)`` (``(B, 1)`` for ``F = 1``).
    """

    input_kind = "fields"
    output_kind = "dense"
    description = "pairwise inner products of the field vectors"

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        n = shape.size
        rows, cols = torch.triu_indices(n, n, offset=1 if n > 1 else 0)
        self.register_buffer("flat", rows * n + cols, persistent=False)  # (P,)
        self.out_shape = Shape("dense", int(rows.numel()))
        self._dim = shape.dim

    def forward(self, x: Tensor) -> Tensor:
        gram = torch.bmm(x, x.transpose(1, 2))  # (B, F, F)
        return gram.flatten(1).index_select(1, self.flat)  # (B, P)

    def flops(self) -> int:
        return 2 * self.out_shape.size * self._dim
