"""The cross network of DCN-V2 (DCN-M, WWW'21), with its mixture of low-rank experts."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["CrossNetworkV2"]


def _normal(*shape: int, fan: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape) / math.sqrt(fan))


class CrossNetworkV2(nn.Module):
    """``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l`` for ``l = 0 .. layers-1``.

    With ``rank`` r > 0 each ``W`` is low rank, ``U_l V_l^T``. With ``experts`` K > 1
    each layer is a gated mixture (DCN-Mix):
    ``x_{l+1} = sum_k G_k(x_l) x_0 * (E_k(x_l) + b_lk) + x_l``, where
    ``G = softmax(x_l^T g_l)`` over the experts and each expert ``E_k`` is a full-rank
    ``W_k x`` or, with a rank, ``U_k tanh(C_k tanh(V_k^T x))``.

    Args:
        in_dim: the width ``K`` of ``x_0``.
        layers: cross layers (0 returns ``x_0``).
        experts: experts per layer.
        rank: the rank of each expert's map, 0 for a full-rank ``W``.

    Shapes:
        ``(B, K)`` -> ``(B, K)``.
    """

    def __init__(self, in_dim: int, layers: int, *, experts: int = 1, rank: int = 0) -> None:
        super().__init__()
        self.layers, self.experts, self.rank = layers, experts, rank
        shape = (layers, experts)
        if rank == 0:
            self.weight = _normal(*shape, in_dim, in_dim, fan=in_dim)  # (L, E, out, in)
        else:
            self.v = _normal(*shape, in_dim, rank, fan=in_dim)  # (L, E, K, r)
            self.u = _normal(*shape, rank, in_dim, fan=rank)  # (L, E, r, K)
            if experts > 1:
                self.c = _normal(*shape, rank, rank, fan=rank)  # (L, E, r, r)
        self.bias = nn.Parameter(torch.zeros(*shape, in_dim))  # (L, E, K)
        if experts > 1:
            self.gate = _normal(layers, in_dim, experts, fan=in_dim)  # (L, K, E)

    def forward(self, x0: Tensor) -> Tensor:
        """Cross ``(B, K)`` with itself; return ``(B, K)``."""
        x = x0
        for layer in range(self.layers):
            h = self._experts(x, layer) + self.bias[layer]  # (B, E, K)
            crossed = x0.unsqueeze(1) * h  # (B, E, K)
            if self.experts == 1:
                x = crossed[:, 0] + x
            else:
                g = torch.softmax(x @ self.gate[layer], dim=-1)  # (B, E)
                x = (g.unsqueeze(-1) * crossed).sum(dim=1) + x  # (B, K)
        return x

    def _experts(self, x: Tensor, layer: int) -> Tensor:
        """Every expert's map of ``x`` ``(B, K)``: ``(B, E, K)``."""
        b, k = x.shape
        if self.rank == 0:  # one GEMM for all experts
            w = self.weight[layer].permute(2, 0, 1).reshape(k, -1)  # (K_in, E K_out)
            return (x @ w.to(x.dtype)).view(b, self.experts, k)
        v = self.v[layer].permute(1, 0, 2).reshape(k, -1)  # (K, E r)
        h = (x @ v.to(x.dtype)).view(b, self.experts, self.rank)  # (B, E, r)
        if self.experts > 1:
            h = torch.tanh(torch.einsum("ber,ers->bes", torch.tanh(h), self.c[layer]))
        return torch.einsum("ber,erk->bek", h, self.u[layer])  # (B, E, K)

    def flops(self) -> int:
        """Multiply-adds count 2, per example."""
        k, e, r = self.bias.shape[-1], self.experts, self.rank
        expert = 2 * k * k if r == 0 else 4 * k * r + (2 * r * r if e > 1 else 0)
        gate = 2 * k * e + 2 * e * k if e > 1 else 0
        return self.layers * (e * (expert + 2 * k) + gate + k)
