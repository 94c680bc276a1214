"""Pruned embedding tables (PEP, ICLR'21): a fixed 0/1 mask over a fused table's values.

A pruned field keeps only the values its mask holds (``model.embedding.prune.masks``);
the others are zero from initialization on and never trained (the forward pass
multiplies the looked-up rows by the mask, so they get no gradient). The table is built
exactly as the unpruned :class:`FusedEmbedding` (same shapes, same draws from torch's
random state) and then masked: seeded alike, a pruned model starts from the unpruned
model's initial values where it keeps them, which is the lottery-ticket retraining PEP
uses. :meth:`PrunedEmbedding.num_params` counts the kept values.

The state dict holds the table sparse: ``kept_index`` (the flat positions of the kept
values, row-major, int32 where they fit) and ``kept_values`` instead of the dense
``table.weight``, so a saved or exported pruned model is as small as its kept values.

Masks travel in the spec as text (:func:`encode_mask`): the row-major bits packed, zlib
compressed and base64 encoded, so a ``best.yaml`` or an export reproduces the model.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from searchengine.data.schema import DataSchema
from searchengine.errors import SpecIssue, did_you_mean
from searchengine.models.embedding.fused import FusedEmbedding
from searchengine.spec.format import PruneSpec

__all__ = ["PruneConfig", "PrunedEmbedding", "decode_mask", "encode_mask"]

_LOC = "model.embedding.prune.masks"


def encode_mask(mask: np.ndarray) -> str:
    """A boolean mask as spec text: packed row-major bits, zlib, base64."""
    packed = np.packbits(np.asarray(mask, dtype=bool).ravel())
    return base64.b64encode(zlib.compress(packed.tobytes(), 9)).decode("ascii")


def decode_mask(text: str, shape: tuple[int, int]) -> np.ndarray:
    """The boolean mask of ``shape`` that :func:`encode_mask` wrote.

    Raises:
        ValueError: text that is not an encoded mask of this shape.
    """
    try:
        raw = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
    except (binascii.Error, zlib.error, UnicodeEncodeError) as exc:
        raise ValueError(f"not an encoded mask ({exc})") from None
    size = shape[0] * shape[1]
    if len(raw) != (size + 7) // 8:
        raise ValueError(
            f"the mask holds {len(raw) * 8} bits, expected {size} for a table of {shape[0]} "
            f"ids x {shape[1]} values (written for another vocabulary or width?)"
        )
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=size)
    return bits.astype(bool).reshape(shape)


@dataclass(frozen=True)
class PruneConfig:
    """The resolved ``model.embedding.prune`` slot.

    Attributes:
        masks: categorical field -> its kept values, ``(vocab_size, dim)`` bool
            (read-only); a field without an entry keeps every value.
    """

    masks: Mapping[str, np.ndarray]

    def kept(self, name: str) -> int | None:
        """The values field ``name`` keeps, or None when it is not pruned."""
        mask = self.masks.get(name)
        return None if mask is None else int(mask.sum())

    @classmethod
    def resolve(
        cls,
        spec: PruneSpec | None,
        schema: DataSchema,
        dims: Mapping[str, int],
        issues: list[SpecIssue],
    ) -> PruneConfig | None:
        """Decode the spec's masks against the schema and the resolved widths; append
        problems to ``issues``."""
        if spec is None:
            return None
        names = schema.names
        masks: dict[str, np.ndarray] = {}
        for name, text in spec.masks.items():
            loc = f"{_LOC}[{name}]"
            if name not in names:
                issues.append(SpecIssue(loc, f"no field {name!r} in the data"
                                             f"{did_you_mean(name, names)}"))  # fmt: skip
                continue
            field = schema.field(name)
            if not field.is_categorical:
                issues.append(SpecIssue(loc, f"{name!r} is not categorical: only tables prune"))
                continue
            if name not in dims:
                continue  # an unknown width is reported by model.embedding.dim
            try:
                masks[name] = decode_mask(text, (field.vocab_size, int(dims[name])))
            except ValueError as exc:
                issues.append(SpecIssue(loc, str(exc)))
        return cls(MappingProxyType(masks))

    def group_mask(self, names: Sequence[str], vocab_sizes: Sequence[int], dim: int) -> np.ndarray:
        """The mask of a fused table holding ``names`` (all ones for unpruned fields)."""
        return np.concatenate(
            [
                self.masks.get(name, np.ones((vocab, dim), dtype=bool))
                for name, vocab in zip(names, vocab_sizes, strict=True)
            ]
        )


class PrunedEmbedding(FusedEmbedding):
    """A :class:`FusedEmbedding` whose values outside ``mask`` are zero and stay zero.

    Args:
        columns, vocab_sizes, dim, sparse: as :class:`FusedEmbedding`.
        mask: ``(sum(vocab_sizes), dim)`` bool, True where a value is kept.

    Shapes:
        ``cat`` ``(B, C)`` int64 ids -> ``(B, F, dim)``.
    """

    def __init__(
        self,
        columns: Sequence[int],
        vocab_sizes: Sequence[int],
        dim: int,
        mask: np.ndarray,
        *,
        sparse: bool = False,
    ) -> None:
        super().__init__(columns, vocab_sizes, dim, sparse=sparse)
        rows = sum(self.vocab_sizes)
        if mask.shape != (rows, dim):
            raise ValueError(f"mask must be ({rows}, {dim}), got {mask.shape}")
        keep = torch.as_tensor(np.asarray(mask, dtype=bool))
        # not persistent: the spec holds the mask; the state dict holds the kept values
        self.register_buffer("mask", keep.float(), persistent=False)
        self.register_buffer("kept_index", _index(keep), persistent=False)
        with torch.no_grad():
            self.table.weight.mul_(self.mask)
        self._register_state_dict_hook(_sparse_state)
        self._register_load_state_dict_pre_hook(_dense_state, with_module=True)

    def forward(self, cat: Tensor) -> Tensor:
        """Look up ``(B, C)`` ids; return ``(B, F, dim)`` with the pruned values zero."""
        if not (self._leading_columns and cat.shape[1] == len(self.vocab_sizes)):
            cat = cat.index_select(1, self.columns)  # (B, F)
        rows = cat + self.offsets  # (B, F)
        return self.table(rows) * F.embedding(rows, self.mask)  # (B, F, dim)

    def num_params(self) -> int:
        """The kept values."""
        return int(self.kept_index.numel())


def _index(keep: Tensor) -> Tensor:
    flat = torch.nonzero(keep.reshape(-1)).squeeze(1)
    small = flat.numel() == 0 or int(flat[-1]) < 2**31
    return flat.to(torch.int32) if small else flat


def _sparse_state(
    module: PrunedEmbedding, state: dict[str, Any], prefix: str, _meta: Any
) -> dict[str, Any]:
    """State dict hook: the dense table becomes its kept values and their positions."""
    weight = state.pop(prefix + "table.weight")
    state[prefix + "kept_index"] = module.kept_index.detach().clone()
    state[prefix + "kept_values"] = weight.reshape(-1)[module.kept_index.long()]
    return state


def _dense_state(
    module: PrunedEmbedding,
    state: dict[str, Any],
    prefix: str,
    _meta: Any,
    _strict: bool,
    missing: list[str],
    _unexpected: list[str],
    errors: list[str],
) -> None:
    """Load pre-hook: rebuild the dense table from the kept values (the mask decides)."""
    index = state.pop(prefix + "kept_index", None)
    values = state.pop(prefix + "kept_values", None)
    if index is None or values is None:
        if prefix + "table.weight" not in state:
            missing.extend(k for k in (prefix + "kept_index", prefix + "kept_values"))
        return
    if not torch.equal(index.long().cpu(), module.kept_index.long().cpu()):
        errors.append(f"{prefix}kept_index: the kept values are not those of the spec's mask")
        return
    weight = torch.zeros_like(module.table.weight, device="cpu")
    weight.view(-1)[index.long().cpu()] = values.to(weight.dtype).cpu()
    state[prefix + "table.weight"] = weight
