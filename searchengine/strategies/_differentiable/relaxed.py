"""The relaxed modules of the differentiable search: soft versions of discrete choices.

* :class:`RelaxedDims` (AutoDim, WWW'21): every candidate width of every field has its
  own embedding, brought to the common width ``D`` by a per-field linear map and a batch
  norm, and the candidates are mixed by Gumbel-softmax weights per field.
* :class:`RelaxedGroups` (AutoGroup, SIGIR'20): each field's membership of each feature
  set is a Gumbel-softmax over (in, out).
* :class:`MixedNode`: a DAG block whose type is searched (AutoCTR's space) holds every
  candidate type, their outputs mixed by softmax weights (a DARTS mixed operation).
* Interaction gates (AutoFIS) use :class:`~searchengine.models.interaction.gated.GatedPairs`
  and numerical methods the ``mixed`` method
  (:class:`~searchengine.models.embedding.MixedNumericalEmbedding`), softmax-weighted.

The modules read the current temperature and noise from a shared :class:`Relaxation`
state: noise is drawn by :meth:`Relaxation.resample` once per training or architecture
step (every forward pass of one step sees the same sample, as the second-order gradient
needs), and evaluation mode uses the noiseless softmax.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from searchengine.data.schema import DataSchema
from searchengine.models.embedding import FieldEmbedding, NumericalConfig
from searchengine.models.interaction.grouped import GroupedInteraction

__all__ = ["MixedNode", "RelaxedDims", "RelaxedGroups", "Relaxation"]

#: The initial scale of the batch-normalized candidate vectors of :class:`RelaxedDims`.
_NORM_SCALE = 0.1


class Relaxation:
    """The temperature and the Gumbel noise shared by the relaxed modules.

    Args:
        gumbel: sample Gumbel noise (AutoDim, AutoGroup); False is a plain softmax.
        seed: seeds the noise.
    """

    def __init__(self, *, gumbel: bool = True, seed: int = 0) -> None:
        self.gumbel = gumbel
        self.temperature = 1.0
        self.generator = torch.Generator().manual_seed(seed)
        self._version = 0

    def resample(self) -> None:
        """Draw new noise for the next forward passes."""
        self._version += 1

    def weights(self, module: nn.Module, logits: Tensor) -> Tensor:
        """Softmax over the last axis of ``logits`` at the temperature, with the current
        noise while ``module`` trains."""
        if module.training and self.gumbel:
            cached = getattr(module, "_noise", None)
            if cached is None or cached[0] != self._version or cached[1].shape != logits.shape:
                u = torch.rand(logits.shape, generator=self.generator).clamp_(1e-10, 1.0)
                module._noise = (self._version, (-torch.log(-torch.log(u))).to(logits.device))
            logits = logits + module._noise[1]
        return F.softmax(logits / self.temperature, dim=-1)


class RelaxedDims(nn.Module):
    """Every candidate width of every field, mixed: AutoDim's embedding layer.

    A drop-in for :class:`FieldEmbedding` in a backbone built with every field at the
    common width ``D``: one group ``(B, F, D)`` in the same field order.

    Args:
        schema: the fields of the data.
        field_names: the fields, in the order of the embedding this module replaces.
        candidates: field -> its candidate widths (one width: not searched).
        common: ``D``, at least every candidate.
        tied: fields whose candidates share one row of architecture weights (a single
            ``model.embedding.dim`` decision for all of them): field -> row key.
        numerical: how numerical fields are embedded at every width.
        relaxation: the shared temperature and noise.
        sparse: sparse gradients for the candidates' tables.

    Attributes:
        logits: ``(R, K)`` architecture weights, a row per searched decision; unused
            entries (a field with fewer candidates) are ``-inf``.
    """

    def __init__(
        self,
        schema: DataSchema,
        field_names: Sequence[str],
        candidates: Mapping[str, Sequence[int]],
        common: int,
        *,
        tied: Mapping[str, str],
        numerical: NumericalConfig,
        relaxation: Relaxation,
        sparse: bool = False,
    ) -> None:
        super().__init__()
        self.field_names = list(field_names)
        self.candidates = {
            f: tuple(sorted(set(int(w) for w in candidates[f]))) for f in field_names
        }
        self.common_dim = common
        self.widths = [common]
        self.dims = dict.fromkeys(self.field_names, common)
        self.out_dim = common * len(self.field_names)
        self.equalizes = True
        self.relaxation = relaxation
        self._position = {name: i for i, name in enumerate(self.field_names)}
        self.rows = list(dict.fromkeys(tied[f] for f in self.field_names))
        self._row_of = {f: self.rows.index(tied[f]) for f in self.field_names}
        k = max(len(c) for c in self.candidates.values())
        init = torch.full((len(self.rows), k), -math.inf)
        for f, widths in self.candidates.items():
            init[self._row_of[f], : len(widths)] = 0.0
        self.logits = nn.Parameter(init)  # (R, K)
        self.tables = nn.ModuleDict()
        self.projections = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        self.norms = nn.ModuleDict()
        # rows per field (ids, or the value and missing vectors), for the memory penalty
        sizes = [
            schema.field(f).vocab_size if schema.field(f).is_categorical else 2
            for f in self.field_names
        ]
        self.register_buffer("_sizes", torch.tensor(sizes, dtype=torch.float32))  # (F,)
        widths = torch.zeros(len(self.field_names), k)
        for i, f in enumerate(self.field_names):
            widths[i, : len(self.candidates[f])] = torch.tensor(
                self.candidates[f], dtype=torch.float
            )
        self.register_buffer("_widths", widths)  # (F, K)
        self.register_buffer("_rows", torch.tensor([self._row_of[f] for f in self.field_names]))
        for width in sorted({w for c in self.candidates.values() for w in c}):
            members = [f for f in self.field_names if width in self.candidates[f]]
            table = FieldEmbedding(
                schema, dict.fromkeys(members, width), numerical=numerical, sparse=sparse
            )
            key = f"d{width}"
            order = table.field_names  # the table's own order (categorical, then numerical)
            self.tables[key] = table
            self.projections[key] = nn.Parameter(
                torch.randn(len(order), width, common) / math.sqrt(width)
            )  # (F_w, w, D)
            self.biases[key] = nn.Parameter(torch.zeros(len(order), common))  # (F_w, D)
            norm = self.norms[key] = nn.BatchNorm1d(len(order) * common)
            # Unit-variance vectors would make pairwise products (FM) huge at the start;
            # this scale starts them near the size of freshly initialized embeddings.
            nn.init.constant_(norm.weight, _NORM_SCALE)
            self.register_buffer(f"_pos_{key}", torch.tensor([self._position[f] for f in order]))
            self.register_buffer(f"_row_{key}", torch.tensor([self._row_of[f] for f in order]))
            self.register_buffer(
                f"_col_{key}", torch.tensor([self.candidates[f].index(width) for f in order])
            )
        orders = [t.field_names for t in self.tables.values()]
        self._same_order = all(o == orders[0] for o in orders) and len(orders[0]) == len(
            self.field_names
        )
        reorder = None
        if self._same_order and orders[0] != self.field_names:
            reorder = torch.tensor([orders[0].index(f) for f in self.field_names])
        self.register_buffer("_reorder", reorder)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> list[Tensor]:
        """One group ``(B, F, D)``: each field's candidates projected and mixed."""
        weights = self.relaxation.weights(self, self.logits)  # (R, K)
        out: Tensor | None = None
        for key, table in self.tables.items():
            (e,) = table(cat, num, num_missing)  # (B, F_w, w)
            p = torch.einsum("bfw,fwd->bfd", e, self.projections[key]) + self.biases[key]
            p = self.norms[key](p.flatten(1)).view_as(p)  # (B, F_w, D)
            rows, cols = getattr(self, f"_row_{key}"), getattr(self, f"_col_{key}")
            part = p * weights[rows, cols][None, :, None]  # (B, F_w, D)
            if self._same_order:  # every width holds every field: add, reorder once
                out = part if out is None else out + part
                continue
            if out is None:
                out = p.new_zeros(p.shape[0], len(self.field_names), self.common_dim)
            out = out.index_add(1, getattr(self, f"_pos_{key}"), part)  # (B, F, D)
        assert out is not None
        if self._same_order and self._reorder is not None:
            out = out.index_select(1, self._reorder)
        return [out]

    def equalize(self, groups: list[Tensor]) -> Tensor:
        return groups[0]  # (B, F, D)

    def concat(self, groups: list[Tensor]) -> Tensor:
        return groups[0].flatten(1)  # (B, F * D)

    def position(self, name: str) -> int:
        return self._position[name]

    def num_params(self) -> int:
        return sum(p.numel() for n, p in self.named_parameters() if n != "logits")

    def architecture_parameters(self) -> list[nn.Parameter]:
        return [self.logits]

    def expected_params_ratio(self) -> Tensor:
        """The expected embedding weights under the architecture weights (no noise) over
        those of every field at its largest candidate; differentiable in ``logits``."""
        probs = F.softmax(self.logits / self.relaxation.temperature, dim=-1)[self._rows]  # (F, K)
        expected = (probs * self._widths).sum(dim=1) * self._sizes  # (F,)
        return expected.sum() / (self._widths.max(dim=1).values * self._sizes).sum()

    def expected_params(self, *, project: bool) -> Tensor:
        """The expected embedding parameters of the derived model under the architecture
        weights (no noise), differentiable in ``logits``: each field's rows times its
        width, plus, with ``project`` (a backbone that equalizes widths), the ``w x D``
        projection of every width narrower than the common ``D``."""
        probs = F.softmax(self.logits / self.relaxation.temperature, dim=-1)[self._rows]  # (F, K)
        per_width = self._widths * self._sizes[:, None]  # (F, K)
        if project:
            narrower = (self._widths < self.common_dim) & (self._widths > 0)
            per_width = per_width + torch.where(narrower, self._widths * self.common_dim, 0.0)
        return (probs * per_width).sum()

    def full_params(self) -> float:
        """The embedding parameters with every field at its largest candidate (FDE)."""
        return float((self._widths.max(dim=1).values * self._sizes).sum())

    def probabilities(self) -> dict[str, dict[int, float]]:
        """Row key -> candidate width -> its softmax probability (no noise)."""
        with torch.no_grad():
            probs = F.softmax(self.logits / self.relaxation.temperature, dim=-1)
        out: dict[str, dict[int, float]] = {}
        for f in self.field_names:
            row = self._row_of[f]
            widths = self.candidates[f]
            out.setdefault(self.rows[row], {w: float(probs[row, i]) for i, w in enumerate(widths)})
        return out

    def derive(self) -> dict[str, int]:
        """Row key -> the width of its largest architecture weight."""
        return {
            key: max(probs, key=probs.__getitem__) for key, probs in self.probabilities().items()
        }


class RelaxedGroups(nn.Module):
    """A :class:`GroupedInteraction` whose membership is learned: AutoGroup's search.

    Args:
        interaction: the grouped interaction of the full-size model (every field in every
            set); its field weights are kept and trained.
        searched: ``(S, F)`` True where membership is searched; the rest keeps the
            interaction's fixed membership.
        relaxation: the shared temperature and noise.

    Attributes:
        logits: ``(S, F, 2)`` architecture weights of (in, out).
    """

    def __init__(
        self, interaction: GroupedInteraction, searched: Tensor, relaxation: Relaxation
    ) -> None:
        super().__init__()
        self.interaction = interaction
        self.relaxation = relaxation
        self.register_buffer("searched", searched.float())  # (S, F)
        self.logits = nn.Parameter(torch.zeros(*searched.shape, 2))  # (S, F, 2)

    def membership(self) -> Tensor:
        """``(S, F)`` the soft membership (the probability of "in" where searched)."""
        soft = self.relaxation.weights(self, self.logits)[..., 0]  # (S, F)
        fixed = self.interaction.membership
        return self.searched * soft + (1.0 - self.searched) * fixed

    def forward(self, e: Tensor) -> Tensor:
        return self.interaction(e, membership=self.membership())  # (B, S)

    def architecture_parameters(self) -> list[nn.Parameter]:
        return [self.logits]

    def probabilities(self) -> Tensor:
        """``(S, F)`` the probability of "in" (no noise)."""
        with torch.no_grad():
            return F.softmax(self.logits / self.relaxation.temperature, dim=-1)[..., 0]


class MixedNode(nn.Module):
    """A block whose type is relaxed: every candidate type's block, mixed (DARTS).

    Each candidate reads the node's inputs through its own adapters; its output is mapped
    to the shape of the default type's output (a linear map of the flattened output where
    the shapes differ), so the rest of the DAG is wired as for the default type, and the
    candidates are summed with softmax weights (Gumbel noise with the shared relaxation).

    Args:
        candidates: type -> its node module (a block with its input adapters).
        out_shape: the shape every candidate's output is brought to.
        relaxation: the shared temperature and noise.

    Attributes:
        logits: ``(T,)`` the architecture weights of the types, in ``candidates`` order.
    """

    def __init__(
        self, candidates: Mapping[str, nn.Module], out_shape: Any, relaxation: Relaxation
    ) -> None:
        super().__init__()
        self.types = list(candidates)
        self.candidates = nn.ModuleDict(dict(candidates))
        self.out_shape = out_shape
        self.relaxation = relaxation
        self.maps = nn.ModuleDict()
        for name, node in candidates.items():
            shape = node.block.out_shape
            if (shape.kind, shape.size, shape.dim) != (
                out_shape.kind,
                out_shape.size,
                out_shape.dim,
            ):
                self.maps[name] = nn.Linear(shape.numel, out_shape.numel)
        self.logits = nn.Parameter(torch.zeros(len(self.types)))
        first = next(iter(candidates.values()))
        self.inputs = first.inputs

    def forward(self, xs: list[Tensor]) -> Tensor:
        weights = self.relaxation.weights(self, self.logits)  # (T,)
        out = None
        for i, name in enumerate(self.types):
            y = self.candidates[name](xs)
            if name in self.maps:
                y = self.maps[name](y.flatten(1))
                if self.out_shape.kind == "fields":
                    y = y.view(-1, self.out_shape.size, self.out_shape.dim)
            out = weights[i] * y if out is None else out + weights[i] * y
        assert out is not None
        return out

    def architecture_parameters(self) -> list[nn.Parameter]:
        return [self.logits]

    def probabilities(self) -> dict[str, float]:
        with torch.no_grad():
            probs = F.softmax(self.logits / self.relaxation.temperature, dim=-1).tolist()
        return dict(zip(self.types, probs, strict=True))
