"""Field embeddings of mixed widths (AutoDim): the input layer of every backbone.

Fields are grouped by width. Each width group holds one fused table for its categorical
fields and one module per numerical method (scalar, bucket, autodis; see
:class:`NumericalConfig`) for its numerical fields, so a forward pass costs a few batched
ops per distinct width, whatever the number of fields. The output is the list of groups,
``(B, F_g, D_g)`` each; the fields of a group are its categorical fields, then its
numerical fields by method (scalar, bucket, autodis), each in schema order.
:attr:`FieldEmbedding.field_names` is the field order of the groups concatenated, the
order :meth:`FieldEmbedding.concat` and :meth:`FieldEmbedding.equalize` use.

Interactions that need equal widths (fm, fwfm, the FM part of deepfm) call
:meth:`FieldEmbedding.equalize`, which maps every field narrower than the widest width
``D*`` to ``D*`` with a per-field linear map (no bias); those maps are part of the field's
embedding and are counted in :meth:`FieldEmbedding.num_params`.

Fields named by a :class:`DynamicConfig` (ESAPN) are embedded by a
:class:`DynamicEmbedding` in the group of the largest candidate width, after the group's
other categorical fields; each id counts the weights it holds at its own size.

Categorical fields that ``model.embedding.prune`` masks (PEP) share a
:class:`PrunedEmbedding` per width with the group's other categorical fields; it counts
the values it keeps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from searchengine.data.schema import DataSchema
from searchengine.models.embedding.dynamic import DynamicConfig, DynamicEmbedding
from searchengine.models.embedding.fused import FusedEmbedding
from searchengine.models.embedding.multisize import MultiSizeConfig, MultiSizeEmbedding
from searchengine.models.embedding.numerical import NumericalConfig
from searchengine.models.embedding.numerical_methods import (
    count_numerical_params,
    numerical_modules,
)
from searchengine.models.embedding.pruned import PruneConfig, PrunedEmbedding

__all__ = ["FieldEmbedding"]


def _key(width: int) -> str:
    return f"d{width}"


def _numerical_key(width: int, method: str) -> str:
    # scalar keeps the plain key, so state dicts saved before other methods existed load.
    return _key(width) if method == "scalar" else f"{_key(width)}_{method}"


class FieldEmbedding(nn.Module):
    """Embeddings of the fields named in ``dims``, each of its own width.

    Args:
        schema: the fields of the data.
        dims: field name -> width, for the fields to embed (a subset of the schema is
            allowed: a backbone may leave out fields it does not use).
        equalize: create the projections :meth:`equalize` needs.
        sparse: sparse gradients for the categorical tables.
        dynamic: categorical fields whose ids have their own sizes (their width in
            ``dims`` must be ``dynamic.width``).
        numerical: how each numerical field is embedded (default: all ``scalar``).
        multisize: NIS multi-size embeddings of the categorical fields (their width in
            ``dims`` must be ``multisize.width``).
        prune: PEP's masks: the categorical fields it names are embedded by a
            :class:`PrunedEmbedding` (a fused table with the pruned values at zero).

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
        dynamic: DynamicConfig | None = None,
        numerical: NumericalConfig | None = None,
        multisize: MultiSizeConfig | None = None,
        prune: PruneConfig | None = None,
    ) -> None:
        super().__init__()
        numerical = numerical or NumericalConfig()
        fields = [f for f in schema.fields if f.name in dims]
        dynamic_names = set(dynamic.fields) if dynamic is not None else set()
        unknown = sorted(set(dims) - {f.name for f in fields})
        if unknown or not fields:
            raise ValueError(f"dims must name fields of the schema, got unknown {unknown}")
        if min(dims.values()) < 1:
            raise ValueError(f"every width must be >= 1, got {dict(dims)}")
        self.widths: list[int] = list(dict.fromkeys(int(dims[f.name]) for f in fields))
        self.common_dim = max(self.widths)
        self.categorical = nn.ModuleDict()
        self.numerical = nn.ModuleDict()
        self.dynamic = nn.ModuleDict()
        self.projections = nn.ParameterDict()
        self.field_names: list[str] = []
        self._numerical_keys: dict[int, list[str]] = {}
        for width in self.widths:
            group = [f for f in fields if dims[f.name] == width]
            cats = [f for f in group if f.is_categorical and f.name not in dynamic_names]
            dyns = [f for f in group if f.is_categorical and f.name in dynamic_names]
            nums = [f for f in group if not f.is_categorical]
            if cats and multisize is not None:  # NIS: width K * chunk, blocks per bucket
                self.categorical[_key(width)] = MultiSizeEmbedding(cats, multisize, sparse=sparse)
            elif cats and prune is not None and any(f.name in prune.masks for f in cats):
                vocab = [f.vocab_size for f in cats]
                self.categorical[_key(width)] = PrunedEmbedding(
                    [f.column for f in cats], vocab, width,
                    prune.group_mask([f.name for f in cats], vocab, width), sparse=sparse,
                )  # fmt: skip
            elif cats:
                self.categorical[_key(width)] = FusedEmbedding(
                    [f.column for f in cats], [f.vocab_size for f in cats], width, sparse=sparse
                )
            if dyns and dynamic is not None:
                self.dynamic[_key(width)] = DynamicEmbedding(
                    [f.column for f in dyns], [f.vocab_size for f in dyns], dynamic.candidates,
                    [dynamic.field_levels(f.name, f.vocab_size) for f in dyns], sparse=sparse,
                )  # fmt: skip
            by_method, nums = numerical_modules(nums, width, numerical), []
            for method, members, module in by_method:
                self.numerical[_numerical_key(width, method)] = module
                nums += members
            self._numerical_keys[width] = [_numerical_key(width, m) for m, _, _ in by_method]
            if equalize and width != self.common_dim:
                # std 1/sqrt(width) keeps the projected vectors at the scale of the input.
                weight = torch.randn(len(group), width, self.common_dim) / math.sqrt(width)
                self.projections[_key(width)] = nn.Parameter(weight)  # (F_g, D_g, D*)
            self.field_names += [f.name for f in cats + dyns + nums]
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
            if key in self.dynamic:
                parts.append(self.dynamic[key](cat))  # (B, F_dyn, D_g)
            for method_key in self._numerical_keys[width]:
                parts.append(self.numerical[method_key](num, num_missing))  # (B, F_m, D_g)
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
        """Embedding parameters: tables, numerical value and missing vectors, projections;
        for dynamic fields the weights each id holds at its size, and the growth maps;
        for pruned tables the values they keep."""
        held = sum(m.num_params() for m in self.dynamic.values())
        pruned = [m for m in self.categorical.values() if isinstance(m, PrunedEmbedding)]
        held += sum(m.num_params() for m in pruned)
        skip = {id(m.table.weight) for m in pruned}
        return held + sum(
            p.numel()
            for n, p in self.named_parameters()
            if ".dynamic." not in f".{n}" and id(p) not in skip
        )

    @staticmethod
    def count_params(
        schema: DataSchema,
        dims: Mapping[str, int],
        *,
        equalize: bool,
        dynamic: DynamicConfig | None = None,
        numerical: NumericalConfig | None = None,
        multisize: MultiSizeConfig | None = None,
        prune: PruneConfig | None = None,
    ) -> int:
        """What :meth:`num_params` returns for these arguments, without building tables."""
        numerical = numerical or NumericalConfig()
        common = max(dims.values())
        total = 0
        levels = []
        for f in schema.fields:
            if f.name not in dims:
                continue
            width = dims[f.name]
            if dynamic is not None and f.name in dynamic.fields and f.is_categorical:
                levels.append(dynamic.field_levels(f.name, f.vocab_size))
            elif f.is_categorical and multisize is not None:
                total += MultiSizeEmbedding.count_params([f], multisize)
            elif f.is_categorical and prune is not None and f.name in prune.masks:
                total += prune.kept(f.name) or 0
            elif f.is_categorical:
                total += FusedEmbedding.count_params([f.vocab_size], width)
            else:
                total += count_numerical_params([f], width, numerical)
            if equalize and width != common:
                total += width * common
        if levels and dynamic is not None:
            total += DynamicEmbedding.count_params(levels, dynamic.candidates)
        return total
