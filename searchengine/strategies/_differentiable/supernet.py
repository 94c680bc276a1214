"""Which decisions relax, the relaxed supernet built from them, and the derived values.

The supernet is the space's backbone built from the *full* architecture (every searched
width at the common width ``D``, every pair kept, every field in every set, every
relaxed numerical field ``mixed``, other decisions at their defaults), then with its
discrete parts swapped for relaxed ones:

* ``model.embedding.dim[FIELD]`` (or one ``model.embedding.dim``), a choice or an int
  range of at most 16 values: :class:`RelaxedDims` (AutoDim); derived: the argmax width.
* ``model.interactions.gate[a,b]``: :class:`GatedPairs` (AutoFIS), trained by GRDA;
  derived: the top pairs by GRDA evidence that validation supports (see ``derive``).
* ``model.interactions.groups[p,k,FIELD]``: :class:`RelaxedGroups` (AutoGroup); derived:
  in the set where ``P(in) > 0.5``.
* ``model.embedding.numerical[FIELD]``: the ``mixed`` method (a DARTS mixed operation);
  derived: the method of the largest weight at the field's derived width.
* ``model.blocks.type[i]`` (AutoCTR's DAG space): :class:`MixedNode`, every type's block
  mixed (a DARTS mixed operation); derived: the type of the largest weight. The DAG's
  count, inputs and block settings are not relaxed: they keep their defaults.
* ``model.fields.keep[FIELD]`` (AutoField): :class:`FieldGates`, a keep gate per field on
  everything the model reads of it; derived: kept where ``P(keep) > field_threshold``
  (or among the ``field_topk`` most probable).

Every other decision is not relaxable: it keeps its default (the spec's first choice or
literal) in the supernet and in the derived architecture.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from searchengine.data.schema import DataSchema
from searchengine.models.base import CTRModel
from searchengine.models.blocks.backbone import Node
from searchengine.models.blocks.config import block_name
from searchengine.models.build import count_embedding_params, resolve
from searchengine.models.embedding import (
    MIXED,
    RAW,
    MixedNumericalEmbedding,
    NumericalConfig,
)
from searchengine.models.interaction.fm import FMInteraction
from searchengine.models.interaction.fwfm import FwFMInteraction
from searchengine.models.interaction.gated import GatedPairs
from searchengine.models.interaction.grouped import GroupedInteraction
from searchengine.models.selection import FieldSelection
from searchengine.searchspace import Decision, SearchSpace
from searchengine.spec import Architecture
from searchengine.strategies._differentiable.fields import FieldGates, derive_kept
from searchengine.strategies._differentiable.relaxable import Relaxable, classify
from searchengine.strategies._differentiable.relaxed import (
    MixedNode,
    Relaxation,
    RelaxedDims,
    RelaxedGroups,
)

__all__ = ["Relaxable", "Supernet", "classify"]

_log = logging.getLogger(__name__)


class Supernet:
    """The relaxed model of a space and the architecture it derives.

    Args:
        space: the search space.
        relaxable: its decisions, classified.
        schema: the fields of the data.
        relaxation: the temperature and noise shared by the relaxed modules.
        gate_init: the initial value of the AutoFIS gates.
        sparse: embedding tables with sparse gradients (the first-order search: only the
            rows a batch touches are updated, which large vocabularies need).

    Attributes:
        model: the relaxed ``CTRModel`` (train it; :meth:`derive` reads it).
        base: the value of every decision active in the full architecture.
    """

    def __init__(
        self,
        space: SearchSpace,
        relaxable: Relaxable,
        schema: DataSchema,
        relaxation: Relaxation,
        *,
        gate_init: float = 0.6,
        sparse: bool = False,
    ) -> None:
        self.space, self.relaxable, self.schema = space, relaxable, schema
        self.sparse = sparse
        self.relaxation = relaxation
        self.base = self._full_values()
        self.full = space.fixed(self.base)
        selection = FieldSelection.of(self.full.model, schema)  # a list of kept fields
        self.schema = schema = selection.schema
        cls, config = resolve(selection.model, schema)
        self.common = max([w for c in relaxable.dims.values() for w in c], default=0)
        config = self._supernet_config(config)
        backbone = cls(schema, config, sparse=sparse)
        self.model = CTRModel(backbone, config.backbone, selection.columns())
        self.dims: RelaxedDims | None = None
        self.gates: list[tuple[GatedPairs, list[Decision]]] = []
        self.groups: RelaxedGroups | None = None
        if relaxable.dims:
            self._relax_dims(config.numerical)
        if relaxable.gates:
            self._relax_gates(gate_init)
        if relaxable.groups:
            self._relax_groups()
        self.blocks: dict[str, MixedNode] = {}
        if relaxable.block_types:
            self._relax_block_types()
        self.fields: FieldGates | None = None
        if relaxable.keeps:  # last: it gates the parts the others may have replaced
            self.fields = FieldGates([str(d.key) for d in relaxable.keeps], relaxation)
            self.fields.attach(self.model, schema)
            self.model.field_gates = self.fields  # trained with the model, on its device

    # ------------------------------------------------------------------ building
    def _full_values(self) -> dict[str, Any]:
        relaxable = self.relaxable
        relaxed = {d.name for d in relaxable.gates + relaxable.groups + relaxable.keeps}
        values: dict[str, Any] = {}
        for d in self.space:
            if not self.space.is_active(d, values):
                continue
            if d.name in self.relaxable.dims:
                values[d.name] = max(self.relaxable.dims[d.name])
            elif d.name in relaxed:
                values[d.name] = True
            else:
                values[d.name] = d.default
        return values

    def _supernet_config(self, config: Any) -> Any:
        if self.relaxable.dims:
            config = dataclasses.replace(config, dims=type(config.dims)(
                dict.fromkeys(config.dims, self.common)
            ))  # fmt: skip
        mixed = [_field_of(d) for d in self.relaxable.numerical if d.name in self.base]
        for d in self.relaxable.numerical:
            if RAW in d.choices:
                _log.warning(
                    "%s: `raw` has no vector to mix, so the differentiable search never "
                    "picks it (it chooses among %s)", d.name,
                    ", ".join(c for c in d.choices if c != RAW) or "nothing",
                )  # fmt: skip
        if mixed:
            names = [f.name for f in self.schema.numerical] if None in mixed else mixed
            methods = dict(config.numerical.methods) | dict.fromkeys(names, MIXED)
            config = dataclasses.replace(
                config, numerical=dataclasses.replace(config.numerical, methods=methods)
            )
        return config

    def _relax_dims(self, numerical: NumericalConfig) -> None:
        backbone = self.model.backbone
        embedding = backbone.embedding
        if embedding is None:
            return
        names = list(embedding.field_names)
        candidates: dict[str, tuple[int, ...]] = {}
        tied: dict[str, str] = {}
        widths = self.full.model.embedding.dim
        for f in names:
            name = self.relaxable.dim_names.get(f, self.relaxable.dim_names.get(None))
            if name is not None and name in self.base:
                candidates[f], tied[f] = self.relaxable.dims[name], name
            else:  # not searched: its own width, alone
                width = widths[f] if isinstance(widths, Mapping) else widths
                candidates[f], tied[f] = (int(width),), f"fixed:{f}"
        self.dims = RelaxedDims(
            self.schema, names, candidates, self.common,
            tied=tied, numerical=numerical, relaxation=self.relaxation, sparse=self.sparse,
        )  # fmt: skip
        backbone.embedding = self.dims

    def _relax_gates(self, init: float) -> None:
        embedding = self.model.backbone.embedding
        if embedding is None:
            return
        gates = [d for d in self.relaxable.gates if d.name in self.base]
        pairs = [d.pair for d in gates]
        positions = [(embedding.position(a), embedding.position(b)) for a, b in pairs]
        for parent, attr, module in _children(self.model):
            if isinstance(module, FMInteraction) and module.products is None:
                gated = GatedPairs(positions, len(embedding.field_names), init=init)
            elif isinstance(module, FwFMInteraction):  # FwFM keeps its pair weights r_ij
                gated = GatedPairs(positions, len(embedding.field_names), init=init,
                                   weights=torch.ones(len(positions)))  # fmt: skip
            else:
                continue
            setattr(parent, attr, gated)
            self.gates.append((gated, gates))

    def _relax_groups(self) -> None:
        found = [
            (p, a, m) for p, a, m in _children(self.model) if isinstance(m, GroupedInteraction)
        ]
        if not found:
            return
        parent, attr, interaction = found[0]
        position = {name: i for i, name in enumerate(interaction.field_names)}
        searched = torch.zeros_like(interaction.membership, dtype=torch.bool)
        self._group_cells: dict[str, tuple[int, int]] = {}
        row = {o: i for i, o in reversed(list(enumerate(interaction.order_list)))}
        for d in self.relaxable.groups:
            order, index, name = d.membership
            cell = (row[order] + index, position[name])
            searched[cell] = True
            self._group_cells[d.name] = cell
        self.groups = RelaxedGroups(interaction, searched, self.relaxation)
        setattr(parent, attr, self.groups)

    def _relax_block_types(self) -> None:
        """Every active ``model.blocks.type[i]`` becomes a :class:`MixedNode`."""
        backbone = self.model.backbone
        nodes = getattr(backbone, "nodes", None)
        if nodes is None:
            return
        dag = backbone.dag
        for d in self.relaxable.block_types:
            if d.name not in self.base:
                continue
            i = int(d.key)
            candidates = {}
            for kind in d.choices:
                arch = self.space.fixed(self.base | {d.name: kind})
                node = resolve(arch.model, self.schema)[1].blocks.nodes[i]
                sources = [backbone.shapes[name] for name in node.inputs]
                candidates[kind] = Node(node, sources, backbone.dim, dag.projected_fields)
            mixed = MixedNode(candidates, backbone.shapes[block_name(i)], self.relaxation)
            nodes[i] = mixed
            self.blocks[d.name] = mixed

    # ------------------------------------------------------------------ parameters
    def architecture_parameters(self) -> list[nn.Parameter]:
        """Trained on validation batches: the width, membership, method and keep weights."""
        params: list[nn.Parameter] = []
        for module in self.model.modules():
            if isinstance(
                module,
                RelaxedDims | RelaxedGroups | MixedNumericalEmbedding | MixedNode | FieldGates,
            ):
                params += module.architecture_parameters()
        return params

    def gate_parameters(self) -> list[nn.Parameter]:
        """Trained by GRDA on training batches: the AutoFIS gates."""
        return [gated.alpha for gated, _ in self.gates]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Everything else: the model's weights."""
        special = {id(p) for p in self.architecture_parameters() + self.gate_parameters()}
        return [p for p in self.model.parameters() if id(p) not in special]

    # ------------------------------------------------------------------ deriving
    def derive(
        self,
        kept_gates: Sequence[bool] | None = None,
        budget: float | None = None,
        field_threshold: float = 0.5,
        field_topk: int | None = None,
    ) -> dict[str, Any]:
        """The decided value of every relaxed decision: a field is kept where its
        ``P(keep) > field_threshold`` (or among the ``field_topk`` most probable); the
        gates' ``kept_gates`` (in decision order) where given, else those whose
        ``alpha != 0`` (GRDA's rule); with ``budget``, the widths narrowed to at most that
        many embedding parameters."""
        values: dict[str, Any] = {}
        if self.fields is not None:
            kept = derive_kept(self.fields.probabilities(), field_threshold, field_topk)
            values.update({d.name: kept[str(d.key)] for d in self.relaxable.keeps})
        if self.dims is not None:
            for key, width in self.dims.derive().items():
                if not key.startswith("fixed:"):
                    values[key] = width
        for gated, decisions in self.gates:
            kept = gated.kept() if kept_gates is None else kept_gates
            for d, keep in zip(decisions, kept, strict=True):
                values[d.name] = bool(keep)
        if self.groups is not None:
            probs = self.groups.probabilities()
            for name, cell in self._group_cells.items():
                values[name] = bool(probs[cell] > 0.5)
        values.update(self._derive_numerical(values))
        for name, mixed in self.blocks.items():
            probs = mixed.probabilities()
            values[name] = max(probs, key=probs.__getitem__)
        if budget is not None:
            values = self.fit_budget(values, budget)
            values.update(self._derive_numerical(values))
        return values

    def embedding_params(self, values: Mapping[str, Any]) -> int:
        """The embedding parameters of the architecture derived with ``values``."""
        return count_embedding_params(self.architecture(values).model, self.schema)

    def fit_budget(self, values: dict[str, Any], budget: float) -> dict[str, Any]:
        """``values`` with widths narrowed until the derived embedding parameters are at
        most ``budget``: each step narrows the width decision to its next smaller
        candidate where that loses the least log-probability per parameter saved."""
        if self.dims is None:
            return values
        probs = self.dims.probabilities()
        values = dict(values)
        params = self.embedding_params(values)
        while params > budget:
            best: tuple[float, str, int, int] | None = None
            for name, width in values.items():
                if name not in probs:
                    continue
                smaller = [w for w in probs[name] if w < width]
                if not smaller:
                    continue
                w = max(smaller)
                after = self.embedding_params(values | {name: w})
                saved = params - after
                if saved <= 0:
                    continue
                loss = math.log(max(probs[name][width], 1e-12) / max(probs[name][w], 1e-12))
                if best is None or loss / saved < best[0]:
                    best = (loss / saved, name, w, after)
            if best is None:
                break
            _, name, width, params = best
            values[name] = width
        return values

    def _derive_numerical(self, decided: Mapping[str, Any]) -> dict[str, Any]:
        """Each numerical decision: its best method (among its choices) at the field's
        derived width; one decision for all fields sums their method weights."""
        out: dict[str, Any] = {}
        weights = self.method_weights(decided)
        for d in self.relaxable.numerical:
            names = [d.key] if d.key is not None else [f.name for f in self.schema.numerical]
            scores = [sum(weights.get(f, {}).get(c, 0.0) for f in names) for c in d.choices]
            out[d.name] = d.choices[max(range(len(scores)), key=scores.__getitem__)]
        return out

    def method_weights(self, decided: Mapping[str, Any]) -> dict[str, dict[str, float]]:
        """Numerical field -> method -> its softmax weight, in the mixture at the
        field's derived width."""
        mixtures = [m for m in self.model.modules() if isinstance(m, MixedNumericalEmbedding)]
        out: dict[str, dict[str, float]] = {}
        for f in self.schema.numerical:
            names = self.relaxable.dim_names
            name = names.get(f.name, names.get(None))
            width = None if name is None else decided.get(name)
            found = _mixture_of(mixtures, f.name, width, self.dims)
            if found is not None:
                mixture, row = found
                probs = torch.softmax(mixture.alpha.detach()[row], dim=-1).tolist()
                out[f.name] = dict(zip(mixture.methods, probs, strict=True))
        return out

    def architecture(self, values: Mapping[str, Any]) -> Architecture:
        """The discrete architecture: derived values, every other decision at its default."""
        decided: dict[str, Any] = {}
        for d in self.space:
            if self.space.is_active(d, decided):
                decided[d.name] = values.get(d.name, d.default)
        return self.space.fixed(decided)

    def weights_report(self, decided: Mapping[str, Any]) -> dict[str, Any]:
        """The learned architecture weights, for the trial's user attributes."""
        report: dict[str, Any] = {}
        if self.dims is not None:
            report["dims"] = {
                k: {str(w): round(p, 4) for w, p in probs.items()}
                for k, probs in self.dims.probabilities().items()
                if not k.startswith("fixed:")
            }
        if self.gates:
            gated, decisions = self.gates[0]
            alphas = [round(a, 6) for a in gated.alpha.tolist()]
            report["gates"] = {d.key: a for d, a in zip(decisions, alphas, strict=True)}
        if self.groups is not None:
            probs = self.groups.probabilities()
            report["groups"] = {n: round(float(probs[c]), 4) for n, c in self._group_cells.items()}
        if self.blocks:
            report["block_types"] = {
                name: {t: round(p, 4) for t, p in mixed.probabilities().items()}
                for name, mixed in self.blocks.items()
            }
        if self.fields is not None:
            report["fields"] = {f: round(p, 4) for f, p in self.fields.probabilities().items()}
        if self.relaxable.numerical:
            report["numerical"] = {
                f: {m: round(p, 4) for m, p in probs.items()}
                for f, probs in self.method_weights(decided).items()
            }
        return report


def _field_of(d: Decision) -> str | None:
    """The field of a per-field decision; None for one decision over all fields."""
    return d.key


def _mixture_of(
    mixtures: list[MixedNumericalEmbedding], name: str, width: Any, dims: RelaxedDims | None
) -> tuple[MixedNumericalEmbedding, int] | None:
    """The mixture that embeds field ``name`` at ``width`` (the only one without AutoDim)
    and the field's row in it."""
    for m in mixtures:
        if name not in m.field_names:
            continue
        if dims is not None and width is not None:
            table = dims.tables[f"d{int(width)}"]
            if not any(x is m for x in table.modules()):
                continue
        return m, m.field_names.index(name)
    return None


def _children(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """``(parent, attribute, module)`` of every submodule."""
    out = []
    for parent in model.modules():
        for attr, child in parent.named_children():
            out.append((parent, attr, child))
    return out
