"""Numerical fields as embeddings: the ``scalar``, ``bucket`` and ``autodis`` methods,
and the ``raw`` method, which embeds nothing.

Every vector method turns a numerical field's transformed value ``x`` into a vector of
the field's width, and gives a missing value its own learned vector ``m_f``:

* ``scalar`` (normalization): ``x * v_f``, one learned vector scaled by the value.
* ``bucket`` (discretization): the value's bucket looks up one of ``count`` learned
  vectors. The boundaries come from the train split's quantiles kept in the schema
  (:attr:`FieldInfo.quantiles`): equal ``width``, equal ``frequency`` or ``log`` (widths
  growing geometrically from the minimum, for heavy-tailed counts). They are a buffer of
  the module, so a saved state dict carries them.
* ``autodis`` (AutoDis, KDD'21): see :mod:`searchengine.models.embedding.autodis`.

``raw`` fields get no vector (:data:`VECTOR_METHODS` are the others): their value enters
the first-order term (with its learned missing weight) and, in backbones with a deep part
(wide_deep, deepfm, dcn), one input of the MLP or cross network each (:class:`RawValues`;
0, the standardized mean, where missing), as DeepCTR's ``DenseFeat``. They take no part in
pairs, feature groups or any other interaction of vectors, and their width is unused; they
hold no embedding parameter.

All fields of one width and one method are handled by one module, in batched ops.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import torch
from torch import Tensor, nn

from searchengine.data.schema import QUANTILES, DataSchema, FieldInfo
from searchengine.errors import SpecIssue, did_you_mean
from searchengine.models.embedding.fused import EMBEDDING_INIT_STD
from searchengine.spec.format import EmbeddingSpec
from searchengine.spec.vocabulary import (
    AGGREGATIONS,
    BUCKET_METHODS,
    NUMERICAL_METHODS,
    RAW,
    VECTOR_METHODS,
    literal_raw,
)

__all__ = [
    "AGGREGATIONS",
    "BUCKET_METHODS",
    "NUMERICAL_METHODS",
    "RAW",
    "VECTOR_METHODS",
    "AutoDisConfig",
    "BucketConfig",
    "BucketEmbedding",
    "NumericalConfig",
    "RawValues",
    "ScalarEmbedding",
    "bucket_boundaries",
    "literal_raw",
]

_log = logging.getLogger(__name__)

# Quantiles assumed for a field without train statistics (a schema built by hand): a
# uniform spread over [-3, 3], the range of most standardized values.
_PLACEHOLDER_QUANTILES = np.linspace(-3.0, 3.0, QUANTILES)


@dataclass(frozen=True)
class BucketConfig:
    """``bucket``: how many buckets per field and how their boundaries are placed."""

    count: int = 10
    method: str = "frequency"


@dataclass(frozen=True)
class AutoDisConfig:
    """``autodis``: meta-embeddings ``H``, softmax temperature, aggregation and its K."""

    meta: int = 16
    temperature: float = 1.0
    aggregation: str = "weighted"
    topk: int = 2


@dataclass(frozen=True)
class NumericalConfig:
    """How each numerical field is embedded.

    Attributes:
        methods: numerical field name -> ``scalar``, ``bucket``, ``autodis``, ``raw`` (or
            ``mixed``, the relaxation a differentiable strategy trains, see
            :mod:`~searchengine.models.embedding.numerical_methods`); fields not listed
            are ``scalar``.
        bucket: the settings of every ``bucket`` field.
        autodis: the settings of every ``autodis`` field.
    """

    methods: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    bucket: BucketConfig = BucketConfig()
    autodis: AutoDisConfig = AutoDisConfig()

    def method(self, name: str) -> str:
        """The method of numerical field ``name``."""
        return self.methods.get(name, "scalar")

    def is_raw(self, name: str) -> bool:
        """Whether numerical field ``name`` is read raw (no vector)."""
        return self.methods.get(name) == RAW

    def raw_fields(self, schema: DataSchema) -> list[FieldInfo]:
        """The numerical fields read raw, in schema order."""
        return [f for f in schema.numerical if self.is_raw(f.name)]

    @classmethod
    def resolve(
        cls, embedding: EmbeddingSpec, schema: DataSchema, issues: list[SpecIssue]
    ) -> NumericalConfig:
        """The config of a concrete ``model.embedding``; problems are added to ``issues``
        (unknown fields and names, with "did you mean")."""
        path = "model.embedding"
        names = [f.name for f in schema.numerical]
        chosen = embedding.numerical
        if isinstance(chosen, Mapping):
            for key in chosen:
                if key not in names:
                    where = f"{path}.numerical[{key}]"
                    issues.append(SpecIssue(where, _not_numerical(key, schema)))
            methods = {n: str(chosen.get(n, "scalar")) for n in names}
            paths = {n: f"{path}.numerical[{n}]" for n in names}
        else:
            methods = dict.fromkeys(names, str(chosen))
            paths = dict.fromkeys(names, f"{path}.numerical")
        checks = [(paths[n], "numerical method", m, NUMERICAL_METHODS) for n, m in methods.items()]
        checks += [
            (f"{path}.bucket.method", "bucket method", embedding.bucket.method, BUCKET_METHODS),
            (f"{path}.autodis.aggregation", "aggregation", embedding.autodis.aggregation,
             AGGREGATIONS),
        ]  # fmt: skip
        for where, kind, value, known in dict.fromkeys(checks):
            if value not in known:
                issues.append(SpecIssue(where, unknown_name(kind, value, known)))
        autodis = embedding.autodis
        return cls(
            MappingProxyType(methods),
            BucketConfig(int(embedding.bucket.count), str(embedding.bucket.method)),
            AutoDisConfig(
                int(autodis.meta),
                float(autodis.temperature),
                str(autodis.aggregation),
                int(autodis.topk),
            ),
        )


def unknown_name(kind: str, value: object, known: Sequence[str]) -> str:
    """``unknown bucket method 'widht'; did you mean 'width'? (choices: ...)``."""
    choices = ", ".join(known)
    return f"unknown {kind} {value!r}{did_you_mean(str(value), known)} (choices: {choices})"


def _not_numerical(name: str, schema: DataSchema) -> str:
    numerical = [f.name for f in schema.numerical]
    if name in schema.names:
        return (
            f"{name!r} is categorical; only numerical fields ({', '.join(numerical)}) "
            "have a method"
        )
    return f"no numerical field {name!r} in the data{did_you_mean(name, numerical)}"


def _leading(columns: Sequence[int]) -> bool:
    return list(columns) == list(range(len(columns)))


def select_columns(
    num: Tensor, num_missing: Tensor, columns: Tensor, leading: bool
) -> tuple[Tensor, Tensor]:
    """The ``(B, F)`` values and missing mask of the fields at ``columns``.

    ``leading``: the fields are columns ``0..F-1``; when ``num`` has no others, no gather
    is needed.
    """
    if leading and num.shape[1] == columns.shape[0]:
        return num, num_missing
    return num.index_select(1, columns), num_missing.index_select(1, columns)  # (B, F)


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
        self._leading_columns = _leading(columns)

    def forward(self, num: Tensor, num_missing: Tensor) -> Tensor:
        """Embed ``(B, N)`` values; return ``(B, F, dim)``."""
        x, missing = select_columns(num, num_missing, self.columns, self._leading_columns)
        scaled = x.unsqueeze(-1) * self.weight  # (B, F, D)
        return torch.where(missing.unsqueeze(-1), self.missing, scaled)  # (B, F, D)

    @staticmethod
    def count_params(n_fields: int, dim: int) -> int:
        """The number of weights: a value vector and a missing vector per field."""
        return 2 * n_fields * dim


class RawValues(nn.Module):
    """The values of the ``raw`` numerical fields as a dense input: ``(B, R)``.

    The encoded values are 0 where missing (the standardized mean), so a missing value
    reads as 0; the first-order term has a learned weight for it.

    Args:
        columns: for each raw field, its column in the ``num`` input.

    Shapes:
        ``num`` ``(B, N)`` float -> ``(B, R)``.
    """

    def __init__(self, columns: Sequence[int]) -> None:
        super().__init__()
        if not columns:
            raise ValueError("columns must be non-empty")
        self.out_dim = len(columns)
        self.register_buffer("columns", torch.tensor(list(columns), dtype=torch.long))
        self._leading_columns = _leading(columns)

    def forward(self, num: Tensor) -> Tensor:
        """The raw fields' values, ``(B, R)``."""
        if self._leading_columns and num.shape[1] == self.out_dim:
            return num
        return num.index_select(1, self.columns)  # (B, R)

    @classmethod
    def of(cls, schema: DataSchema, config: NumericalConfig) -> RawValues | None:
        """The raw fields of ``schema`` under ``config``, or None if there are none."""
        raw = config.raw_fields(schema)
        return cls([f.column for f in raw]) if raw else None


def bucket_boundaries(quantiles: np.ndarray | None, count: int, method: str) -> np.ndarray:
    """The ``count - 1`` inner boundaries of ``count`` buckets over a field's values.

    Args:
        quantiles: the field's train quantiles at 0%, 1%, ..., 100%
            (:attr:`FieldInfo.quantiles`); None: a placeholder spread over [-3, 3].
        count: the number of buckets, >= 1.
        method: ``width`` (equal width between the minimum and the maximum),
            ``frequency`` (equal train frequency, interpolated between quantiles) or
            ``log`` (``min + expm1(i / count * log1p(max - min))``: widths growing
            geometrically from the minimum).

    Returns:
        ``(count - 1,)`` float64, non-decreasing. Bucket ``i`` holds the values in
        ``[b[i-1], b[i])``; values below the first boundary are in bucket 0, values at or
        above the last in bucket ``count - 1``.

    Raises:
        ValueError: for ``count < 1`` or an unknown method.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    q = _PLACEHOLDER_QUANTILES if quantiles is None else np.asarray(quantiles, np.float64)
    lo, hi = float(q[0]), float(q[-1])
    steps = np.arange(1, count, dtype=np.float64) / count  # (count - 1,)
    if method == "width":
        return lo + (hi - lo) * steps
    if method == "frequency":
        return np.interp(steps, np.linspace(0.0, 1.0, len(q)), q)
    if method == "log":
        return lo + np.expm1(steps * np.log1p(hi - lo))
    raise ValueError(f"unknown bucket method {method!r}; expected one of {BUCKET_METHODS}")


class BucketEmbedding(nn.Module):
    """Bucketized embeddings of several numerical fields of one width.

    Args:
        fields: the numerical fields (their ``column`` and ``quantiles`` are used).
        dim: the width of every field's vectors.
        config: the number of buckets and the boundary method.
        init_std: standard deviation of the normal initialization.

    Shapes:
        ``num`` ``(B, N)`` float, ``num_missing`` ``(B, N)`` bool -> ``(B, F, dim)``.
    """

    def __init__(
        self,
        fields: Sequence[FieldInfo],
        dim: int,
        config: BucketConfig,
        *,
        init_std: float = EMBEDDING_INIT_STD,
    ) -> None:
        super().__init__()
        if not fields:
            raise ValueError("fields must be non-empty")
        n, count = len(fields), config.count
        for f in fields:
            if f.quantiles is None:
                _log.info("%s has no train quantiles: placeholder bucket boundaries", f.name)
        bounds = [bucket_boundaries(f.quantiles, count, config.method) for f in fields]
        self.dim, self.count = dim, count
        # Rows 0..count-1 are the buckets, row `count` the missing value.
        self.weight = nn.Parameter(torch.randn(n, count + 1, dim) * init_std)  # (F, n+1, D)
        self.register_buffer(
            "boundaries", torch.tensor(np.stack(bounds), dtype=torch.float32)
        )  # (F, n-1)
        self.register_buffer("offsets", torch.arange(n, dtype=torch.long) * (count + 1))
        columns = [f.column for f in fields]
        self.register_buffer("columns", torch.tensor(columns, dtype=torch.long))
        self._leading_columns = _leading(columns)

    def bucket_ids(self, num: Tensor, num_missing: Tensor) -> Tensor:
        """The bucket of each value, ``count`` where missing: ``(B, F)`` int64."""
        x, missing = select_columns(num, num_missing, self.columns, self._leading_columns)
        ids = torch.searchsorted(self.boundaries, x.t().contiguous(), right=True).t()  # (B, F)
        return ids.masked_fill(missing, self.count)  # (B, F)

    def forward(self, num: Tensor, num_missing: Tensor) -> Tensor:
        """Embed ``(B, N)`` values; return ``(B, F, dim)``."""
        rows = self.bucket_ids(num, num_missing) + self.offsets  # (B, F)
        return nn.functional.embedding(rows, self.weight.flatten(0, 1))  # (B, F, D)

    @staticmethod
    def count_params(n_fields: int, dim: int, count: int) -> int:
        """The number of weights: ``count`` bucket vectors and a missing vector per field."""
        return n_fields * (count + 1) * dim
