"""First-order (linear) terms: one weight per categorical id and per numerical field."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from searchengine.data.schema import DataSchema
from searchengine.models.embedding.fused import FusedEmbedding

__all__ = ["FirstOrder"]


class FirstOrder(nn.Module):
    """``w0 + sum_f w_f(x_f)``: the "wide" / linear part of fm, fwfm, wide_deep, deepfm.

    Categorical fields share one fused 1-wide table; a numerical field contributes
    ``w_f * x`` where present and a learned ``w_f^missing`` where missing. Everything
    starts at zero, so the linear part starts neutral. These weights are not counted in
    ``embedding_params``.

    Args:
        schema: the fields.
        sparse: sparse gradients for the categorical table.

    Shapes:
        ``cat`` ``(B, C)``, ``num`` ``(B, N)``, ``num_missing`` ``(B, N)`` -> ``(B,)``.
    """

    def __init__(self, schema: DataSchema, *, sparse: bool = False) -> None:
        super().__init__()
        cat_fields, num_fields = schema.categorical, schema.numerical
        self.bias = nn.Parameter(torch.zeros(()))
        self.table = (
            FusedEmbedding(
                [f.column for f in cat_fields],
                [f.vocab_size for f in cat_fields],
                1,
                sparse=sparse,
                init_std=0.0,
            )
            if cat_fields
            else None
        )
        n_num = len(num_fields)
        self.weight = nn.Parameter(torch.zeros(n_num)) if n_num else None  # (N,)
        self.missing = nn.Parameter(torch.zeros(n_num)) if n_num else None  # (N,)
        columns = [f.column for f in num_fields]
        self.register_buffer("num_columns", torch.tensor(columns, dtype=torch.long))
        self._leading_columns = columns == list(range(n_num))

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        """Return the linear logit ``(B,)``."""
        out = self.bias.expand(cat.shape[0])  # (B,)
        if self.table is not None:
            out = out + self.table(cat).sum(dim=(1, 2))  # (B,)
        if self.weight is not None and self.missing is not None:
            if not (self._leading_columns and num.shape[1] == self.weight.shape[0]):
                num = num.index_select(1, self.num_columns)  # (B, N)
                num_missing = num_missing.index_select(1, self.num_columns)  # (B, N)
            terms = torch.where(num_missing, self.missing, num * self.weight)  # (B, N)
            out = out + terms.sum(dim=1)  # (B,)
        return out
