"""AutoInt's interacting layer: multi-head self-attention over field vectors (CIKM'19)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["SelfAttention"]


class SelfAttention(nn.Module):
    """One interacting layer: each field attends to every field.

    Head ``h`` maps the fields ``e`` ``(F, D)`` to queries, keys and values
    ``e W_h^{Q,K,V}`` ``(F, d)``; field ``i``'s output is
    ``sum_j softmax_j(<q_i, k_j>) v_j``. The heads' outputs are concatenated to
    ``(F, H d)``; with ``residual`` the map ``e W^{res}`` is added; then a ReLU.

    Args:
        in_dim: ``D``, the width of the input field vectors.
        heads: ``H``.
        dim: ``d``, the width of each head.
        residual: add ``e W^{res}``.

    Attributes:
        out_dim: ``H * d``.

    Shapes:
        ``(B, F, D)`` -> ``(B, F, H d)``.
    """

    def __init__(self, in_dim: int, heads: int, dim: int, *, residual: bool = True) -> None:
        super().__init__()
        self.heads, self.dim = heads, dim
        self.out_dim = heads * dim
        self.query = nn.Linear(in_dim, self.out_dim, bias=False)
        self.key = nn.Linear(in_dim, self.out_dim, bias=False)
        self.value = nn.Linear(in_dim, self.out_dim, bias=False)
        self.residual = nn.Linear(in_dim, self.out_dim, bias=False) if residual else None
        for linear in (self.query, self.key, self.value, self.residual):
            if linear is not None:
                nn.init.normal_(linear.weight, std=1.0 / math.sqrt(in_dim))

    def forward(self, e: Tensor) -> Tensor:
        b, f, _ = e.shape
        q, k, v = (self._split(m(e), b, f) for m in (self.query, self.key, self.value))
        weights = torch.softmax(q @ k.transpose(-1, -2), dim=-1)  # (B, H, F, F)
        out = (weights @ v).transpose(1, 2).reshape(b, f, self.out_dim)  # (B, F, H d)
        if self.residual is not None:
            out = out + self.residual(e)
        return torch.relu(out)

    def _split(self, x: Tensor, b: int, f: int) -> Tensor:
        return x.view(b, f, self.heads, self.dim).transpose(1, 2)  # (B, H, F, d)

    def flops(self, fields: int, in_dim: int) -> int:
        """Multiply-adds count 2, per example of ``fields`` fields of width ``in_dim``."""
        maps = (4 if self.residual is not None else 3) * 2 * fields * in_dim * self.out_dim
        attention = 2 * 2 * fields * fields * self.out_dim + 3 * self.heads * fields * fields
        return maps + attention + 2 * fields * self.out_dim
