"""The built-in backbones: fm, fwfm, wide_deep, deepfm, dcn.

Every backbone reads the same input (``cat``, ``num``, ``num_missing``) and returns logits
``(B,)``. Field vectors come from a :class:`FieldEmbedding` (mixed widths allowed); parts
that need equal widths use ``embedding.equalize`` (projected to the widest width), parts
that concatenate use the raw vectors (``embedding.concat``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from searchengine.data.schema import DataSchema
from searchengine.models.base import BACKBONES, Backbone
from searchengine.models.config import MLPConfig, ModelConfig
from searchengine.models.embedding import FieldEmbedding, FirstOrder
from searchengine.models.interaction import CrossNetwork, FMInteraction, FwFMInteraction
from searchengine.models.interaction.grouped import GroupedInteraction
from searchengine.models.layers import MLP

__all__ = ["DCN", "FM", "DeepFM", "FwFM", "WideDeep"]


def _mlp(in_dim: int, config: MLPConfig, out_dim: int | None) -> MLP:
    return MLP(
        in_dim,
        config.layers,
        dropout=config.dropout,
        batch_norm=config.batch_norm,
        activation=config.activation,
        out_dim=out_dim,
    )


def _positions(
    embedding: FieldEmbedding, pairs: Sequence[tuple[str, str]]
) -> list[tuple[int, int]]:
    """Field pairs as positions into the field axis of ``embedding.equalize``."""
    return [(embedding.position(a), embedding.position(b)) for a, b in pairs]


def _paired_fields(schema: DataSchema, config: ModelConfig) -> list[str]:
    """The fields that take part in a kept pair or a feature set, in schema order."""
    if config.pairs is None:
        return schema.names if len(schema.names) > 1 else []
    used = {name for pair in config.pairs for name in pair}
    for sets in (config.groups or {}).values():
        used.update(name for members in sets for name in members)
    return [name for name in schema.names if name in used]


class _Groups(nn.Module):
    """AutoGroup's interactions and the linear map of them into the logit."""

    def __init__(self, embedding: FieldEmbedding, config: ModelConfig) -> None:
        super().__init__()
        assert config.groups is not None
        members = {order: [list(s) for s in sets] for order, sets in config.groups.items()}
        self.interaction = GroupedInteraction(embedding.field_names, members)
        self.head = nn.Linear(self.interaction.n_sets, 1, bias=False)

    def forward(self, e: Tensor) -> Tensor:
        return self.head(self.interaction(e)).squeeze(-1)  # (B, F, D*) -> (B,)


def _groups(embedding: FieldEmbedding | None, config: ModelConfig) -> _Groups | None:
    if embedding is None or config.groups is None:
        return None
    return _Groups(embedding, config)


@BACKBONES.register("fm")
class FM(Backbone):
    """Factorization machine: ``w0 + sum_f w_f + sum_{(i,j) kept} <e_i, e_j>``.

    Only fields in a kept pair (or a feature set) are embedded; the others contribute
    first-order terms. With ``model.interactions.groups`` the sets' interactions
    (AutoGroup) are added.
    """

    description = "Factorization machine: bias, first-order terms and pairwise inner products."
    uses_pairs = True
    uses_groups = True
    needs_equal_dims = True

    def __init__(self, schema: DataSchema, config: ModelConfig, *, sparse: bool = False) -> None:
        super().__init__(schema, config, sparse=sparse)
        self.linear = FirstOrder(schema, sparse=sparse)
        self.embedding = self.field_embedding(schema, config, sparse=sparse)
        self.interaction = (
            None if self.embedding is None else self._interaction(self.embedding, schema, config)
        )
        self.groups = _groups(self.embedding, config)

    @classmethod
    def embedded_fields(cls, schema: DataSchema, config: ModelConfig) -> list[str]:
        return _paired_fields(schema, config)

    def _interaction(
        self, embedding: FieldEmbedding, schema: DataSchema, config: ModelConfig
    ) -> nn.Module:
        pairs = None if config.pairs is None else _positions(embedding, config.pairs)
        return FMInteraction(len(embedding.field_names), pairs)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        logit = self.linear(cat, num, num_missing)  # (B,)
        if self.embedding is not None and self.interaction is not None:
            e = self.embedding.equalize(self.embedding(cat, num, num_missing))  # (B, F, D*)
            logit = logit + self.interaction(e)  # (B,)
            if self.groups is not None:
                logit = logit + self.groups(e)  # (B,)
        return logit


@BACKBONES.register("fwfm")
class FwFM(FM):
    """Field-weighted FM: ``w0 + sum_f w_f + sum_{(i,j) kept} r_ij <e_i, e_j>``.

    Only fields in a kept pair are embedded; the others contribute first-order terms.
    """

    description = "Field-weighted FM: a learned weight for every kept field pair's product."

    def _interaction(
        self, embedding: FieldEmbedding, schema: DataSchema, config: ModelConfig
    ) -> nn.Module:
        pairs = schema.pairs() if config.pairs is None else config.pairs
        return FwFMInteraction(len(embedding.field_names), _positions(embedding, pairs))


@BACKBONES.register("wide_deep")
class WideDeep(Backbone):
    """Wide & Deep: first-order terms (wide) plus an MLP over the concatenated field
    vectors (deep)."""

    uses_mlp = True

    description = "Wide & Deep: a linear part plus an MLP over the concatenated embeddings."

    embedding: FieldEmbedding

    def __init__(self, schema: DataSchema, config: ModelConfig, *, sparse: bool = False) -> None:
        super().__init__(schema, config, sparse=sparse)
        self.linear = FirstOrder(schema, sparse=sparse)
        embedding = self.field_embedding(schema, config, sparse=sparse)
        assert embedding is not None  # every field is embedded
        self.embedding = embedding
        self.mlp = _mlp(embedding.out_dim, config.mlp, out_dim=1)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        x = self.embedding.concat(self.embedding(cat, num, num_missing))  # (B, sum D_f)
        deep = self.mlp(x).squeeze(-1)  # (B,)
        return self.linear(cat, num, num_missing) + deep  # (B,)


@BACKBONES.register("deepfm")
class DeepFM(Backbone):
    """DeepFM: FM (first-order terms and kept pairs, over projected vectors) plus an MLP
    over the concatenated raw field vectors, sharing one embedding; with
    ``model.interactions.groups`` the sets' interactions (AutoGroup) are added."""

    uses_mlp = True

    description = "DeepFM: an FM and an MLP sharing the field embeddings."
    uses_pairs = True
    uses_groups = True
    needs_equal_dims = True

    embedding: FieldEmbedding

    def __init__(self, schema: DataSchema, config: ModelConfig, *, sparse: bool = False) -> None:
        super().__init__(schema, config, sparse=sparse)
        self.linear = FirstOrder(schema, sparse=sparse)
        embedding = self.field_embedding(schema, config, sparse=sparse)
        assert embedding is not None  # every field is embedded
        self.embedding = embedding
        pairs = None if config.pairs is None else _positions(embedding, config.pairs)
        self.fm = FMInteraction(len(embedding.field_names), pairs)
        self.mlp = _mlp(embedding.out_dim, config.mlp, out_dim=1)
        self.groups = _groups(embedding, config)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        vectors = self.embedding(cat, num, num_missing)  # [(B, F_g, D_g)]
        e = self.embedding.equalize(vectors)  # (B, F, D*)
        deep = self.mlp(self.embedding.concat(vectors)).squeeze(-1)  # (B,)
        logit = self.linear(cat, num, num_missing) + self.fm(e) + deep  # (B,)
        if self.groups is not None:
            logit = logit + self.groups(e)  # (B,)
        return logit


@BACKBONES.register("dcn")
class DCN(Backbone):
    """Deep & Cross Network: a cross network and an MLP side by side over the
    concatenated field vectors ``x0``, joined by a final linear layer."""

    uses_mlp = True
    uses_cross = True

    description = "Deep & Cross Network: explicit feature crossing next to an MLP."

    embedding: FieldEmbedding

    def __init__(self, schema: DataSchema, config: ModelConfig, *, sparse: bool = False) -> None:
        super().__init__(schema, config, sparse=sparse)
        embedding = self.field_embedding(schema, config, sparse=sparse)
        assert embedding is not None  # every field is embedded
        self.embedding = embedding
        self.cross = CrossNetwork(embedding.out_dim, config.cross_layers)
        self.mlp = _mlp(embedding.out_dim, config.mlp, out_dim=None)
        self.head = nn.Linear(embedding.out_dim + self.mlp.out_dim, 1)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        x0 = self.embedding.concat(self.embedding(cat, num, num_missing))  # (B, K)
        both = torch.cat([self.cross(x0), self.mlp(x0)], dim=1)  # (B, K + H)
        return self.head(both).squeeze(-1)  # (B,)
