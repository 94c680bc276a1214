"""``mlp``: fully connected layers over a dense vector."""

from __future__ import annotations

from torch import Tensor

from searchengine.models.blocks.base import BLOCKS, Block, Shape
from searchengine.models.layers import MLP

__all__ = ["MLPBlock"]


@BLOCKS.register("mlp")
class MLPBlock(Block):
    """``layers`` hidden layers ``Linear -> ReLU`` of ``width`` units.

    Args:
        shape: ``dense`` ``(d,)``.
        width: units per layer.
        layers: hidden layers.

    Shapes:
        ``(B, d)`` -> ``(B, width)``.
    """

    input_kind = "dense"
    output_kind = "dense"
    hyperparameters = ("width", "layers")
    description = "fully connected layers (ReLU)"

    def __init__(self, shape: Shape, *, width: int, layers: int) -> None:
        super().__init__(shape)
        self.mlp = MLP(shape.size, [width] * layers)
        self.out_shape = Shape("dense", width)
        self._sizes = [shape.size] + [width] * layers

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)  # (B, width)

    def flops(self) -> int:
        # a multiply-add per weight, a bias add and a ReLU per unit
        return sum(2 * a * b + 2 * b for a, b in zip(self._sizes, self._sizes[1:], strict=False))
