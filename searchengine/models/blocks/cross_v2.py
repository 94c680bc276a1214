"""``cross_v2``: DCN-V2 cross layers (full-rank) over a dense vector."""

from __future__ import annotations

from searchengine.models.blocks.base import BLOCKS
from searchengine.models.blocks.cross import CrossBlock
from searchengine.models.interaction import CrossNetworkV2

__all__ = ["CrossV2Block"]


@BLOCKS.register("cross_v2")
class CrossV2Block(CrossBlock):
    """``layers`` cross layers ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l`` with a full-rank
    ``W_l`` (DCN-V2); the ``cross`` block with DCN-V2's network.

    Shapes:
        ``(B, d)`` -> ``(B, d)``.
    """

    description = "DCN-V2 cross layers: full-rank explicit feature crossing"
    network = CrossNetworkV2

    def flops(self) -> int:
        return self.cross.flops()
