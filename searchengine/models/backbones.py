"""The built-in backbones: fm, fwfm, wide_deep, deepfm, dcn.

Every backbone reads the same input (``cat``, ``num``, ``num_missing``) and returns logits
``(B,)``. Field vectors come from a :class:`FieldEmbedding` (mixed widths allowed); parts
that need equal widths use ``embedding.equalize`` (projected to the widest width), parts
that concatenate use the raw vectors (``embedding.concat``). Numerical fields of the
``raw`` method have no vector: they enter the first-order terms and, in the deep part,
one input each after the concatenated vectors (:class:`_DeepInput`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from searchengine.data.schema import DataSchema
from searchengine.models.base import BACKBONES, Backbone, vector_fields
from searchengine.models.config import MLPConfig, ModelConfig
from searchengine.models.embedding import FieldEmbedding, FirstOrder, RawValues
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
    """The fields that take part in a kept pair or a feature set, in schema order (never
    a raw field: it has no vector)."""
    names = vector_fields(schema, config)
    if config.pairs is None:
        return names if len(names) > 1 else []
    used = {name for pair in config.pairs for name in pair}
    for sets in (config.groups or {}).values():
        used.update(name for members in sets for name in members)
    return [name for name in names if name in used]


def _vectors(name: str, embedding: FieldEmbedding | None) -> FieldEmbedding:
    if embedding is None:
        raise ValueError(
            f"{name}: no field has a vector (every field is a raw numerical field); "
            "embed at least one (model.embedding.numerical)"
        )
    return embedding


class _DeepInput(nn.Module):
    """The input of a deep part: the concatenated field vectors, then the values of the
    raw numerical fields, ``(B, out_dim)``."""

    def __init__(self, embedding: FieldEmbedding, schema: DataSchema, config: ModelConfig) -> None:
        super().__init__()
        self.raw = RawValues.of(schema, config.numerical)
        self.out_dim = embedding.out_dim + (0 if self.raw is None else self.raw.out_dim)

    def forward(self, embedding: FieldEmbedding, vectors: list[Tensor], num: Tensor) -> Tensor:
        x, raw = self.parts(embedding, vectors, num)
        return x if raw is None else torch.cat([x, raw], dim=1)  # (B, sum D_f + R)

    def parts(
        self, embedding: FieldEmbedding, vectors: list[Tensor], num: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """The vectors ``(B, sum D_f)`` and the raw values ``(B, R)`` (None without raw
        fields) apart, for an :class:`MLP` that takes the raw values as its ``side``."""
        return embedding.concat(vectors), None if self.raw is None else self.raw(num)


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
        if config.pairs is None:  # every pair of the fields with a vector
            names = set(embedding.field_names)
            pairs = [(a, b) for a, b in schema.pairs() if a in names and b in names]
        else:
            pairs = list(config.pairs)
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
        self.embedding = embedding = _vectors("wide_deep", self.field_embedding(
            schema, config, sparse=sparse
        ))  # fmt: skip
        self.deep_input = _DeepInput(embedding, schema, config)
        self.mlp = _mlp(self.deep_input.out_dim, config.mlp, out_dim=1)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        vectors = self.embedding(cat, num, num_missing)  # [(B, F_g, D_g)]
        deep = self.mlp(*self.deep_input.parts(self.embedding, vectors, num)).squeeze(-1)
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
        self.embedding = embedding = _vectors("deepfm", self.field_embedding(
            schema, config, sparse=sparse
        ))  # fmt: skip
        pairs = None if config.pairs is None else _positions(embedding, config.pairs)
        self.fm = FMInteraction(len(embedding.field_names), pairs)
        self.deep_input = _DeepInput(embedding, schema, config)
        self.mlp = _mlp(self.deep_input.out_dim, config.mlp, out_dim=1)
        self.groups = _groups(embedding, config)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        vectors = self.embedding(cat, num, num_missing)  # [(B, F_g, D_g)]
        e = self.embedding.equalize(vectors)  # (B, F, D*)
        deep = self.mlp(*self.deep_input.parts(self.embedding, vectors, num)).squeeze(-1)
        logit = self.linear(cat, num, num_missing) + self.fm(e) + deep  # (B,)
        if self.groups is not None:
            logit = logit + self.groups(e)  # (B,)
        return logit


@BACKBONES.register("dcn")
class DCN(Backbone):
    """Deep & Cross Network: a cross network and an MLP side by side over the
    concatenated field vectors (then the raw numerical values) ``x0``, joined by a final
    linear layer."""

    uses_mlp = True
    uses_cross = True

    description = "Deep & Cross Network: explicit feature crossing next to an MLP."

    embedding: FieldEmbedding

    def __init__(self, schema: DataSchema, config: ModelConfig, *, sparse: bool = False) -> None:
        super().__init__(schema, config, sparse=sparse)
        self.embedding = embedding = _vectors("dcn", self.field_embedding(
            schema, config, sparse=sparse
        ))  # fmt: skip
        self.deep_input = _DeepInput(embedding, schema, config)
        width = self.deep_input.out_dim
        self.cross = CrossNetwork(width, config.cross_layers)
        self.mlp = _mlp(width, config.mlp, out_dim=None)
        self.head = nn.Linear(width + self.mlp.out_dim, 1)

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        vectors = self.embedding(cat, num, num_missing)  # [(B, F_g, D_g)]
        x0 = self.deep_input(self.embedding, vectors, num)  # (B, K)
        both = torch.cat([self.cross(x0), self.mlp(x0)], dim=1)  # (B, K + H)
        return self.head(both).squeeze(-1)  # (B,)
