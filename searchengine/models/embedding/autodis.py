"""AutoDis (Guo et al., KDD'21): numerical fields embedded by a learned soft
discretization.

Each field ``f`` holds ``H`` meta-embeddings ``M_f`` ``(H, D)``. Its value ``x`` goes
through a small network to ``H`` logits,

    h = LeakyReLU(w_f * x + b_f)            # (H,)
    x~ = W_f h + c_f + alpha * h            # (H,), a skip connection weighted by alpha

a softmax with temperature ``tau`` turns them into the soft discretization
``p = softmax(x~ / tau)``, and an aggregation turns ``p`` and ``M_f`` into the field's
vector:

* ``weighted``: ``sum_h p_h M_f[h]``, the probability-weighted average;
* ``max``: ``M_f[argmax p]``, the most likely meta-embedding;
* ``topk``: ``sum of M_f[h]`` over the ``K`` most likely ``h``.

``max`` and ``topk`` select, which has no gradient; they use a straight-through estimate:
each selected meta-embedding is scaled by ``p_h / stop_gradient(p_h)``, which is exactly 1
in the forward pass (the value is the selected meta-embedding(s), unscaled) while the
gradient reaches ``p`` and through it the discretization network. So every aggregation
is differentiable end to end.

The network has biases (``b_f``, ``c_f``), as the reference implementations do: without
them every logit is 0 at ``x = 0`` and the argmax can only change sign at 0. A missing
value gets its own learned vector. All fields of one width are one module: every step is
a batched op over ``(B, F, H)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from searchengine.models.embedding.fused import EMBEDDING_INIT_STD
from searchengine.models.embedding.numerical import AGGREGATIONS, AutoDisConfig, select_columns

__all__ = ["SKIP_ALPHA", "AutoDisEmbedding"]

#: ``alpha``, the weight of the skip connection of the discretization network.
SKIP_ALPHA = 0.1
_NEGATIVE_SLOPE = 0.01


class AutoDisEmbedding(nn.Module):
    """AutoDis embeddings of several numerical fields of one width.

    Args:
        columns: for each field, its column in the ``num`` / ``num_missing`` inputs.
        dim: the width of every field's vectors.
        config: ``H`` (meta), the temperature, the aggregation and its K (capped at H).
        init_std: standard deviation of the normal initialization of the meta-embeddings
            and the missing vectors.

    Raises:
        ValueError: for no columns, ``H < 1``, a temperature <= 0 or an unknown
            aggregation.

    Shapes:
        ``num`` ``(B, N)`` float, ``num_missing`` ``(B, N)`` bool -> ``(B, F, dim)``.
    """

    def __init__(
        self,
        columns: Sequence[int],
        dim: int,
        config: AutoDisConfig,
        *,
        init_std: float = EMBEDDING_INIT_STD,
    ) -> None:
        super().__init__()
        if not columns:
            raise ValueError("columns must be non-empty")
        if config.meta < 1 or not config.temperature > 0:
            raise ValueError(f"need meta >= 1 and temperature > 0, got {config}")
        if config.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {config.aggregation!r}")
        n, h = len(columns), config.meta
        self.dim, self.meta, self.temperature = dim, h, float(config.temperature)
        self.aggregation = config.aggregation
        self.k = 1 if config.aggregation == "max" else max(1, min(config.topk, h))
        # The initialization of nn.Linear(1, H) and nn.Linear(H, H), per field.
        bound = 1.0 / math.sqrt(h)
        self.w = nn.Parameter(torch.empty(n, h).uniform_(-1.0, 1.0))  # (F, H)
        self.b = nn.Parameter(torch.empty(n, h).uniform_(-1.0, 1.0))  # (F, H)
        self.W = nn.Parameter(torch.empty(n, h, h).uniform_(-bound, bound))  # (F, H, H)
        self.c = nn.Parameter(torch.empty(n, h).uniform_(-bound, bound))  # (F, H)
        self.meta_embeddings = nn.Parameter(torch.randn(n, h, dim) * init_std)  # (F, H, D)
        self.missing = nn.Parameter(torch.randn(n, dim) * init_std)  # (F, D)
        self.register_buffer("offsets", torch.arange(n, dtype=torch.long) * h)
        self.register_buffer("columns", torch.tensor(list(columns), dtype=torch.long))
        self._leading_columns = list(columns) == list(range(n))

    def probabilities(self, x: Tensor) -> Tensor:
        """The soft discretization of ``(B, F)`` values: ``(B, F, H)``, rows sum to 1."""
        h = nn.functional.leaky_relu(
            x.unsqueeze(-1) * self.w + self.b, _NEGATIVE_SLOPE
        )  # (B, F, H)
        logits = torch.einsum("bfh,fhk->bfk", h, self.W) + self.c + SKIP_ALPHA * h  # (B, F, H)
        return torch.softmax(logits / self.temperature, dim=-1)  # (B, F, H)

    def forward(self, num: Tensor, num_missing: Tensor) -> Tensor:
        """Embed ``(B, N)`` values; return ``(B, F, dim)``."""
        x, missing = select_columns(num, num_missing, self.columns, self._leading_columns)
        p = self.probabilities(x)  # (B, F, H)
        if self.aggregation == "weighted":
            e = torch.einsum("bfh,fhd->bfd", p, self.meta_embeddings)  # (B, F, D)
        else:
            top, index = p.topk(self.k, dim=-1)  # (B, F, K)
            top = top.clamp_min(torch.finfo(top.dtype).tiny)
            scale = top / top.detach()  # (B, F, K): 1 forward, d/dp backward
            rows = index + self.offsets.unsqueeze(-1)  # (B, F, K)
            chosen = nn.functional.embedding(
                rows, self.meta_embeddings.flatten(0, 1)
            )  # (B, F, K, D)
            e = (scale.unsqueeze(-1) * chosen).sum(dim=2)  # (B, F, D)
        return torch.where(missing.unsqueeze(-1), self.missing, e)  # (B, F, D)

    @staticmethod
    def count_params(n_fields: int, dim: int, meta: int) -> int:
        """The number of weights per field: ``H * D`` meta-embeddings, the network's
        ``H * H + 3 * H`` (w, b, W, c) and a ``D`` missing vector."""
        return n_fields * (meta * dim + meta * meta + 3 * meta + dim)
