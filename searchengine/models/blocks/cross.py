"""``cross``: DCN cross layers over a dense vector."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from searchengine.models.blocks.base import BLOCKS, Block, Shape
from searchengine.models.interaction import CrossNetwork

__all__ = ["CrossBlock"]


@BLOCKS.register("cross")
class CrossBlock(Block):
    """``layers`` cross layers ``x_{l+1} = x_0 (x_l . w_l) + b_l + x_l`` (DCN).

    Args:
        shape: ``dense`` ``(d,)``.
        layers: cross layers.

    Shapes:
        ``(B, d)`` -> ``(B, d)``.
    """

    input_kind = "dense"
    output_kind = "dense"
    hyperparameters = ("layers",)
    description = "DCN cross layers: explicit bounded-degree feature crossing"
    #: The cross network the block wraps (``cross_v2`` swaps in DCN-V2's).
    network: ClassVar[type[nn.Module]] = CrossNetwork

    def __init__(self, shape: Shape, *, layers: int) -> None:
        super().__init__(shape)
        self.cross = self.network(shape.size, layers)
        self.out_shape = Shape("dense", shape.size)
        self._layers = layers

    def forward(self, x: Tensor) -> Tensor:
        return self.cross(x)  # (B, d)

    def flops(self) -> int:
        # x.w (2d), x0 * s (d), + b (d), + x (d), per layer
        return 5 * self.out_shape.size * self._layers
