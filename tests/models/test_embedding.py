from __future__ import annotations

import pytest
import torch
from torch import nn

from searchengine.data.schema import DataSchema
from searchengine.models.embedding import (
    FieldEmbedding,
    FirstOrder,
    FusedEmbedding,
    ScalarEmbedding,
)
from searchengine.testing import random_batch, tiny_schema


def test_fused_lookup_equals_per_field_embeddings() -> None:
    torch.manual_seed(0)
    vocab = [5, 11, 3, 7]
    columns = [3, 0, 2]  # a subset, out of order
    fused = FusedEmbedding(columns, [vocab[c] for c in columns], 6)
    per_field = []
    for i, c in enumerate(columns):
        table = nn.Embedding(vocab[c], 6)
        table.weight.data.copy_(fused.field_weight(i))
        per_field.append(table)
    cat = torch.stack([torch.randint(0, v, (32,)) for v in vocab], dim=1)  # (B, 4)
    expected = torch.stack([t(cat[:, c]) for t, c in zip(per_field, columns, strict=True)], dim=1)
    torch.testing.assert_close(fused(cat), expected, rtol=0, atol=0)


def test_fused_lookup_uses_all_columns_without_gather() -> None:
    fused = FusedEmbedding([0, 1], [4, 4], 2)
    cat = torch.tensor([[1, 2], [3, 0]])
    out = fused(cat)
    torch.testing.assert_close(out[:, 1], fused.table.weight[cat[:, 1] + 4])


def test_field_blocks_do_not_overlap() -> None:
    fused = FusedEmbedding([0, 1], [3, 5], 2)
    assert fused.table.num_embeddings == 8
    assert fused.field_weight(1).data_ptr() == fused.table.weight[3].data_ptr()
    assert FusedEmbedding.count_params([3, 5], 2) == 16


def test_numerical_values_scale_a_vector_and_missing_uses_the_missing_vector() -> None:
    torch.manual_seed(0)
    emb = ScalarEmbedding([0, 1], 3)
    num = torch.tensor([[2.0, 0.0], [-1.0, 0.5]])
    missing = torch.tensor([[False, True], [False, False]])
    out = emb(num, missing)  # (2, 2, 3)
    torch.testing.assert_close(out[0, 0], 2.0 * emb.weight[0])
    torch.testing.assert_close(out[0, 1], emb.missing[1])
    torch.testing.assert_close(out[1, 0], -1.0 * emb.weight[0])
    torch.testing.assert_close(out[1, 1], 0.5 * emb.weight[1])


def test_missing_value_gets_missing_vector_not_zero() -> None:
    # A missing value is stored as 0; it must not look like a present 0.
    emb = ScalarEmbedding([0], 2)
    present = emb(torch.zeros(1, 1), torch.tensor([[False]]))
    absent = emb(torch.zeros(1, 1), torch.tensor([[True]]))
    assert torch.equal(present, torch.zeros(1, 1, 2))
    assert not torch.equal(absent, present)


def _schema_dims(schema: DataSchema) -> dict[str, int]:
    widths = {"c0": 4, "n0": 2, "c1": 8, "n1": 4, "c2": 2}
    return {f.name: widths[f.name] for f in schema.fields}


def test_mixed_widths_group_concat_and_equalize(schema: DataSchema) -> None:
    torch.manual_seed(0)
    dims = _schema_dims(schema)
    emb = FieldEmbedding(schema, dims, equalize=True)
    assert emb.widths == [4, 2, 8]
    assert emb.field_names == ["c0", "n1", "c2", "n0", "c1"]  # per width: cats, then nums
    cat, num, missing = random_batch(schema, 5)
    groups = emb(cat, num, missing)
    assert [tuple(g.shape) for g in groups] == [(5, 2, 4), (5, 2, 2), (5, 1, 8)]
    assert emb.concat(groups).shape == (5, 20) and emb.out_dim == 20
    equal = emb.equalize(groups)
    assert equal.shape == (5, 5, 8)
    # The widest group passes through unchanged; narrower fields are projected.
    torch.testing.assert_close(equal[:, emb.position("c1")], groups[2][:, 0])
    proj = emb.projections["d2"]  # (2, 2, 8)
    torch.testing.assert_close(equal[:, emb.position("n0")], groups[1][:, 1] @ proj[1])


def test_embedding_param_count_matches(schema: DataSchema) -> None:
    dims = _schema_dims(schema)
    for equalize in (False, True):
        emb = FieldEmbedding(schema, dims, equalize=equalize)
        expected = sum(f.vocab_size * dims[f.name] for f in schema.categorical)
        expected += sum(2 * dims[f.name] for f in schema.numerical)
        if equalize:
            expected += sum(d * 8 for d in dims.values() if d != 8)
        assert emb.num_params() == expected
        assert FieldEmbedding.count_params(schema, dims, equalize=equalize) == expected


def test_equalize_needs_projections(schema: DataSchema) -> None:
    emb = FieldEmbedding(schema, _schema_dims(schema))
    with pytest.raises(RuntimeError, match="equalize=True"):
        emb.equalize(emb(*random_batch(schema)))


def test_field_embedding_rejects_unknown_fields(schema: DataSchema) -> None:
    with pytest.raises(ValueError, match="unknown"):
        FieldEmbedding(schema, {"nope": 4})


def test_first_order_is_a_linear_model(schema: DataSchema) -> None:
    torch.manual_seed(0)
    linear = FirstOrder(schema)
    for p in linear.parameters():
        nn.init.normal_(p)
    cat, num, missing = random_batch(schema, 6)
    expected = linear.bias.expand(6).clone()
    assert linear.table is not None and linear.weight is not None
    assert linear.missing is not None
    for i, f in enumerate(schema.categorical):
        expected += linear.table.field_weight(i)[cat[:, f.column], 0]
    for i, f in enumerate(schema.numerical):
        expected += torch.where(
            missing[:, f.column], linear.missing[i], num[:, f.column] * linear.weight[i]
        )
    torch.testing.assert_close(linear(cat, num, missing), expected)


def test_first_order_starts_at_zero() -> None:
    schema = tiny_schema(2, 2)
    out = FirstOrder(schema)(*random_batch(schema))
    assert torch.equal(out, torch.zeros(16))
