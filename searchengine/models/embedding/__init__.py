"""Field embeddings: fused categorical tables, scalar numerical embeddings, mixed widths
and the first-order (linear) terms."""

from __future__ import annotations

from searchengine.models.embedding.fused import EMBEDDING_INIT_STD, FusedEmbedding
from searchengine.models.embedding.linear import FirstOrder
from searchengine.models.embedding.mixed_dim import FieldEmbedding
from searchengine.models.embedding.numerical import ScalarEmbedding

__all__ = [
    "EMBEDDING_INIT_STD",
    "FieldEmbedding",
    "FirstOrder",
    "FusedEmbedding",
    "ScalarEmbedding",
]
