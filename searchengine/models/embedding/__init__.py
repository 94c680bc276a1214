"""Field embeddings: fused categorical tables, numerical embeddings (scalar, bucket,
AutoDis; raw values for the deep part), mixed widths, pruned tables (PEP) and the
first-order (linear) terms."""

from __future__ import annotations

from searchengine.models.embedding.autodis import AutoDisEmbedding
from searchengine.models.embedding.fused import EMBEDDING_INIT_STD, FusedEmbedding
from searchengine.models.embedding.linear import FirstOrder
from searchengine.models.embedding.mixed_dim import FieldEmbedding
from searchengine.models.embedding.multisize import MultiSizeConfig, MultiSizeEmbedding
from searchengine.models.embedding.numerical import (
    AGGREGATIONS,
    BUCKET_METHODS,
    NUMERICAL_METHODS,
    RAW,
    VECTOR_METHODS,
    AutoDisConfig,
    BucketConfig,
    BucketEmbedding,
    NumericalConfig,
    RawValues,
    ScalarEmbedding,
)
from searchengine.models.embedding.numerical_methods import MIXED, MixedNumericalEmbedding
from searchengine.models.embedding.pruned import (
    PruneConfig,
    PrunedEmbedding,
    decode_mask,
    encode_mask,
)

__all__ = [
    "AGGREGATIONS",
    "BUCKET_METHODS",
    "EMBEDDING_INIT_STD",
    "NUMERICAL_METHODS",
    "RAW",
    "VECTOR_METHODS",
    "AutoDisConfig",
    "AutoDisEmbedding",
    "BucketConfig",
    "BucketEmbedding",
    "FieldEmbedding",
    "FirstOrder",
    "FusedEmbedding",
    "MIXED",
    "MixedNumericalEmbedding",
    "MultiSizeConfig",
    "MultiSizeEmbedding",
    "NumericalConfig",
    "PruneConfig",
    "PrunedEmbedding",
    "RawValues",
    "ScalarEmbedding",
    "decode_mask",
    "encode_mask",
]
