"""Numerical fields as embeddings: the "scalar" method.

A numerical field ``f`` with transformed value ``x`` becomes ``x * v_f``, a learned vector
scaled by the value; where the value is missing it becomes a separate learned vector
``m_f``. All numerical fields of one width are handled in one batched op.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from searchengine.models.embedding.fused import EMBEDDING_INIT_STD

__all__ = ["ScalarEmbedding"]


class ScalarEmbedding(nn.Module):
    """Scalar embeddings of several numerical fields of one width.

    Args:
        columns: for each field, its column in the ``num`` / ``num_missing`` inputs.
        dim: the width of every field's vectors.
        init_std: standard deviation of the normal initialization.

    Shapes:
        ``num`` ``(B, N)`` float, ``num_missing`` ``(B, N)`` bool -> ``(B, F, dim)``.
    """

    def __init__(
        self, columns: Sequence[int], dim: int, *, init_std: float = EMBEDDING_INIT_STD
    ) -> None:
        super().__init__()
        if not columns:
            raise ValueError("columns must be non-empty")
        self.dim = dim
        self.weight = nn.Parameter(torch.randn(len(columns), dim) * init_std)  # (F, D)
        self.missing = nn.Parameter(torch.randn(len(columns), dim) * init_std)  # (F, D)
        self.register_buffer("columns", torch.tensor(list(columns), dtype=torch.long))
        # When the fields are columns 0..F-1 and ``num`` has no others, skip the gather.
        self._leading_columns = list(columns) == list(range(len(columns)))

    def forward(self, num: Tensor, num_missing: Tensor) -> Tensor:
        """Embed ``(B, N)`` values; return ``(B, F, dim)``."""
        if not (self._leading_columns and num.shape[1] == self.weight.shape[0]):
            num = num.index_select(1, self.columns)  # (B, F)
            num_missing = num_missing.index_select(1, self.columns)  # (B, F)
        scaled = num.unsqueeze(-1) * self.weight  # (B, F, D)
        return torch.where(num_missing.unsqueeze(-1), self.missing, scaled)  # (B, F, D)

    @staticmethod
    def count_params(n_fields: int, dim: int) -> int:
        """The number of weights: a value vector and a missing vector per field."""
        return 2 * n_fields * dim
