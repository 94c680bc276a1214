"""Field embeddings of mixed widths (AutoDim): the input layer of every backbone.

Fields are grouped by width. Each width group holds one fused table for its categorical
fields and one scalar embedding for its numerical fields, so a forward pass costs one
lookup per distinct width, whatever the number of fields. The output is the list of
groups, ``(B, F_g, D_g)`` each; the fields of a group are its categorical fields, then its
numerical fields, each in schema order. :attr:`FieldEmbedding.field_names` is the field
order of the groups concatenated, the order :meth:`FieldEmbedding.concat` and
:meth:`FieldEmbedding.equalize` use.

Interactions that need equal widths (fm, fwfm, the FM part of deepfm) call
:meth:`FieldEmbedding.equalize`, which maps every field narrower than the widest width
``D*`` to ``D*`` with a per-field linear map (no bias); those maps are part of the field's
embedding and are counted in :meth:`FieldEmbedding.num_params`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from searchengine.data.schema import DataSchema
from searchengine.models.embedding.fused import FusedEmbedding
from searchengine.models.embedding.numerical import ScalarEmbedding

__all__ = ["FieldEmbedding"]


def _key(width: int) -> str:
    return f"d{width}"


class FieldEmbedding(nn.Module):
    """Embeddings of the fields named in ``dims``, each of its own width.

    Args:
        schema: the fields of the data.
        dims: field name -> width, for the fields to embed (a subset of the schema is
            allowed: a backbone may leave out fields it does not use).
        equalize: create the projections :meth:`equalize` needs.
        sparse: sparse gradients for the categorical tables.

    Raises:
        ValueError: if ``dims`` is empty, names an unknown field or holds a width < 1.

    Shapes:
        ``cat`` ``(B, C)``, ``num`` ``(B, N)``, ``num_missing`` ``(B, N)`` -> a list of
        ``(B, F_g, D_g)``, one per width in :attr:`widths`.
    """

    def __init__(
        self,
        schema: DataSchema,
        dims: Mapping[str, int],
        *,
        equalize: bool = False,
        sparse: bool = False,
    ) -> None:
        super().__init__()
        fields = [f for f in schema.fields if f.name in dims]
        unknown = sorted(set(dims) - {f.name for f in fields})
        if unknown or not fields:
            raise ValueError(f"dims must name fields of the schema, got unknown {unknown}")
        if min(dims.values()) < 1:
            raise ValueError(f"every width must be >= 1, got {dict(dims)}")
        self.widths: list[int] = list(dict.fromkeys(int(dims[f.name]) for f in fields))
        self.common_dim = max(self.widths)
        self.categorical = nn.ModuleDict()
        self.numerical = nn.ModuleDict()
        self.projections = nn.ParameterDict()
        self.field_names: list[str] = []
        for width in self.widths:
            group = [f for f in fields if dims[f.name] == width]
            cats = [f for f in group if f.is_categorical]
            nums = [f for f in group if not f.is_categorical]
            if cats:
                self.categorical[_key(width)] = FusedEmbedding(
                    [f.column for f in cats], [f.vocab_size for f in cats], width, sparse=sparse
                )
            if nums:
                self.numerical[_key(width)] = ScalarEmbedding([f.column for f in nums], width)
            if equalize and width != self.common_dim:
                # std 1/sqrt(width) keeps the projected vectors at the scale of the input.
                weight = torch.randn(len(group), width, self.common_dim) / math.sqrt(width)
                self.projections[_key(width)] = nn.Parameter(weight)  # (F_g, D_g, D*)
            self.field_names += [f.name for f in cats + nums]
        self.dims = {name: int(dims[name]) for name in self.field_names}
        self.out_dim = sum(self.dims.values())
        self.equalizes = equalize
        self._position = {name: i for i, name in enumerate(self.field_names)}

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> list[Tensor]:
        """Embed a batch; return one ``(B, F_g, D_g)`` tensor per width."""
        groups = []
        for width in self.widths:
            key = _key(width)
            parts = []
            if key in self.categorical:
                parts.append(self.categorical[key](cat))  # (B, F_cat, D_g)
            if key in self.numerical:
                parts.append(self.numerical[key](num, num_missing))  # (B, F_num, D_g)
            groups.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))
        return groups

    def concat(self, groups: list[Tensor]) -> Tensor:
        """The raw field vectors side by side: ``(B, out_dim)``, in :attr:`field_names`
        order."""
        if len(groups) == 1:
            return groups[0].flatten(1)  # (B, F * D)
        return torch.cat([g.flatten(1) for g in groups], dim=1)  # (B, sum D_f)

    def equalize(self, groups: list[Tensor]) -> Tensor:
        """All fields at the common width ``D*``: ``(B, F, D*)``, in :attr:`field_names`
        order.

        Raises:
            RuntimeError: if the module was built with ``equalize=False``.
        """
        if not self.equalizes:
            raise RuntimeError("FieldEmbedding was built without equalize=True")
        out = []
        for width, group in zip(self.widths, groups, strict=True):
            if width != self.common_dim:
                proj = self.projections[_key(width)]  # (F_g, D_g, D*)
                group = torch.einsum("bfd,fde->bfe", group, proj)  # (B, F_g, D*)
            out.append(group)
        return out[0] if len(out) == 1 else torch.cat(out, dim=1)  # (B, F, D*)

    def position(self, name: str) -> int:
        """The index of field ``name`` in :attr:`field_names`."""
        return self._position[name]

    def num_params(self) -> int:
        """Embedding parameters: tables, numerical value and missing vectors, projections."""
        return sum(p.numel() for p in self.parameters())

    @staticmethod
    def count_params(schema: DataSchema, dims: Mapping[str, int], *, equalize: bool) -> int:
        """What :meth:`num_params` returns for these arguments, without building tables."""
        common = max(dims.values())
        total = 0
        for f in schema.fields:
            if f.name not in dims:
                continue
            width = dims[f.name]
            if f.is_categorical:
                total += FusedEmbedding.count_params([f.vocab_size], width)
            else:
                total += ScalarEmbedding.count_params(1, width)
            if equalize and width != common:
                total += width * common
        return total
