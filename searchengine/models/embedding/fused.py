"""Fused embedding tables: many categorical fields, one lookup.

Instead of one ``nn.Embedding`` per field, the fields that share a width live in one table,
each in its own block of rows. A batch of ids ``(B, F)`` is shifted by the per-field row
offsets and looked up at once, which is what makes a 39-field model fast on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["EMBEDDING_INIT_STD", "FusedEmbedding"]

#: Standard deviation of the normal initialization of embedding vectors. Small, as in
#: FuxiCTR/DeepCTR (which use 1e-4), but large enough that pairwise terms get a useful
#: gradient from the first step.
EMBEDDING_INIT_STD = 1e-2


class FusedEmbedding(nn.Module):
    """The embeddings of several categorical fields of one width, in one table.

    Args:
        columns: for each field, its column in the ``cat`` input.
        vocab_sizes: for each field, the number of ids (OOV id 0 included).
        dim: the width of every field's vectors; 1 gives first-order (linear) weights.
        sparse: sparse gradients for the table (for ``torch.optim.SparseAdam``).
        init_std: standard deviation of the normal initialization; 0 initializes zeros.

    Shapes:
        ``cat`` ``(B, C)`` int64 ids -> ``(B, F, dim)``, fields in the order given.
    """

    def __init__(
        self,
        columns: Sequence[int],
        vocab_sizes: Sequence[int],
        dim: int,
        *,
        sparse: bool = False,
        init_std: float = EMBEDDING_INIT_STD,
    ) -> None:
        super().__init__()
        if len(columns) != len(vocab_sizes) or not columns:
            raise ValueError("columns and vocab_sizes must be non-empty and of equal length")
        if min(vocab_sizes) < 1:
            raise ValueError(f"every vocab_size must be >= 1, got {list(vocab_sizes)}")
        offsets = [0]
        for size in vocab_sizes[:-1]:
            offsets.append(offsets[-1] + int(size))
        self.dim = dim
        self.vocab_sizes = [int(v) for v in vocab_sizes]
        self._offsets = offsets
        self.table = nn.Embedding(sum(self.vocab_sizes), dim, sparse=sparse)
        if init_std > 0:
            nn.init.normal_(self.table.weight, std=init_std)
        else:
            nn.init.zeros_(self.table.weight)
        self.register_buffer("columns", torch.tensor(list(columns), dtype=torch.long))
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long))
        # When the fields are columns 0..F-1 and ``cat`` has no others, skip the gather.
        self._leading_columns = list(columns) == list(range(len(columns)))

    def forward(self, cat: Tensor) -> Tensor:
        """Look up ``(B, C)`` ids; return ``(B, F, dim)``."""
        if not (self._leading_columns and cat.shape[1] == len(self.vocab_sizes)):
            cat = cat.index_select(1, self.columns)  # (B, F)
        return self.table(cat + self.offsets)  # (B, F, dim)

    def field_weight(self, i: int) -> Tensor:
        """The rows of field ``i`` (a view): ``(vocab_sizes[i], dim)``."""
        start = self._offsets[i]
        return self.table.weight[start : start + self.vocab_sizes[i]]

    @staticmethod
    def count_params(vocab_sizes: Sequence[int], dim: int) -> int:
        """The number of weights the table would hold."""
        return sum(int(v) for v in vocab_sizes) * dim
