"""AutoField (WWW'22): every field's keep/drop decision relaxed to a soft gate.

Each field ``f`` has architecture weights ``(a_drop, a_keep)``; its gate is the keep
weight of a two-way Gumbel-softmax over them, and the gate scales everything the
model reads of the field: its embedding vector (a forward hook on the backbone's field
embedding), its first-order term (:class:`GatedFirstOrder` in place of the backbone's
:class:`~searchengine.models.embedding.FirstOrder`) and, for ``raw`` numerical fields,
its value in the deep part's input (a hook on
:class:`~searchengine.models.embedding.RawValues`). The weights train on validation
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
            embedding.register_forward_hook(lambda _m, _i, out: self._gate_groups(out, names))
            parts += 1
        for parent in list(backbone.modules()):
            for attr, child in list(parent.named_children()):
                if isinstance(child, FirstOrder):
                    setattr(parent, attr, GatedFirstOrder(child, schema, self))
                    parts += 1
                elif isinstance(child, RawValues):
                    by_column = {f.column: f.name for f in schema.numerical}
                    raw = [by_column[int(c)] for c in child.columns.tolist()]
                    child.register_forward_hook(
                        lambda _m, _i, out, raw=raw: out * self.gates(raw).to(out.dtype)
                    )
                    parts += 1
        return parts

    def _gate_groups(self, out: Any, names: list[str]) -> Any:
        gates = self.gates(names)  # (F,)
        groups = out if isinstance(out, list) else [out]
        gated, start = [], 0
        for group in groups:  # (B, F_g, D_g), fields in `names` order
            width = group.shape[1]
            gated.append(group * gates[start : start + width].view(1, -1, 1).to(group.dtype))
            start += width
        return gated if isinstance(out, list) else gated[0]


class GatedFirstOrder(nn.Module):
    """A :class:`FirstOrder` whose per-field terms are scaled by their keep gates.

    Shapes:
        ``cat`` ``(B, C)``, ``num`` ``(B, N)``, ``num_missing`` ``(B, N)`` -> ``(B,)``.
    """

    def __init__(self, linear: FirstOrder, schema: DataSchema, gates: FieldGates) -> None:
        super().__init__()
        self.linear = linear
        self.field_gates = [gates]  # a list: the gates belong to the supernet, not here
        self.cat_names = [f.name for f in schema.categorical]
        self.num_names = [f.name for f in schema.numerical]

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        linear, gates = self.linear, self.field_gates[0]
        out = linear.bias.expand(cat.shape[0])  # (B,)
        if linear.table is not None:
            terms = linear.table(cat).sum(dim=2)  # (B, C)
            out = out + (terms * gates.gates(self.cat_names).to(terms.dtype)).sum(dim=1)
        if linear.weight is not None and linear.missing is not None:
            num = num.index_select(1, linear.num_columns)  # (B, N)
            num_missing = num_missing.index_select(1, linear.num_columns)  # (B, N)
            terms = torch.where(num_missing, linear.missing, num * linear.weight)  # (B, N)
            out = out + (terms * gates.gates(self.num_names).to(terms.dtype)).sum(dim=1)
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
