"""The cross network of DCN (Deep & Cross Network, ADKDD'17)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["CrossNetwork"]


class CrossNetwork(nn.Module):
    """``x_{l+1} = x_0 * (x_l . w_l) + b_l + x_l`` for ``l = 0 .. layers-1``.

    Each layer adds one degree of explicit feature crossing at the cost of ``2 K``
    parameters.

    Args:
        in_dim: the width ``K`` of ``x_0``.
        layers: the number of cross layers (0 returns ``x_0``).

    Shapes:
        ``(B, K)`` -> ``(B, K)``.
    """

    def __init__(self, in_dim: int, layers: int) -> None:
        super().__init__()
        # Xavier-normal for a (K, 1) kernel, as DCN implementations use.
        std = math.sqrt(2.0 / (in_dim + 1))
        self.weight = nn.Parameter(torch.randn(layers, in_dim) * std)  # (L, K)
        self.bias = nn.Parameter(torch.zeros(layers, in_dim))  # (L, K)

    def forward(self, x0: Tensor) -> Tensor:
        """Cross ``(B, K)`` with itself; return ``(B, K)``."""
        x = x0
        for w, b in zip(self.weight, self.bias, strict=True):
            x = x0 * (x @ w).unsqueeze(1) + b + x  # (B, K)
        return x
