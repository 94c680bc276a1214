"""``efc``: a fully connected map over the field axis (AutoCTR's embedded FC)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from searchengine.models.blocks.base import BLOCKS, Block, Shape

__all__ = ["EFCBlock"]


@BLOCKS.register("efc")
class EFCBlock(Block):
    """``out_k = sum_f W_kf e_f``: ``fields`` new field vectors, each a learned linear
    combination of the input's field vectors.

    Args:
        shape: ``fields`` ``(F, D)``.
        fields: ``F'``, the output fields.

    Shapes:
        ``(B, F, D)`` -> ``(B, F', D)``.
    """

    input_kind = "fields"
    output_kind = "fields"
    hyperparameters = ("fields",)
    description = "a fully connected map over the field axis of the embeddings"

    def __init__(self, shape: Shape, *, fields: int) -> None:
        super().__init__(shape)
        weight = torch.randn(fields, shape.size) / math.sqrt(shape.size)
        self.weight = nn.Parameter(weight)  # (F', F)
        self.out_shape = Shape("fields", fields, shape.dim)
        self._in_fields = shape.size

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("kf,bfd->bkd", self.weight, x)  # (B, F', D)

    def flops(self) -> int:
        return 2 * self.out_shape.numel * self._in_fields
