"""Today's strong backbones: dcnv2, autoint (AutoInt+ with ``deep``), finalmlp.

They read the same input as the other backbones (see :mod:`.backbones`): field vectors of
mixed widths, concatenated (``embedding.concat``) where a part reads one flat vector and
projected to the widest width (``embedding.equalize``) where attention needs equal
widths; ``raw`` numerical fields enter after the concatenated vectors. None of the three
papers has a first-order part, so none is added. Settings: ``model.dcnv2``,
``model.autoint``, ``model.finalmlp``; the MLPs read ``model.mlp``.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor, nn

from searchengine.data.schema import DataSchema
from searchengine.models.backbones import _DeepInput, _mlp, _vectors
from searchengine.models.base import BACKBONES, Backbone
from searchengine.models.config import ModelConfig
from searchengine.models.embedding import FieldEmbedding, RawValues
from searchengine.models.interaction import CrossNetworkV2, SelfAttention
from searchengine.spec.format import ModelSpec

__all__ = ["DCNv2", "AutoInt", "FinalMLP"]


@BACKBONES.register("dcnv2")
class DCNv2(Backbone):
    """DCN-V2 (DCN-M, WWW'21): cross layers ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``
    with a full-rank ``W`` (or a gated mixture of low-rank experts) over the concatenated
    field vectors (then the raw numerical values) ``x_0``, and ``model.mlp``: side by
    side (``parallel``, joined by a linear layer) or on top (``stacked``)."""

    description = "DCN-V2: full-rank (or mixture of low-rank) cross layers with an MLP."
    uses_mlp = True
    settings = "dcnv2"

    embedding: FieldEmbedding

    def __init__(self, schema: DataSchema, config: ModelConfig, *, sparse: bool = False) -> None:
        super().__init__(schema, config, sparse=sparse)
        self.embedding = embedding = _vectors("dcnv2", self.field_embedding(
            schema, config, sparse=sparse
        ))  # fmt: skip
        self.deep_input = _DeepInput(embedding, schema, config)
        width = self.deep_input.out_dim
        s = config.dcnv2
        self.cross = CrossNetworkV2(width, s.layers, experts=s.experts, rank=s.rank)
        self.stacked = s.structure == "stacked"
        self.mlp = _mlp(width, config.mlp, out_dim=None)
        self.head = nn.Linear(self.mlp.out_dim if self.stacked else width + self.mlp.out_dim, 1)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        vectors = self.embedding(cat, num, num_missing)  # [(B, F_g, D_g)]
        x0 = self.deep_input(self.embedding, vectors, num)  # (B, K)
        crossed = self.cross(x0)  # (B, K)
        if self.stacked:
            both = self.mlp(crossed)  # (B, H)
        else:
            both = torch.cat([crossed, self.mlp(x0)], dim=1)  # (B, K + H)
        return self.head(both).squeeze(-1)  # (B,)

    @classmethod
    def tiny(cls, schema: DataSchema) -> ModelSpec:
        """Width 4, a hidden layer of 8, two cross layers of two rank-2 experts."""
        return ModelSpec.model_validate(
            {
                "backbone": "dcnv2",
                "embedding": {"dim": 4},
                "mlp": {"layers": [8]},
                "dcnv2": {"layers": 2, "experts": 2, "rank": 2},
            }
        )


@BACKBONES.register("autoint")
class AutoInt(Backbone):
    """AutoInt (CIKM'19): stacked multi-head self-attention layers with residual maps
    over the field vectors (projected to the widest width), flattened into a linear
    output beside the raw numerical values; with ``deep`` (AutoInt+) ``model.mlp`` over
    the concatenated field vectors adds its logit."""

    description = "AutoInt: multi-head self-attention over the fields (+ an MLP: AutoInt+)."
    uses_mlp = True
    needs_equal_dims = True
    settings = "autoint"
    mlp_switch = "deep"

    embedding: FieldEmbedding

    def __init__(self, schema: DataSchema, config: ModelConfig, *, sparse: bool = False) -> None:
        super().__init__(schema, config, sparse=sparse)
        self.embedding = embedding = _vectors("autoint", self.field_embedding(
            schema, config, sparse=sparse
        ))  # fmt: skip
        s = config.autoint
        layers, width = [], embedding.common_dim
        for _ in range(s.layers):
            layers.append(SelfAttention(width, s.heads, s.dim, residual=s.residual))
            width = layers[-1].out_dim
        self.attention = nn.Sequential(*layers)
        self.raw = RawValues.of(schema, config.numerical)
        raw = 0 if self.raw is None else self.raw.out_dim
        self.head = nn.Linear(len(embedding.field_names) * width + raw, 1)
        self.deep_input = _DeepInput(embedding, schema, config) if s.deep else None
        self.mlp = None if self.deep_input is None else _mlp(
            self.deep_input.out_dim, config.mlp, out_dim=1
        )  # fmt: skip

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        vectors = self.embedding(cat, num, num_missing)  # [(B, F_g, D_g)]
        e = self.attention(self.embedding.equalize(vectors))  # (B, F, H d)
        flat = e.flatten(1)  # (B, F H d)
        if self.raw is not None:
            flat = torch.cat([flat, self.raw(num).to(flat.dtype)], dim=1)  # (B, F H d + R)
        logit = self.head(flat).squeeze(-1)  # (B,)
        if self.mlp is not None and self.deep_input is not None:
            parts = self.deep_input.parts(self.embedding, vectors, num)
            logit = logit + self.mlp(*parts).squeeze(-1)  # (B,)
        return logit

    @classmethod
    def tiny(cls, schema: DataSchema) -> ModelSpec:
        """Width 4, two layers of two heads of width 2, and an MLP of 8 (AutoInt+)."""
        return ModelSpec.model_validate(
            {
                "backbone": "autoint",
                "embedding": {"dim": 4},
                "mlp": {"layers": [8]},
                "autoint": {"layers": 2, "heads": 2, "dim": 2, "deep": True},
            }
        )


class _FeatureGate(nn.Module):
    """FinalMLP's feature gating: ``x * 2 sigmoid(MLP(x))``, a weight in (0, 2) for each
    input, computed from the field vectors themselves."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, width))

    def forward(self, x: Tensor) -> Tensor:
        return x * 2.0 * torch.sigmoid(self.net(x))  # (B, K)


class _BilinearFusion(nn.Module):
    """FinalMLP's multi-head bilinear fusion of two streams ``o1`` ``(B, d1)`` and ``o2``
    ``(B, d2)``: ``b + w1 . o1 + w2 . o2 + sum_h o1_h^T W_h o2_h``, where ``o*_h`` is the
    ``h``-th of ``heads`` chunks of width ``ceil(d / heads)`` (the last ones zero-padded
    where ``heads`` does not divide ``d``), so streams of any width fit.
    """

    def __init__(self, d1: int, d2: int, heads: int) -> None:
        super().__init__()
        self.heads, self.a, self.c = heads, -(-d1 // heads), -(-d2 // heads)
        self.first = nn.Linear(d1, 1)
        self.second = nn.Linear(d2, 1, bias=False)
        weight = torch.randn(heads, self.a, self.c) / math.sqrt(self.a * self.c)
        self.weight = nn.Parameter(weight)  # (H, a, c)

    def forward(self, o1: Tensor, o2: Tensor) -> Tensor:
        b = o1.shape[0]
        h1 = _pad(o1, self.heads * self.a).view(b, self.heads, 1, self.a)  # (B, H, 1, a)
        h2 = _pad(o2, self.heads * self.c).view(b, self.heads, self.c, 1)  # (B, H, c, 1)
        bilinear = (h1 @ self.weight.to(h1.dtype) @ h2).flatten(1).sum(1)  # (B,)
        return self.first(o1).squeeze(-1) + self.second(o2).squeeze(-1) + bilinear


def _pad(x: Tensor, width: int) -> Tensor:
    return x if x.shape[1] == width else nn.functional.pad(x, (0, width - x.shape[1]))


@BACKBONES.register("finalmlp")
class FinalMLP(Backbone):
    """FinalMLP (AAAI'23): two MLP streams over the concatenated field vectors (then the
    raw numerical values), ``model.mlp`` and ``model.finalmlp.layers``, each reading its
    input through its own feature gate (``gate``), joined by a multi-head bilinear
    fusion (``heads`` chunks of each stream)."""

    description = "FinalMLP: two gated MLP streams joined by a bilinear fusion."
    uses_mlp = True
    settings = "finalmlp"

    embedding: FieldEmbedding

    def __init__(self, schema: DataSchema, config: ModelConfig, *, sparse: bool = False) -> None:
        super().__init__(schema, config, sparse=sparse)
        self.embedding = embedding = _vectors("finalmlp", self.field_embedding(
            schema, config, sparse=sparse
        ))  # fmt: skip
        self.deep_input = _DeepInput(embedding, schema, config)
        width, s = self.deep_input.out_dim, config.finalmlp
        self.gates = nn.ModuleList(
            [_FeatureGate(width, s.gate_width) for _ in range(2)] if s.gate else []
        )
        second = dataclasses.replace(config.mlp, layers=s.layers)  # model.mlp's other settings
        self.streams = nn.ModuleList(
            [_mlp(width, config.mlp, out_dim=None), _mlp(width, second, out_dim=None)]
        )
        d1, d2 = (m.out_dim for m in self.streams)
        self.fusion = _BilinearFusion(d1, d2, s.heads)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        vectors = self.embedding(cat, num, num_missing)  # [(B, F_g, D_g)]
        x = self.deep_input(self.embedding, vectors, num)  # (B, K)
        inputs = [gate(x) for gate in self.gates] if len(self.gates) else [x, x]
        o1, o2 = (mlp(i) for mlp, i in zip(self.streams, inputs, strict=True))  # (B, d*)
        return self.fusion(o1, o2)  # (B,)

    @classmethod
    def tiny(cls, schema: DataSchema) -> ModelSpec:
        """Width 4, streams of 16 and 12, gates of 8, two fusion heads."""
        return ModelSpec.model_validate(
            {
                "backbone": "finalmlp",
                "embedding": {"dim": 4},
                "mlp": {"layers": [16]},
                "finalmlp": {"layers": [12], "gate_width": 8, "heads": 2},
            }
        )
