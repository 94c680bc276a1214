"""AutoField (WWW'22): every field's keep/drop decision relaxed to a soft gate.

Each field ``f`` has architecture weights ``(a_drop, a_keep)``; its gate ``g`` is the
keep weight of a two-way Gumbel-softmax over them, and it mixes everything the model
reads of the field with what the model reads of a dropped field, a constant:
``g * x + (1 - g) * c`` for its embedding vector (a forward hook on the backbone's
field embedding; ``c`` a learned vector per field), its first-order term
(:class:`GatedFirstOrder` in place of the backbone's
:class:`~searchengine.models.embedding.FirstOrder`; ``c`` a learned scalar) and, for
``raw`` numerical fields, its value in the deep part's input (a hook on
:class:`~searchengine.models.embedding.RawValues`; ``c`` learned), and for the ``blocks``
backbone the numerical values it reads as ``dense`` (a numerical field's embedding then
sees its gated value, and is gated once more). AutoField scales by
``g`` alone (``c = 0``); a dropped field is a constant input, though, and with a learned
constant a larger gate no longer helps merely by scaling the field up, so the gate's
gradient says whether the field's values help. The weights train on validation
batches like every other architecture weight; the derived architecture keeps the fields
whose ``P(keep)`` (softmax, no noise) passes the threshold, or the top k.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from searchengine.data.schema import DataSchema
from searchengine.models.embedding import FirstOrder, RawValues
from searchengine.strategies._differentiable.relaxed import Relaxation

__all__ = ["FieldGates", "GatedFirstOrder", "derive_kept"]


class FieldGates(nn.Module):
    """The relaxed keep/drop decisions of some fields.

    Args:
        field_names: the fields whose keeping is searched.
        relaxation: the shared temperature and noise.

    Attributes:
        logits: ``(F, 2)`` architecture weights, ``(drop, keep)`` per field, starting
            equal (``P(keep) = 0.5``).
    """

    def __init__(self, field_names: Sequence[str], relaxation: Relaxation) -> None:
        super().__init__()
        self.field_names = list(field_names)
        self.relaxation = relaxation
        self.logits = nn.Parameter(torch.zeros(len(self.field_names), 2))
        self._position = {name: i for i, name in enumerate(self.field_names)}
        # the constants of dropped fields: model weights, trained on training batches
        self.constants = nn.ParameterDict()

    def gates(self, names: Sequence[str]) -> Tensor:
        """The keep gates ``(len(names),)`` of ``names``; 1 for a field not searched."""
        weights = self.relaxation.weights(self, self.logits)[:, 1]  # (F,)
        ones = torch.ones(1, device=weights.device, dtype=weights.dtype)
        padded = torch.cat([weights, ones])  # the last entry: a field not searched
        index = [self._position.get(n, len(self.field_names)) for n in names]
        return padded[torch.tensor(index, device=weights.device)]

    def architecture_parameters(self) -> list[nn.Parameter]:
        return [self.logits]

    def expected_kept_ratio(self) -> Tensor:
        """The expected fraction of the searched fields kept (no noise)."""
        return F.softmax(self.logits / self.relaxation.temperature, dim=-1)[:, 1].mean()

    def probabilities(self) -> dict[str, float]:
        """Field -> ``P(keep)``, the softmax of its weights without noise."""
        with torch.no_grad():
            probs = F.softmax(self.logits, dim=-1)[:, 1].tolist()
        return dict(zip(self.field_names, probs, strict=True))

    def attach(self, model: nn.Module, schema: DataSchema) -> int:
        """Gate every part of ``model`` that reads a field; return how many parts."""
        backbone: Any = getattr(model, "backbone", model)
        parts = 0
        embedding = getattr(backbone, "embedding", None)
        if embedding is not None and hasattr(embedding, "field_names"):
            names = list(embedding.field_names)
            dims = [int(embedding.dims[n]) for n in names]
            for i, width in enumerate(dims):
                self.constants[f"e{i}"] = nn.Parameter(torch.zeros(width))
            embedding.register_forward_hook(
                lambda _m, _i, out: self._gate_groups(out, names, dims)
            )
            parts += 1
        if getattr(backbone, "uses_blocks", False) and schema.numerical:
            # a DAG reads every numerical value as its `dense` input, straight from `num`
            dense = [f.name for f in sorted(schema.numerical, key=lambda f: f.column)]
            self.constants["dense"] = nn.Parameter(torch.zeros(len(dense)))
            backbone.register_forward_pre_hook(
                lambda _m, args: (args[0], self.mix(args[1], dense, "dense"), *args[2:])
            )
            parts += 1
        for parent in list(backbone.modules()):
            for attr, child in list(parent.named_children()):
                if isinstance(child, FirstOrder):
                    setattr(parent, attr, GatedFirstOrder(child, schema, self))
                    parts += 1
                elif isinstance(child, RawValues):
                    by_column = {f.column: f.name for f in schema.numerical}
                    raw = [by_column[int(c)] for c in child.columns.tolist()]
                    key = f"raw{parts}"
                    self.constants[key] = nn.Parameter(torch.zeros(len(raw)))
                    child.register_forward_hook(
                        lambda _m, _i, out, raw=raw, key=key: self.mix(out, raw, key)
                    )
                    parts += 1
        return parts

    def mix(self, x: Tensor, names: list[str], key: str) -> Tensor:
        """``g * x + (1 - g) * c`` of ``x`` ``(B, F)``, fields ``names``, constants ``key``."""
        g = self.gates(names).to(x.dtype)  # (F,)
        return g * x + (1 - g) * self.constants[key].to(x.dtype)  # (B, F)

    def _gate_groups(self, out: Any, names: list[str], dims: list[int]) -> Any:
        gates = self.gates(names)  # (F,)
        groups = out if isinstance(out, list) else [out]
        gated, start = [], 0
        for group in groups:  # (B, F_g, D_g), fields in `names` order
            width = group.shape[1]
            g = gates[start : start + width].view(1, -1, 1).to(group.dtype)  # (1, F_g, 1)
            c = torch.stack([self.constants[f"e{i}"] for i in range(start, start + width)])
            gated.append(g * group + (1 - g) * c.to(group.dtype))  # (B, F_g, D_g)
            start += width
        return gated if isinstance(out, list) else gated[0]


class GatedFirstOrder(nn.Module):
    """A :class:`FirstOrder` whose per-field terms are mixed with a learned constant by
    their keep gates: ``g * w_f(x_f) + (1 - g) * c_f``.

    Shapes:
        ``cat`` ``(B, C)``, ``num`` ``(B, N)``, ``num_missing`` ``(B, N)`` -> ``(B,)``.
    """

    def __init__(self, linear: FirstOrder, schema: DataSchema, gates: FieldGates) -> None:
        super().__init__()
        self.linear = linear
        self.field_gates = [gates]  # a list: the gates belong to the supernet, not here
        self.cat_names = [f.name for f in schema.categorical]
        self.num_names = [f.name for f in schema.numerical]
        self.cat_constants = nn.Parameter(torch.zeros(len(self.cat_names)))  # (C,)
        self.num_constants = nn.Parameter(torch.zeros(len(self.num_names)))  # (N,)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        linear, gates = self.linear, self.field_gates[0]
        out = linear.bias.expand(cat.shape[0])  # (B,)
        if linear.table is not None:
            terms = linear.table(cat).sum(dim=2)  # (B, C)
            g = gates.gates(self.cat_names).to(terms.dtype)  # (C,)
            out = out + (g * terms + (1 - g) * self.cat_constants).sum(dim=1)
        if linear.weight is not None and linear.missing is not None:
            num = num.index_select(1, linear.num_columns)  # (B, N)
            num_missing = num_missing.index_select(1, linear.num_columns)  # (B, N)
            terms = torch.where(num_missing, linear.missing, num * linear.weight)  # (B, N)
            g = gates.gates(self.num_names).to(terms.dtype)  # (N,)
            out = out + (g * terms + (1 - g) * self.num_constants).sum(dim=1)
        return out


def derive_kept(
    probabilities: dict[str, float], threshold: float, topk: int | None
) -> dict[str, bool]:
    """Field -> kept: ``P(keep) > threshold``, or the ``topk`` most probable; never
    none (the most probable field is kept then)."""
    ranked = sorted(probabilities, key=probabilities.__getitem__, reverse=True)
    if topk is not None:
        chosen = set(ranked[:topk])
    else:
        chosen = {f for f, p in probabilities.items() if p > threshold}
    if not chosen and ranked:
        chosen = {ranked[0]}
    return {f: f in chosen for f in probabilities}
