"""``fm``: the factorization machine's pairwise interaction, kept per embedding dimension."""

from __future__ import annotations

from torch import Tensor

from searchengine.models.blocks.base import BLOCKS, Block, Shape

__all__ = ["FMBlock"]


@BLOCKS.register("fm")
class FMBlock(Block):
    """``sum_{i<j} e_i * e_j`` (element-wise), by the FM identity
    ``((sum_i e_i)^2 - sum_i e_i^2) / 2``: an FM whose last sum over the embedding
    dimension is left to the next block (NFM's bi-interaction).

    Args:
        shape: ``fields`` ``(F, D)``.

    Shapes:
        ``(B, F, D)`` -> ``(B, D)``.
    """

    input_kind = "fields"
    output_kind = "dense"
    description = "factorization machine: the sum of pairwise element-wise products"

    def __init__(self, shape: Shape) -> None:
        super().__init__(shape)
        self.out_shape = Shape("dense", shape.dim)
        self._numel = shape.numel

    def forward(self, x: Tensor) -> Tensor:
        total = x.sum(dim=1)  # (B, D)
        return 0.5 * (total.square() - x.square().sum(dim=1))  # (B, D)

    def flops(self) -> int:
        return 3 * self._numel + 3 * self.out_shape.size
