"""The numerical fields of one width, split by method: building and counting them.

:class:`~searchengine.models.embedding.FieldEmbedding` asks :func:`numerical_modules`
for the modules of a width group and :func:`count_numerical_params` for what they hold,
so that ``count_embedding_params`` never builds a module and always agrees with it.

Besides the user-facing methods there is the internal method :data:`MIXED`: the
continuous (DARTS-style) relaxation of the per-field choice that a differentiable
strategy trains. Each mixed field's vector is every vector method's vector (``raw`` has
none to mix) weighted by a softmax over the field's architecture weights ``alpha_f``
(:class:`MixedNumericalEmbedding`); the derived architecture keeps each field's most
weighted method. A strategy builds such
a supernet with ``NumericalConfig(methods={field: MIXED, ...})``; specs cannot name it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from searchengine.data.schema import FieldInfo
from searchengine.models.embedding.autodis import AutoDisEmbedding
from searchengine.models.embedding.numerical import (
    RAW,
    VECTOR_METHODS,
    BucketEmbedding,
    NumericalConfig,
    ScalarEmbedding,
)

__all__ = [
    "MIXED",
    "MixedNumericalEmbedding",
    "build_method",
    "by_method",
    "count_method",
    "count_numerical_params",
    "numerical_modules",
]

#: The internal method of a field whose method is relaxed into a mixture of all of them.
MIXED = "mixed"
_ALL = (*VECTOR_METHODS, MIXED)


def build_method(
    method: str, fields: Sequence[FieldInfo], dim: int, config: NumericalConfig
) -> nn.Module:
    """The module that embeds numerical ``fields`` of width ``dim`` by ``method``.

    Raises:
        ValueError: for an unknown method.
    """
    columns = [f.column for f in fields]
    if method == "scalar":
        return ScalarEmbedding(columns, dim)
    if method == "bucket":
        return BucketEmbedding(fields, dim, config.bucket)
    if method == "autodis":
        return AutoDisEmbedding(columns, dim, config.autodis)
    if method == MIXED:
        return MixedNumericalEmbedding(fields, dim, config)
    raise ValueError(f"unknown numerical method {method!r}; expected one of {_ALL}")


def count_method(method: str, n_fields: int, dim: int, config: NumericalConfig) -> int:
    """The weights :func:`build_method` would hold for ``n_fields`` fields."""
    if method == "scalar":
        return ScalarEmbedding.count_params(n_fields, dim)
    if method == "bucket":
        return BucketEmbedding.count_params(n_fields, dim, config.bucket.count)
    if method == "autodis":
        return AutoDisEmbedding.count_params(n_fields, dim, config.autodis.meta)
    if method == MIXED:
        return MixedNumericalEmbedding.count_params(n_fields, dim, config)
    raise ValueError(f"unknown numerical method {method!r}; expected one of {_ALL}")


def by_method(
    fields: Sequence[FieldInfo], config: NumericalConfig
) -> list[tuple[str, list[FieldInfo]]]:
    """The fields of each method that has any, methods in :data:`VECTOR_METHODS`
    order (then :data:`MIXED`), fields in the order given.

    Raises:
        ValueError: for a field whose method is unknown or ``raw`` (no vector to embed).
    """
    for f in fields:
        if config.method(f.name) == RAW:
            raise ValueError(f"{f.name} is a raw numerical field: it has no vector")
        if config.method(f.name) not in _ALL:
            raise ValueError(f"{f.name}: unknown numerical method {config.method(f.name)!r}")
    groups = [(m, [f for f in fields if config.method(f.name) == m]) for m in _ALL]
    return [(m, group) for m, group in groups if group]


def numerical_modules(
    fields: Sequence[FieldInfo], dim: int, config: NumericalConfig
) -> list[tuple[str, list[FieldInfo], nn.Module]]:
    """``(method, its fields, their module)`` for numerical ``fields`` of width ``dim``,
    in :func:`by_method` order."""
    return [
        (m, group, build_method(m, group, dim, config)) for m, group in by_method(fields, config)
    ]


def count_numerical_params(fields: Sequence[FieldInfo], dim: int, config: NumericalConfig) -> int:
    """What the modules of :func:`numerical_modules` hold, without building them."""
    return sum(count_method(m, len(group), dim, config) for m, group in by_method(fields, config))


class MixedNumericalEmbedding(nn.Module):
    """Every method's embedding of several numerical fields of one width, mixed per
    field by ``softmax(alpha_f)``.

    Args:
        fields: the numerical fields.
        dim: the width of every field's vectors.
        config: the bucket and autodis settings of the candidates.

    Attributes:
        alpha: ``(F, M)`` architecture weights over :data:`VECTOR_METHODS`, zero (a
            uniform mixture) at the start; a strategy trains them apart from the other
            weights (:meth:`architecture_parameters`), e.g. on the validation split.

    Shapes:
        ``num`` ``(B, N)`` float, ``num_missing`` ``(B, N)`` bool -> ``(B, F, dim)``.
    """

    def __init__(self, fields: Sequence[FieldInfo], dim: int, config: NumericalConfig) -> None:
        super().__init__()
        if not fields:
            raise ValueError("fields must be non-empty")
        self.field_names = [f.name for f in fields]
        self.methods = list(VECTOR_METHODS)
        self.candidates = nn.ModuleList(
            [build_method(m, fields, dim, config) for m in self.methods]
        )
        self.alpha = nn.Parameter(torch.zeros(len(fields), len(self.methods)))  # (F, M)

    def forward(self, num: Tensor, num_missing: Tensor) -> Tensor:
        """Embed ``(B, N)`` values; return ``(B, F, dim)``."""
        stacked = torch.stack([m(num, num_missing) for m in self.candidates], -1)  # (B, F, D, M)
        weights = torch.softmax(self.alpha, dim=-1)  # (F, M)
        return torch.einsum("bfdm,fm->bfd", stacked, weights)  # (B, F, D)

    def architecture_parameters(self) -> list[nn.Parameter]:
        """The mixture weights (not the embeddings)."""
        return [self.alpha]

    def derive(self) -> dict[str, str]:
        """Field name -> its most weighted method: the values of the
        ``model.embedding.numerical[field]`` decisions."""
        best = self.alpha.detach().argmax(dim=-1).tolist()
        return {name: self.methods[i] for name, i in zip(self.field_names, best, strict=True)}

    @staticmethod
    def count_params(n_fields: int, dim: int, config: NumericalConfig) -> int:
        """Every candidate's weights and the ``F * M`` mixture weights."""
        candidates = sum(count_method(m, n_fields, dim, config) for m in VECTOR_METHODS)
        return candidates + n_fields * len(VECTOR_METHODS)
