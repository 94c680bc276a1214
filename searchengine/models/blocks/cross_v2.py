"""``cross_v2``: DCN-V2 cross layers (full-rank) over a dense vector."""

from __future__ import annotations

from torch import Tensor

from searchengine.models.blocks.base import BLOCKS, Block, Shape
from searchengine.models.interaction import CrossNetworkV2

__all__ = ["CrossV2Block"]


@BLOCKS.register("cross_v2")
class CrossV2Block(Block):
    """``layers`` cross layers ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l`` with a full-rank
    ``W_l`` (DCN-V2).

    Args:
        shape: ``dense`` ``(d,)``.
        layers: cross layers.

    Shapes:
        ``(B, d)`` -> ``(B, d)``.
    """

    input_kind = "dense"
    output_kind = "dense"
    hyperparameters = ("layers",)
    description = "DCN-V2 cross layers: full-rank explicit feature crossing"

    def __init__(self, shape: Shape, *, layers: int) -> None:
        super().__init__(shape)
        self.cross = CrossNetworkV2(shape.size, layers)
        self.out_shape = Shape("dense", shape.size)

    def forward(self, x: Tensor) -> Tensor:
        return self.cross(x)  # (B, d)

    def flops(self) -> int:
        return self.cross.flops()
