from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from searchengine.data.schema import DataSchema
from searchengine.errors import SpecError, UnknownNameError
from searchengine.models import (
    BACKBONES,
    CTRModel,
    ModelConfig,
    build_model,
    count_embedding_params,
)
from searchengine.spec.expressions import ChoiceExpr
from searchengine.spec.format import ModelSpec
from searchengine.testing import random_batch

PAIR_BACKBONES = ["fm", "fwfm", "deepfm"]
NEW = ["dcnv2", "autoint", "finalmlp"]  # today's strong backbones


def _spec(backbone: str, **model: Any) -> ModelSpec:
    base: dict[str, Any] = {"backbone": backbone, "embedding": {"dim": 4}, "mlp": {"layers": [8]}}
    return ModelSpec.model_validate(base | model)


def _build(spec: ModelSpec, schema: DataSchema, seed: int = 0, **kw: Any) -> CTRModel:
    torch.manual_seed(seed)
    return build_model(spec, schema, **kw).eval()


def _keep(schema: DataSchema, drop: set[tuple[str, str]]) -> dict[str, Any]:
    return {"gate": {"keep": [p for p in schema.pairs() if p not in drop]}}


@pytest.mark.parametrize("backbone", PAIR_BACKBONES)
def test_dropping_a_pair_removes_exactly_its_product(backbone: str, schema: DataSchema) -> None:
    pair = ("c0", "n1")
    full = _build(_spec(backbone), schema)
    masked = _build(_spec(backbone, interactions=_keep(schema, {pair})), schema)
    batch = random_batch(schema)
    with torch.no_grad():
        diff = full(*batch) - masked(*batch)
        emb = full.backbone.embedding
        e = emb.equalize(emb(*batch))  # (B, F, D)
        product = (e[:, emb.position(pair[0])] * e[:, emb.position(pair[1])]).sum(-1)
    assert diff.abs().max() > 0  # fwfm too: its r_ij start at 1
    torch.testing.assert_close(diff, product, atol=1e-7, rtol=1e-4)


@pytest.mark.parametrize("backbone", PAIR_BACKBONES)
def test_keeping_every_pair_equals_the_unmasked_model(backbone: str, schema: DataSchema) -> None:
    batch = random_batch(schema)
    full = _build(_spec(backbone), schema)(*batch)
    kept = _build(_spec(backbone, interactions=_keep(schema, set())), schema)(*batch)
    torch.testing.assert_close(kept, full, rtol=0, atol=0)


def test_kept_pairs_are_normalized_to_schema_order(schema: DataSchema) -> None:
    spec = _spec("fm", interactions={"gate": {"keep": [["c2", "c0"], ["c0", "n0"], ["c0", "c2"]]}})
    config = ModelConfig.from_spec(spec, schema)
    assert config.pairs == (("c0", "n0"), ("c0", "c2"))


def test_fm_embeds_only_fields_in_a_kept_pair(schema: DataSchema) -> None:
    spec = _spec("fm", interactions={"gate": {"keep": [["c0", "c2"]]}})
    model = build_model(spec, schema)
    assert model.backbone.embedding.field_names == ["c0", "c2"]
    assert model.embedding_params() == count_embedding_params(spec, schema)
    assert model.embedding_params() == 4 * (
        schema.field("c0").vocab_size + schema.field("c2").vocab_size
    )
    empty = _spec("fm", interactions={"gate": {"keep": []}})
    model = build_model(empty, schema)
    assert model.embedding_params() == count_embedding_params(empty, schema) == 0
    assert model(*random_batch(schema)).shape == (16,)


@pytest.mark.parametrize("backbone", ["wide_deep", "dcn"])
def test_gating_a_backbone_without_pairs_is_an_error(backbone: str, schema: DataSchema) -> None:
    with pytest.raises(SpecError, match="no pairwise interactions to gate"):
        build_model(_spec(backbone, interactions=_keep(schema, {("c0", "c1")})), schema)
    with pytest.raises(SpecError, match="no pairwise interactions to gate"):
        count_embedding_params(_spec(backbone, interactions=_keep(schema, {("c0", "c1")})), schema)
    build_model(_spec(backbone, interactions=_keep(schema, set())), schema)  # all kept: fine


@pytest.mark.parametrize(
    "model",
    [
        {"embedding": {"dim": {"choice": [2, 4]}}},
        {"mlp": {"layers": [{"choice": [4, 8]}]}},
        {"cross": {"layers": {"int": [1, 3]}}},
    ],
)
def test_search_expressions_are_refused(model: dict[str, Any], schema: DataSchema) -> None:
    with pytest.raises(ValueError, match="search expression"):
        build_model(_spec("dcn", **model), schema)


def test_gate_search_is_refused(schema: DataSchema) -> None:
    with pytest.raises(ValueError, match="gate is `search`"):
        build_model(_spec("fm", interactions={"gate": "search"}), schema)
    assert isinstance(_spec("dcn", embedding={"dim": {"choice": [2]}}).embedding.dim, ChoiceExpr)


def test_spec_problems_are_reported_together(schema: DataSchema) -> None:
    spec = _spec(
        "deepfm",
        embedding={"dim": {"c0": 4, "c1": 4, "c_2": 4, "n0": 2}},
        mlp={"layers": [8], "activation": "rleu"},
        interactions={"gate": {"keep": [["c0", "n9"], ["c1", "c1"]]}},
    )
    with pytest.raises(SpecError) as info:
        build_model(spec, schema)
    message = str(info.value)
    assert "5 errors" in message
    assert "model.embedding.dim[c_2]: no field 'c_2' in the data; did you mean 'c2'?" in message
    assert "model.embedding.dim: no width for the field(s) n1, c2" in message
    assert "model.interactions.gate.keep[0]: no field 'n9' in the data" in message
    assert "model.interactions.gate.keep[1]: a pair needs two different fields" in message
    assert "model.mlp.activation: unknown activation 'rleu'; did you mean 'relu'?" in message


def test_unknown_backbone(schema: DataSchema) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'deepfm'"):
        build_model(_spec("deepfn"), schema)


@pytest.mark.parametrize("backbone", ["fm", "fwfm", "wide_deep", "deepfm", "dcn", *NEW])
@pytest.mark.parametrize(
    "dim",
    [
        1,
        7,
        {"c0": 2, "n0": 8, "c1": 8, "n1": 3, "c2": 2},
        {"c0": 5, "n0": 5, "c1": 5, "n1": 5, "c2": 1},
    ],
)
def test_counted_embedding_params_equal_built(backbone: str, dim: Any, schema: DataSchema) -> None:
    spec = _spec(backbone, embedding={"dim": dim})
    model = build_model(spec, schema)
    assert model.embedding_params() == count_embedding_params(spec, schema)
    dims = dim if isinstance(dim, dict) else {f.name: dim for f in schema.fields}
    expected = sum(f.vocab_size * dims[f.name] for f in schema.categorical)
    expected += sum(2 * dims[f.name] for f in schema.numerical)
    if BACKBONES.get(backbone).needs_equal_dims:
        widest = max(dims.values())
        expected += sum(d * widest for d in dims.values() if d != widest)
    assert model.embedding_params() == expected


@pytest.mark.parametrize("backbone", ["fm", "fwfm", "wide_deep", "deepfm", "dcn", *NEW])
@pytest.mark.parametrize("sizes", [(3, 1, 0), (0, 0, 0), (2, 2, 2)])
def test_counted_multisize_params_equal_built(
    backbone: str, sizes: tuple[int, ...], schema: DataSchema
) -> None:
    multisize = {"buckets": 3, "chunk": 2, "chunks": 3}
    multisize["sizes"] = {f.name: list(sizes) for f in schema.categorical}  # type: ignore[assignment]
    spec = _spec(backbone, embedding={"dim": 4, "multisize": multisize})
    model = build_model(spec, schema)
    assert model.embedding_params() == count_embedding_params(spec, schema)
    expected = 0
    for f in schema.categorical:  # B equal buckets of ids: n_b * s_b * c, or K * c shared
        n = [len(part) for part in np.array_split(np.arange(f.vocab_size), 3)]
        blocks = zip(n, sizes, strict=True)
        expected += sum(nb * s * 2 if s else (6 if nb else 0) for nb, s in blocks)
    expected += sum(2 * 4 for _ in schema.numerical)
    if BACKBONES.get(backbone).needs_equal_dims:
        expected += 4 * 6 * len(schema.numerical)  # numerical 4 wide, projected to K * c = 6
    assert model.embedding_params() == expected


def test_sparse_tables_get_sparse_gradients(schema: DataSchema) -> None:
    model = build_model(_spec("deepfm"), schema, sparse=True)
    sparse = model.sparse_parameters()
    assert len(sparse) == 2  # the field table (one width) and the first-order table
    model(*random_batch(schema)).sum().backward()
    assert all(p.grad is not None and p.grad.is_sparse for p in sparse)
    assert all(p.grad is not None and not p.grad.is_sparse for p in model.dense_parameters())
    optimizers = [torch.optim.SparseAdam(sparse), torch.optim.Adam(model.dense_parameters())]
    for opt in optimizers:
        opt.step()


@pytest.mark.parametrize("activation", ["relu", "gelu", "silu", "tanh", "prelu"])
def test_mlp_options(activation: str, schema: DataSchema) -> None:
    spec = _spec(
        "deepfm",
        mlp={"layers": [8, 4], "dropout": 0.5, "batch_norm": True, "activation": activation},
    )
    model = build_model(spec, schema)
    kinds = [type(m).__name__ for m in model.backbone.mlp.net]
    assert kinds[:4] == ["Linear", "BatchNorm1d", kinds[2], "Dropout"]
    assert kinds[2].lower() == activation
    assert model(*random_batch(schema)).shape == (16,)


def test_empty_mlp_is_a_linear_deep_part(schema: DataSchema) -> None:
    for backbone in ("wide_deep", "deepfm", "dcn"):
        model = build_model(_spec(backbone, mlp={"layers": []}), schema)
        assert model(*random_batch(schema)).shape == (16,)


def test_model_knows_its_backbone(schema: DataSchema) -> None:
    model = build_model(_spec("dcn"), schema)
    assert model.backbone_name == "dcn"
    assert isinstance(model.backbone, BACKBONES.get("dcn"))


@pytest.mark.parametrize("backbone", ["fm", "fwfm", "wide_deep", "deepfm", "dcn", *NEW])
def test_missing_numerical_values_ignore_the_stored_value(
    backbone: str, schema: DataSchema
) -> None:
    model = _build(_spec(backbone), schema)
    cat, num, missing = random_batch(schema)
    garbage = num.masked_fill(missing, 123.0)
    with torch.no_grad():
        torch.testing.assert_close(model(cat, garbage, missing), model(cat, num, missing))
        flipped = model(cat, num, ~missing)
    assert not torch.allclose(flipped, model(cat, num, missing))
