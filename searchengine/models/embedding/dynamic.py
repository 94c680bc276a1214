"""Dynamic embedding sizes (ESAPN, SIGIR'20): every id of a field holds its own size.

An id of a dynamic field holds a vector of one of the ``candidates`` sizes ``c_0 < ... <
c_{K-1}``. Storage is one table of the largest width ``D = c_{K-1}`` per module with a
per-row size index: an id at size ``c_k`` uses the first ``c_k`` columns of its row and
the other columns stay zero (the forward pass masks them, so they never get a gradient).
The output is the stored row, i.e. each vector zero-padded to ``D``: the layers above see
one width, and the first ``c_k`` coordinates mean the same for every id whatever its size.
The table costs ``D`` columns per row in memory; :meth:`DynamicEmbedding.num_params`
counts what the ids hold (``sum_id c_size(id)``), which is the size a per-size storage
would have.

Growing an id from ``c_k`` to ``c_{k+1}`` (:meth:`DynamicEmbedding.enlarge`) sets its new
vector to ``W_{k->k+1} e_k + b_k``: a learned linear map per field and step, initialized to
the identity on the first ``c_k`` coordinates with ``b = 0``, so an id keeps what it
learned. The maps are buffers, not parameters (the model's loss never reaches them; the
``esapn`` strategy trains them on the look-ahead loss), and are counted as embedding
weights all the same. The ``esapn`` strategy decides who grows; a spec's
``model.embedding.dynamic.sizes`` fixes the sizes of a built model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from searchengine.data.schema import DataSchema
from searchengine.errors import SpecIssue, did_you_mean
from searchengine.models.embedding.fused import EMBEDDING_INIT_STD
from searchengine.spec.format import DynamicSpec

__all__ = ["DynamicConfig", "DynamicEmbedding"]

_LOC = "model.embedding.dynamic"


@dataclass(frozen=True)
class DynamicConfig:
    """The resolved ``model.embedding.dynamic`` slot.

    Attributes:
        candidates: the sizes, strictly increasing.
        fields: the dynamic fields, in the spec's order.
        levels: field -> the size index (into ``candidates``) of each id, ``(vocab_size,)``
            int64; a field without an entry has every id at the largest size.
    """

    candidates: tuple[int, ...]
    fields: tuple[str, ...]
    levels: Mapping[str, np.ndarray]

    @property
    def width(self) -> int:
        """The width the model sees: the largest candidate."""
        return self.candidates[-1]

    def field_levels(self, name: str, vocab_size: int) -> np.ndarray:
        """The size index of every id of field ``name``."""
        found = self.levels.get(name)
        if found is None:
            return np.full(vocab_size, len(self.candidates) - 1, dtype=np.int64)
        return found

    @classmethod
    def resolve(
        cls, spec: DynamicSpec | None, schema: DataSchema, issues: list[SpecIssue]
    ) -> DynamicConfig | None:
        """Resolve the spec's slot (or None) against the schema; append problems to
        ``issues``."""
        if spec is None:
            return None
        names = schema.names
        for i, name in enumerate(spec.fields):
            if name not in names:
                issues.append(
                    SpecIssue(f"{_LOC}.fields[{i}]",
                              f"no field {name!r} in the data{did_you_mean(name, names)}")
                )  # fmt: skip
            elif not schema.field(name).is_categorical:
                issues.append(SpecIssue(f"{_LOC}.fields[{i}]", f"{name!r} is not categorical"))
        position = {c: k for k, c in enumerate(spec.candidates)}
        levels: dict[str, np.ndarray] = {}
        for name, sizes in (spec.sizes or {}).items():
            if name not in spec.fields or name not in names:
                issues.append(SpecIssue(f"{_LOC}.sizes[{name}]", "not a dynamic field"))
                continue
            vocab = schema.field(name).vocab_size
            bad = sorted({s for s in sizes if s not in position})
            if len(sizes) != vocab or bad:
                issues.append(
                    SpecIssue(f"{_LOC}.sizes[{name}]",
                              f"expected {vocab} sizes (one per id, OOV id 0 first) out of "
                              f"{list(spec.candidates)}, got {len(sizes)}"
                              + (f" with {bad[:5]}" if bad else ""))
                )  # fmt: skip
                continue
            levels[name] = np.array([position[s] for s in sizes], dtype=np.int64)
        return cls(tuple(spec.candidates), tuple(spec.fields), MappingProxyType(levels))


class DynamicEmbedding(nn.Module):
    """The embeddings of several categorical fields whose ids each hold their own size.

    Life cycle: built at given sizes (each id's size index); in training, the forward
    pass returns each id's vector zero-padded to the largest width; a strategy may call
    :meth:`enlarge` between steps to grow ids, and train the growth maps through the
    :attr:`lookahead` forward pass; :meth:`sizes` reads the result.

    Args:
        columns: for each field, its column in the ``cat`` input.
        vocab_sizes: for each field, the number of ids (OOV id 0 included).
        candidates: the sizes, strictly increasing.
        levels: for each field, the size index of each id, ``(vocab_size,)`` integers.
        sparse: sparse gradients for the table (for ``torch.optim.SparseAdam``).
        init_std: standard deviation of the normal initialization of the held columns.

    Attributes:
        lookahead: when True, the forward pass returns, for every id below the largest
            size, its *enlarged* vector ``W e + b`` (with ``e`` detached), so that a loss
            trains the growth maps alone.

    Shapes:
        ``cat`` ``(B, C)`` int64 ids -> ``(B, F, D)``, fields in the order given,
        ``D = candidates[-1]``.
    """

    def __init__(
        self,
        columns: Sequence[int],
        vocab_sizes: Sequence[int],
        candidates: Sequence[int],
        levels: Sequence[np.ndarray | Tensor],
        *,
        sparse: bool = False,
        init_std: float = EMBEDDING_INIT_STD,
    ) -> None:
        super().__init__()
        if not (len(columns) == len(vocab_sizes) == len(levels)) or not columns:
            raise ValueError("columns, vocab_sizes and levels must be non-empty, of one length")
        if list(candidates) != sorted(set(candidates)) or min(candidates) < 1:
            raise ValueError(f"candidates must be strictly increasing and >= 1, got {candidates}")
        self.candidates = tuple(int(c) for c in candidates)
        self.dim = self.candidates[-1]
        self.vocab_sizes = [int(v) for v in vocab_sizes]
        offsets = np.cumsum([0, *self.vocab_sizes[:-1]]).tolist()
        level = torch.cat([torch.as_tensor(np.asarray(lv), dtype=torch.long) for lv in levels])
        if (
            level.numel() != sum(self.vocab_sizes)
            or level.min() < 0
            or level.max() >= len(self.candidates)
        ):
            raise ValueError("levels must hold one size index per id, within the candidates")
        k = len(self.candidates)
        masks = (torch.arange(self.dim) < torch.tensor(self.candidates).unsqueeze(1)).float()
        self.register_buffer("masks", masks)  # (K, D)
        self.register_buffer("level", level)  # (rows,)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long))  # (F,)
        self.register_buffer("columns", torch.tensor(list(columns), dtype=torch.long))  # (F,)
        self._leading_columns = list(columns) == list(range(len(columns)))
        self.table = nn.Embedding(level.numel(), self.dim, sparse=sparse)
        with torch.no_grad():
            self.table.weight.normal_(0.0, init_std).mul_(masks[level])  # (rows, D)
        for i in range(k - 1):
            # Buffers, not parameters: the model's loss never reaches them (only growth and
            # the look-ahead pass use them); ESAPN trains them with requires_grad set.
            eye = torch.eye(self.candidates[i + 1], self.candidates[i])
            self.register_buffer(f"grow_weight{i}", eye.repeat(len(columns), 1, 1))  # (F, c+, c)
            self.register_buffer(
                f"grow_bias{i}", torch.zeros(len(columns), self.candidates[i + 1])
            )
        self.lookahead = False

    def forward(self, cat: Tensor) -> Tensor:
        """Look up ``(B, C)`` ids; return ``(B, F, D)`` zero-padded vectors."""
        if not (self._leading_columns and cat.shape[1] == len(self.vocab_sizes)):
            cat = cat.index_select(1, self.columns)  # (B, F)
        rows = cat + self.offsets  # (B, F)
        level = self.level[rows]  # (B, F)
        if self.lookahead:
            return self._enlarged(rows, level)
        return self.table(rows) * self.masks[level]  # (B, F, D)

    def _enlarged(self, rows: Tensor, level: Tensor) -> Tensor:
        e = self.table(rows).detach() * self.masks[level]  # (B, F, D)
        out = e
        for k in range(len(self.candidates) - 1):
            small, big = self.candidates[k], self.candidates[k + 1]
            weight, bias = self.growth_map(k)  # (F, c+, c), (F, c+)
            grown = torch.einsum("bfc,fdc->bfd", e[..., :small], weight)  # (B, F, c+)
            grown = F.pad(grown + bias, (0, self.dim - big))  # (B, F, D)
            out = torch.where((level == k).unsqueeze(-1), grown, out)
        return out  # (B, F, D)

    @torch.no_grad()
    def enlarge(self, field: int, ids: Tensor) -> Tensor:
        """Grow ids of field ``field`` by one size: ``e_{k+1} = W_{k->k+1} e_k + b_k``.

        Ids already at the largest size are left alone. Returns the ids that grew.
        """
        rows = ids + self.offsets[field]
        level = self.level[rows]
        grows = level < len(self.candidates) - 1
        rows, level = rows[grows], level[grows]
        table = self.table.weight
        for k in level.unique().tolist():
            small, big = self.candidates[k], self.candidates[k + 1]
            chosen = rows[level == k]
            weight, bias = self.growth_map(k)  # (F, c+, c), (F, c+)
            new = table[chosen, :small] @ weight[field].T + bias[field]  # (n, c_{k+1})
            table[chosen, :big] = new.to(table.dtype)
        self.level[rows] = level + 1
        return ids[grows]

    def levels(self, field: int) -> Tensor:
        """The size index of every id of field ``field``: ``(vocab_size,)``."""
        start = int(self.offsets[field])
        return self.level[start : start + self.vocab_sizes[field]]

    def sizes(self, field: int) -> Tensor:
        """The size of every id of field ``field``: ``(vocab_size,)``."""
        return torch.tensor(self.candidates, device=self.level.device)[self.levels(field)]

    def growth_map(self, k: int) -> tuple[Tensor, Tensor]:
        """``W_{k->k+1}`` ``(F, c_{k+1}, c_k)`` and ``b_k`` ``(F, c_{k+1})`` of every field."""
        return getattr(self, f"grow_weight{k}"), getattr(self, f"grow_bias{k}")

    def growth_tensors(self) -> list[Tensor]:
        """Every growth map's ``W`` and ``b`` (buffers; set ``requires_grad`` to train them)."""
        return [t for k in range(len(self.candidates) - 1) for t in self.growth_map(k)]

    def num_params(self) -> int:
        """Held weights: ``sum_id c_size(id)`` over all fields, plus the growth maps."""
        held = int(torch.tensor(self.candidates)[self.level.cpu()].sum())
        return held + sum(t.numel() for t in self.growth_tensors())

    @staticmethod
    def count_params(levels: Sequence[np.ndarray], candidates: Sequence[int]) -> int:
        """What :meth:`num_params` returns for fields with these size indices."""
        sizes = np.asarray(candidates, dtype=np.int64)
        held = sum(int(sizes[np.asarray(lv, dtype=np.int64)].sum()) for lv in levels)
        steps = sum(b * a + b for a, b in zip(candidates, candidates[1:], strict=False))
        return held + len(levels) * steps
