"""Dynamic (ESAPN) embeddings: growth keeps what an id learned, masking, exact counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from searchengine.data.schema import DataSchema
from searchengine.errors import SpecError
from searchengine.models import BACKBONES, build_model, count_embedding_params
from searchengine.models.embedding.dynamic import DynamicEmbedding
from searchengine.spec.format import ModelSpec
from searchengine.strategies.esapn import full_size_model
from searchengine.testing import random_batch

CANDIDATES = [2, 4, 8]


def _module(
    levels: list[list[int]] | None = None, vocab: tuple[int, ...] = (6, 5)
) -> DynamicEmbedding:
    torch.manual_seed(0)
    levels = levels or [[0] * v for v in vocab]
    return DynamicEmbedding(
        list(range(len(vocab))), list(vocab), CANDIDATES, [np.array(lv) for lv in levels]
    )


def _ids(vocab: tuple[int, ...] = (6, 5)) -> torch.Tensor:
    return torch.stack([torch.arange(8) % v for v in vocab], dim=1)  # (8, F)


def test_output_is_each_vector_zero_padded_to_the_largest_size() -> None:
    emb = _module([[0, 1, 2, 0, 1, 2], [2, 2, 1, 0, 0]])
    out = emb(_ids())  # (8, 2, 8)
    assert out.shape == (8, 2, 8)
    sizes = emb.sizes(0)[_ids()[:, 0]]
    for row, size in zip(out[:, 0], sizes.tolist(), strict=True):
        assert torch.all(row[size:] == 0) and torch.all(row[:size] != 0)
    assert emb.sizes(1).tolist() == [8, 8, 4, 2, 2]


def test_enlarging_with_the_initial_maps_keeps_the_first_coordinates() -> None:
    emb = _module()
    before = emb(_ids()).detach().clone()
    grown = emb.enlarge(0, torch.tensor([1, 3]))
    assert grown.tolist() == [1, 3]
    assert emb.levels(0).tolist() == [0, 1, 0, 1, 0, 0] and emb.levels(1).tolist() == [0] * 5
    torch.testing.assert_close(emb(_ids()), before, rtol=0, atol=0)  # W = [I; 0], b = 0
    emb.enlarge(0, torch.tensor([1]))
    emb.enlarge(0, torch.tensor([1]))  # already the largest: left alone
    assert emb.sizes(0).tolist() == [2, 8, 2, 4, 2, 2]
    torch.testing.assert_close(emb(_ids()), before, rtol=0, atol=0)


def test_enlarging_applies_the_learned_map() -> None:
    emb = _module()
    with torch.no_grad():
        for t in emb.growth_map(0):
            t.normal_()
    e = emb.table.weight[emb.offsets[1] + 2, :2].detach().clone()
    emb.enlarge(1, torch.tensor([2]))
    weight, bias = emb.growth_map(0)
    expected = weight[1] @ e + bias[1]  # (4,)
    torch.testing.assert_close(emb.table.weight[emb.offsets[1] + 2, :4], expected)
    assert torch.all(emb.table.weight[emb.offsets[1] + 2, 4:] == 0)


def test_columns_beyond_an_ids_size_get_no_gradient_and_stay_zero() -> None:
    emb = _module([[0, 1, 2, 0, 1, 2], [2, 2, 1, 0, 0]])
    opt = torch.optim.Adam(emb.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        emb(_ids()).pow(2).sum().backward()
        opt.step()
    held = emb.masks[emb.level].bool()  # (rows, D)
    assert torch.all(emb.table.weight[~held] == 0)
    assert not any(t.requires_grad for t in emb.growth_tensors())  # buffers: not trained here


def test_lookahead_trains_the_growth_maps_alone() -> None:
    emb = _module([[0, 1, 2, 0, 1, 2], [2, 2, 1, 0, 0]])
    maps = [t.requires_grad_(True) for t in emb.growth_tensors()]
    emb.lookahead = True
    out = emb(_ids())
    emb.lookahead = False
    out.sum().backward()
    assert emb.table.weight.grad is None
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in maps)
    # an id at size 2 looks ahead to W_{2->4} e + b, padded
    e = emb.table.weight[0, :2]
    weight, bias = emb.growth_map(0)
    torch.testing.assert_close(out[0, 0, :4], weight[0] @ e + bias[0])


def _spec(backbone: str, sizes: dict[str, list[int]] | None, dim: Any = 4) -> ModelSpec:
    dynamic: dict[str, Any] = {"candidates": CANDIDATES, "fields": ["c0", "c2"]}
    if sizes is not None:
        dynamic["sizes"] = sizes
    return ModelSpec.model_validate(
        {
            "backbone": backbone,
            "embedding": {"dim": dim, "dynamic": dynamic},
            "mlp": {"layers": [8]},
        }
    )


def _sizes(schema: DataSchema, pattern: list[int]) -> dict[str, list[int]]:
    return {
        name: [pattern[i % len(pattern)] for i in range(schema.field(name).vocab_size)]
        for name in ("c0", "c2")
    }


@pytest.mark.parametrize("backbone", ["fm", "fwfm", "wide_deep", "deepfm", "dcn"])
@pytest.mark.parametrize("pattern", [[2], [8], [2, 4, 8, 8], None])
@pytest.mark.parametrize("dim", [4, 8])
def test_counted_dynamic_params_equal_built(
    backbone: str, pattern: list[int] | None, dim: int, schema: DataSchema
) -> None:
    sizes = None if pattern is None else _sizes(schema, pattern)
    spec = _spec(backbone, sizes, dim)
    model = build_model(spec, schema)
    assert model.embedding_params() == count_embedding_params(spec, schema)
    held = (
        sum(sum(s) for s in sizes.values())
        if sizes
        else 8 * (schema.field("c0").vocab_size + schema.field("c2").vocab_size)
    )
    maps = 2 * (4 * 2 + 4 + 8 * 4 + 8)  # two fields, W and b of 2->4 and 4->8
    expected = held + maps + schema.field("c1").vocab_size * dim
    expected += sum(2 * dim for _ in schema.numerical)
    if BACKBONES.get(backbone).needs_equal_dims and dim != 8:
        expected += 3 * dim * 8  # c1, n0, n1 projected to the dynamic width
    assert model.embedding_params() == expected
    assert model(*random_batch(schema)).shape == (16,)


def test_without_sizes_every_id_is_at_the_largest_size(schema: DataSchema) -> None:
    spec = _spec("deepfm", None)
    full = full_size_model(spec, schema.names)
    assert full.embedding.dynamic is None
    assert dict(full.embedding.dim) == {"c0": 8, "n0": 4, "c1": 4, "n1": 4, "c2": 8}
    maps = 2 * (4 * 2 + 4 + 8 * 4 + 8)
    assert count_embedding_params(spec, schema) == count_embedding_params(full, schema) + maps


def test_sizes_are_checked_against_the_schema(schema: DataSchema) -> None:
    sizes = _sizes(schema, [2])
    sizes["c0"] = sizes["c0"][:3]
    sizes["c2"][0] = 16
    with pytest.raises(SpecError) as info:
        build_model(_spec("deepfm", sizes), schema)
    message = str(info.value)
    vocab = schema.field("c0").vocab_size
    assert (
        f"model.embedding.dynamic.sizes[c0]: expected {vocab} sizes (one per id, OOV id 0 first) "
        "out of [2, 4, 8], got 3" in message
    )
    assert "with [16]" in message
