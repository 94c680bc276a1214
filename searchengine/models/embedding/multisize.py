"""NIS multi-size embeddings (Joglekar et al., KDD'20): frequent ids get more blocks.

A categorical field's ids are ranked by their train frequency (``FieldInfo.counts``, ties
by id; without counts, by id) and cut into ``B`` buckets of *equal id count*: bucket 0
holds the most frequent ``V / B`` ids (the first ``V mod B`` buckets one id more, as
``numpy.array_split`` cuts). The embedding of every id is ``K`` blocks of width ``c``, a
vector of width ``K * c``; the ids of bucket ``b`` use only its first ``s_b`` blocks and
the rest of their vector is zero. ``s_b = 0`` means the ids of bucket ``b`` share one
full-width vector (as an out-of-vocabulary id would).

Only the blocks in use are stored, in one table of blocks of width ``c``: each id of a
bucket with ``s_b > 0`` owns ``s_b`` consecutive rows, and each non-empty bucket with
``s_b = 0`` owns ``K`` rows shared by its ids. A field therefore holds exactly

    sum over buckets b of  n_b * s_b * c   (s_b > 0)
                        or K * c          (s_b = 0, n_b > 0)

weights, ``n_b`` the ids of bucket ``b``; :func:`field_params` computes it from the
vocabulary size alone, so constraint checks need no counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from torch import Tensor, nn

from searchengine.data.schema import DataSchema, FieldInfo
from searchengine.errors import SpecIssue, did_you_mean
from searchengine.models.embedding.fused import EMBEDDING_INIT_STD

__all__ = [
    "MultiSizeConfig",
    "MultiSizeEmbedding",
    "bucket_of_ids",
    "bucket_sizes",
    "field_params",
]


@dataclass(frozen=True)
class MultiSizeConfig:
    """The resolved ``model.embedding.multisize``: blocks per bucket for every field.

    Attributes:
        buckets: frequency buckets per field (``B``).
        chunk: the block width (``c``).
        chunks: the blocks of a full-width vector (``K``).
        sizes: field name -> blocks used by each bucket, head (most frequent) first.
    """

    buckets: int
    chunk: int
    chunks: int
    sizes: Mapping[str, tuple[int, ...]]

    @property
    def width(self) -> int:
        """The width of every multi-size field's vectors, ``K * c``."""
        return self.chunk * self.chunks

    @classmethod
    def from_spec(
        cls, spec: object, schema: DataSchema, issues: list[SpecIssue]
    ) -> MultiSizeConfig | None:
        """Resolve a concrete ``MultiSizeSpec`` (or None) against ``schema``.

        Problems (unknown, numerical or missing fields) are appended to ``issues``.

        Raises:
            ValueError: if ``spec`` has no ``sizes``: it must be sampled first.
        """
        if spec is None:
            return None
        sizes = getattr(spec, "sizes", None)
        if sizes is None:
            raise ValueError("model.embedding.multisize has no sizes: sample it before building")
        categorical = [f.name for f in schema.categorical]
        path = "model.embedding.multisize.sizes"
        for name in sizes:
            if name not in categorical:
                issues.append(
                    SpecIssue(
                        f"{path}[{name}]",
                        f"no categorical field {name!r} in the data"
                        f"{did_you_mean(name, categorical)}",
                    )
                )
        missing = [name for name in categorical if name not in sizes]
        if missing:
            issues.append(SpecIssue(path, f"no sizes for the field(s) {', '.join(missing)}"))
        resolved = {n: tuple(int(s) for s in sizes[n]) for n in categorical if n in sizes}
        return cls(
            int(spec.buckets),  # type: ignore[attr-defined]
            int(spec.chunk),  # type: ignore[attr-defined]
            int(spec.chunks),  # type: ignore[attr-defined]
            MappingProxyType(resolved),
        )


def bucket_sizes(vocab_size: int, buckets: int) -> list[int]:
    """How many ids each bucket holds: equal counts, the first ``V mod B`` one more."""
    base, extra = divmod(int(vocab_size), int(buckets))
    return [base + (1 if b < extra else 0) for b in range(buckets)]


def bucket_of_ids(counts: np.ndarray | None, vocab_size: int, buckets: int) -> np.ndarray:
    """The bucket of every id, ``(vocab_size,)`` int64: ids ranked by train frequency
    (most frequent first, ties by id), cut into buckets of equal id count."""
    if counts is None:
        order = np.arange(vocab_size)
    else:
        order = np.argsort(-np.asarray(counts, dtype=np.float64)[:vocab_size], kind="stable")
    out = np.empty(vocab_size, dtype=np.int64)
    start = 0
    for b, n in enumerate(bucket_sizes(vocab_size, buckets)):
        out[order[start : start + n]] = b
        start += n
    return out


def field_params(vocab_size: int, sizes: Sequence[int], chunk: int, chunks: int) -> int:
    """The weights one field's multi-size embedding stores (see the module docstring)."""
    total = 0
    for n, s in zip(bucket_sizes(vocab_size, len(sizes)), sizes, strict=True):
        total += n * s * chunk if s > 0 else (chunks * chunk if n > 0 else 0)
    return total


class MultiSizeEmbedding(nn.Module):
    """The multi-size embeddings of several categorical fields, in one table of blocks.

    Args:
        fields: the categorical fields, in output order.
        config: blocks per bucket of each field (every field must have sizes).
        sparse: sparse gradients for the table (for ``torch.optim.SparseAdam``).
        init_std: standard deviation of the normal initialization.

    Shapes:
        ``cat`` ``(B, C)`` int64 ids -> ``(B, F, K * c)``, fields in the order given.
    """

    def __init__(
        self,
        fields: Sequence[FieldInfo],
        config: MultiSizeConfig,
        *,
        sparse: bool = False,
        init_std: float = EMBEDDING_INIT_STD,
    ) -> None:
        super().__init__()
        if not fields:
            raise ValueError("MultiSizeEmbedding needs at least one field")
        self.config = config
        self.field_names = [f.name for f in fields]
        starts, blocks, buckets, offsets = [], [], [], [0]
        rows = 0
        for i, f in enumerate(fields):
            sizes = config.sizes[f.name]
            start, used, rows = _field_layout(f, sizes, config, rows)
            starts.append(start)
            blocks.append(used)
            buckets.append(
                bucket_of_ids(f.counts, f.vocab_size, config.buckets) + i * config.buckets
            )
            offsets.append(offsets[-1] + f.vocab_size)
        self.table = nn.Embedding(rows, config.chunk, sparse=sparse)
        nn.init.normal_(self.table.weight, std=init_std)
        self.register_buffer("columns", torch.tensor([f.column for f in fields], dtype=torch.long))
        self.register_buffer("offsets", torch.tensor(offsets[:-1], dtype=torch.long))
        self.register_buffer("start", torch.from_numpy(np.concatenate(starts)))  # (sum V,)
        self.register_buffer("blocks", torch.from_numpy(np.concatenate(blocks)))  # (sum V,)
        # (sum V,): field index * B + bucket, the (field, bucket) cell of every id
        self.register_buffer("cell", torch.from_numpy(np.concatenate(buckets)))
        self.register_buffer("steps", torch.arange(config.chunks), persistent=False)  # (K,)

    def global_ids(self, cat: Tensor) -> Tensor:
        """The ids of ``cat`` ``(B, C)`` as rows of the per-id buffers: ``(B, F)``."""
        return cat.index_select(1, self.columns) + self.offsets  # (B, F)

    def forward(self, cat: Tensor) -> Tensor:
        """Look up ``(B, C)`` ids; return ``(B, F, K * c)``."""
        ids = self.global_ids(cat)  # (B, F)
        start = self.start[ids].unsqueeze(-1)  # (B, F, 1)
        valid = self.steps < self.blocks[ids].unsqueeze(-1)  # (B, F, K)
        # unused blocks read the id's first row (already read) and are zeroed
        rows = torch.where(valid, start + self.steps, start)  # (B, F, K)
        vectors = self.table(rows) * valid.unsqueeze(-1).to(self.table.weight.dtype)
        return vectors.flatten(2)  # (B, F, K * c)

    def num_params(self) -> int:
        """The stored weights (equals :meth:`count_params`)."""
        return self.table.weight.numel()

    @staticmethod
    def count_params(fields: Sequence[FieldInfo], config: MultiSizeConfig) -> int:
        """What :meth:`num_params` returns for these fields, without building."""
        return sum(
            field_params(f.vocab_size, config.sizes[f.name], config.chunk, config.chunks)
            for f in fields
        )


def _field_layout(
    f: FieldInfo, sizes: Sequence[int], config: MultiSizeConfig, rows: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Each id's first row and block count in the table; the table's new row count."""
    if len(sizes) != config.buckets:
        raise ValueError(f"{f.name}: expected {config.buckets} bucket sizes, got {list(sizes)}")
    bucket = bucket_of_ids(f.counts, f.vocab_size, config.buckets)
    start = np.zeros(f.vocab_size, dtype=np.int64)
    used = np.zeros(f.vocab_size, dtype=np.int64)
    for b, s in enumerate(sizes):
        ids = np.flatnonzero(bucket == b)  # in id order
        if ids.size == 0:
            continue
        if s > 0:
            start[ids] = rows + np.arange(ids.size) * s
            used[ids] = s
            rows += ids.size * s
        else:  # one shared full-width vector
            start[ids] = rows
            used[ids] = config.chunks
            rows += config.chunks
    return start, used, rows
