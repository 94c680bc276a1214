"""``attention``: AutoInt's multi-head self-attention over field vectors."""

from __future__ import annotations

from torch import Tensor, nn

from searchengine.models.blocks.base import BLOCKS, Block, Shape
from searchengine.models.interaction import SelfAttention

__all__ = ["AttentionBlock"]


@BLOCKS.register("attention")
class AttentionBlock(Block):
    """``layers`` interacting layers (AutoInt): each field attends to every field, with
    a residual map and a ReLU. Two heads of width ``D / 2`` (one of width ``D`` for an
    odd ``D``), so the output keeps the width ``D`` of the DAG's field vectors.

    Args:
        shape: ``fields`` ``(F, D)``.
        layers: attention layers.

    Shapes:
        ``(B, F, D)`` -> ``(B, F, D)``.
    """

    input_kind = "fields"
    output_kind = "fields"
    hyperparameters = ("layers",)
    description = "multi-head self-attention over the field vectors (AutoInt)"

    def __init__(self, shape: Shape, *, layers: int) -> None:
        super().__init__(shape)
        heads = 2 if shape.dim % 2 == 0 else 1
        self.layers = nn.Sequential(
            *(SelfAttention(shape.dim, heads, shape.dim // heads) for _ in range(layers))
        )
        self.out_shape = Shape("fields", shape.size, shape.dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # (B, F, D)

    def flops(self) -> int:
        size, dim = self.out_shape.size, self.out_shape.dim
        return sum(layer.flops(size, dim) for layer in self.layers)
