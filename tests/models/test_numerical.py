"""Numerical field embeddings: scalar, bucket and AutoDis; raw values; their parameter
counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from searchengine.data.schema import DataSchema, FieldInfo
from searchengine.errors import SpecError
from searchengine.models import BACKBONES, build_model, count_embedding_params
from searchengine.models.embedding import (
    AutoDisConfig,
    AutoDisEmbedding,
    BucketConfig,
    BucketEmbedding,
    FieldEmbedding,
    NumericalConfig,
)
from searchengine.models.embedding.numerical import bucket_boundaries
from searchengine.models.embedding.numerical_methods import MIXED, MixedNumericalEmbedding
from searchengine.spec.format import ModelSpec
from searchengine.testing import random_batch

BACKBONE_NAMES = ["fm", "fwfm", "wide_deep", "deepfm", "dcn", "dcnv2", "autoint", "finalmlp"]


def _autodis(aggregation: str = "weighted", meta: int = 8, **kw: Any) -> AutoDisEmbedding:
    torch.manual_seed(0)
    config = AutoDisConfig(meta=meta, aggregation=aggregation, **kw)
    return AutoDisEmbedding([0, 1], 4, config)


def _values(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    num = torch.linspace(-2.0, 2.0, n).unsqueeze(1).repeat(1, 2)  # (n, 2)
    return num, torch.zeros_like(num, dtype=torch.bool)


# --------------------------------------------------------------------------- AutoDis


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Many tiny steps: one thread avoids the synchronization cost on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_autodis_embedding_is_continuous_after_training(one_thread: None) -> None:
    """On a trained layer, values close together (0.01 apart) get closer embeddings than
    values far apart (1.5 apart), everywhere on the grid."""
    layer = _autodis("weighted", meta=8)
    head = torch.nn.Linear(4, 1)
    opt = torch.optim.Adam([*layer.parameters(), *head.parameters()], lr=0.05)
    x = torch.rand(128, 2) * 4 - 2  # (B, 2) in [-2, 2]
    target = 2 * torch.exp(-2 * (x[:, 0] - 0.5) ** 2) + x[:, 1]  # a bump and a line
    missing = torch.zeros_like(x, dtype=torch.bool)
    for _ in range(100):
        opt.zero_grad()
        pred = head(layer(x, missing)).squeeze(-1).sum(1)  # (B,)
        loss = torch.nn.functional.mse_loss(pred, target)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * target.var().item()  # trained: it fits the bump

    def embed(values: torch.Tensor) -> torch.Tensor:
        both = torch.stack([values, values], dim=1)  # (G, 2)
        return layer(both, torch.zeros_like(both, dtype=torch.bool))  # (G, 2, 4)

    grid = torch.linspace(-1.9, 0.4, 24)  # (G,)
    with torch.no_grad():
        base, near, far = embed(grid), embed(grid + 0.01), embed(grid + 1.5)
    d_near = (base - near).norm(dim=-1)  # (G, 2)
    d_far = (base - far).norm(dim=-1)  # (G, 2)
    assert d_near.max() < d_far.min()


def test_max_aggregation_gives_exactly_one_meta_embedding() -> None:
    layer = _autodis("max")
    num, missing = _values()
    out = layer(num, missing)  # (B, 2, 4)
    chosen = layer.probabilities(num).argmax(-1)  # (B, 2)
    for f in range(2):
        expected = layer.meta_embeddings[f][chosen[:, f]]  # (B, 4)
        assert torch.equal(out[:, f], expected)
    assert chosen.unique().numel() > 1  # the value decides which one


def test_topk_aggregation_sums_the_k_most_likely() -> None:
    layer = _autodis("topk", topk=3)
    num, missing = _values(8)
    out = layer(num, missing)
    top = layer.probabilities(num).topk(3, dim=-1).indices  # (B, 2, 3)
    expected = torch.stack(
        [layer.meta_embeddings[f][top[:, f]].sum(1) for f in range(2)], dim=1
    )  # (B, 2, 4)
    torch.testing.assert_close(out, expected)
    assert _autodis("topk", meta=2, topk=5).k == 2  # capped at meta


def test_weighted_aggregation_is_the_probability_weighted_average() -> None:
    layer = _autodis("weighted")
    num, missing = _values(8)
    p = layer.probabilities(num)  # (B, 2, H)
    torch.testing.assert_close(p.sum(-1), torch.ones(8, 2))
    expected = torch.einsum("bfh,fhd->bfd", p, layer.meta_embeddings)
    torch.testing.assert_close(layer(num, missing), expected)


def test_temperature_sharpens_the_discretization() -> None:
    num, _ = _values(16)
    soft = _autodis(temperature=10.0).probabilities(num).max(-1).values
    sharp = _autodis(temperature=0.01).probabilities(num).max(-1).values
    assert (sharp > soft).all() and sharp.median() > 0.99


@pytest.mark.parametrize("aggregation", ["max", "topk", "weighted"])
def test_gradients_reach_the_discretization_network(aggregation: str) -> None:
    layer = _autodis(aggregation)
    num, missing = _values(16)
    (layer(num, missing) * torch.randn(16, 2, 4)).sum().backward()
    for name in ("w", "b", "W", "c", "meta_embeddings"):
        grad = getattr(layer, name).grad
        assert grad is not None and torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, f"{aggregation}: no gradient reaches {name}"


# --------------------------------------------------------------------------- missing


@pytest.mark.parametrize("method", ["scalar", "bucket", "autodis"])
def test_a_missing_value_gets_its_own_learned_vector(method: str, schema: DataSchema) -> None:
    spec = _spec("wide_deep", numerical=method)
    model = build_model(spec, schema).eval()
    cat, num, num_missing = random_batch(schema)
    emb = model.backbone.embedding
    with torch.no_grad():
        a = emb.concat(emb(cat, num, num_missing))
        b = emb.concat(emb(cat, num + 5.0, num_missing))  # other values, same mask
    names = emb.field_names
    for f in schema.numerical:
        start = sum(emb.dims[n] for n in names[: names.index(f.name)])
        block = slice(start, start + emb.dims[f.name])
        rows = num_missing[:, f.column]
        assert torch.equal(a[rows, block], b[rows, block])  # missing: the value is ignored
        assert torch.equal(a[rows, block][0], a[rows, block][-1])  # one vector per field
        assert not torch.equal(a[~rows, block], b[~rows, block])  # present: it matters


# --------------------------------------------------------------------------- buckets


def test_bucket_boundaries_of_each_method() -> None:
    q = np.linspace(0.0, 100.0, 101) ** 2 / 100.0  # skewed: quantile i is i^2 / 100
    width = bucket_boundaries(q, 4, "width")
    np.testing.assert_allclose(width, [25.0, 50.0, 75.0])
    frequency = bucket_boundaries(q, 4, "frequency")
    np.testing.assert_allclose(frequency, [6.25, 25.0, 56.25])  # the 25/50/75% quantiles
    log = bucket_boundaries(q, 4, "log")
    np.testing.assert_allclose(log, np.expm1(np.log1p(100.0) * np.array([0.25, 0.5, 0.75])))
    assert np.all(np.diff(log) > 0) and log[0] < width[0]  # narrow first, then wider
    assert bucket_boundaries(q, 1, "width").shape == (0,)
    with pytest.raises(ValueError, match="unknown bucket method 'widht'"):
        bucket_boundaries(q, 4, "widht")


def test_bucket_ids_follow_the_boundaries() -> None:
    q = np.linspace(0.0, 10.0, 101)
    field = FieldInfo("x", "numerical", 0, quantiles=q)
    layer = BucketEmbedding([field], 3, BucketConfig(count=5, method="width"))
    num = torch.tensor([[-1.0], [0.0], [1.99], [2.0], [9.0], [10.0], [50.0], [3.0]])
    missing = torch.zeros_like(num, dtype=torch.bool)
    missing[-1] = True
    ids = layer.bucket_ids(num, missing)[:, 0].tolist()
    assert ids == [0, 0, 0, 1, 4, 4, 4, 5]  # 5 = the missing row
    out = layer(num, missing)  # (B, 1, 3)
    assert torch.equal(out[-1, 0], layer.weight[0, 5])
    one = BucketEmbedding([field], 3, BucketConfig(count=1, method="frequency"))
    assert one.bucket_ids(num, missing)[:, 0].tolist() == [0] * 7 + [1]


def test_bucket_boundaries_travel_with_the_state_dict(schema: DataSchema) -> None:
    spec = _spec("deepfm", numerical="bucket")
    trained = build_model(spec, schema)
    bare = DataSchema(
        tuple(
            FieldInfo(f.name, f.kind, f.column, f.vocab_size, f.counts)
            for f in schema.fields  # no quantiles: placeholder boundaries
        )
    )
    rebuilt = build_model(spec, bare)
    rebuilt.load_state_dict(trained.state_dict())
    batch = random_batch(schema)
    torch.testing.assert_close(rebuilt.eval()(*batch), trained.eval()(*batch))


# --------------------------------------------------------------------------- counting


def _spec(backbone: str, **embedding: Any) -> ModelSpec:
    base: dict[str, Any] = {"dim": 4, "bucket": {"count": 6}, "autodis": {"meta": 5}}
    return ModelSpec.model_validate(
        {"backbone": backbone, "embedding": base | embedding, "mlp": {"layers": [8]}}
    )


@pytest.mark.parametrize("backbone", BACKBONE_NAMES)
@pytest.mark.parametrize(
    "embedding",
    [
        {"numerical": "scalar"},
        {"numerical": "bucket", "bucket": {"count": 3, "method": "log"}},
        {"numerical": "autodis", "autodis": {"meta": 3, "aggregation": "max"}},
        {
            "numerical": {"n0": "autodis", "n1": "bucket"},
            "dim": {"c0": 2, "n0": 8, "c1": 8, "n1": 3, "c2": 2},
        },
        {"numerical": "raw"},
        {  # the raw field's width (the widest) is unused: nothing is projected to it
            "numerical": {"n0": "raw", "n1": "bucket"},
            "dim": {"c0": 2, "n0": 16, "c1": 8, "n1": 3, "c2": 2},
        },
    ],
)
def test_counted_params_equal_built_for_every_method(
    backbone: str, embedding: dict[str, Any], schema: DataSchema
) -> None:
    spec = _spec(backbone, **embedding)
    model = build_model(spec, schema)
    assert model.embedding_params() == count_embedding_params(spec, schema)
    if backbone in ("fm", "fwfm"):
        return  # the formula below holds for backbones that embed every field
    dims = spec.embedding.dim if isinstance(spec.embedding.dim, dict) else None
    methods = spec.embedding.numerical

    def method(name: str) -> str:
        return methods if isinstance(methods, str) else methods[name]

    width = {
        f.name: dims[f.name] if dims else 4
        for f in schema.fields
        if f.is_categorical or method(f.name) != "raw"
    }
    expected = sum(f.vocab_size * width[f.name] for f in schema.categorical)
    count, meta = spec.embedding.bucket.count, spec.embedding.autodis.meta
    for f in schema.numerical:
        if method(f.name) == "raw":
            continue  # no vector
        d = width[f.name]
        expected += {
            "scalar": 2 * d,
            "bucket": (count + 1) * d,
            "autodis": meta * d + meta * meta + 3 * meta + d,
        }[method(f.name)]
    if BACKBONES.get(backbone).needs_equal_dims:
        widest = max(width.values())
        expected += sum(d * widest for d in width.values() if d != widest)
    assert model.embedding_params() == expected


def test_numerical_spec_problems_are_reported_by_build(schema: DataSchema) -> None:
    spec = _spec(
        "deepfm",
        numerical={"n0": "autodsi", "c1": "bucket", "n7": "scalar"},
        bucket={"method": "widht"},
        autodis={"aggregation": "mean"},
    )
    with pytest.raises(SpecError) as info:
        build_model(spec, schema)
    message = str(info.value)
    assert (
        "model.embedding.numerical[n0]: unknown numerical method 'autodsi'; "
        "did you mean 'autodis'? (choices: scalar, bucket, autodis, raw)" in message
    )
    assert "model.embedding.numerical[c1]: 'c1' is categorical" in message
    assert "model.embedding.numerical[n7]: no numerical field 'n7' in the data" in message
    assert "model.embedding.bucket.method: unknown bucket method 'widht'" in message
    assert "model.embedding.autodis.aggregation: unknown aggregation 'mean'" in message


def test_unlisted_numerical_fields_are_scalar(schema: DataSchema) -> None:
    model = build_model(_spec("dcn", numerical={"n1": "autodis"}), schema)
    keys = sorted(model.backbone.embedding.numerical.keys())
    assert keys == ["d4", "d4_autodis"]
    assert model.backbone.embedding.field_names[-2:] == ["n0", "n1"]


# --------------------------------------------------------------------------- relaxation


def test_mixed_method_relaxes_the_per_field_choice(schema: DataSchema) -> None:
    config = NumericalConfig(methods={"n0": MIXED, "n1": "autodis"}, bucket=BucketConfig(4))
    dims = {f.name: 4 for f in schema.fields}
    emb = FieldEmbedding(schema, dims, numerical=config)
    mixed = emb.numerical["d4_mixed"]
    assert isinstance(mixed, MixedNumericalEmbedding) and mixed.field_names == ["n0"]
    assert emb.num_params() == FieldEmbedding.count_params(
        schema, dims, equalize=False, numerical=config
    )
    cat, num, num_missing = random_batch(schema)
    emb.concat(emb(cat, num, num_missing)).pow(2).sum().backward()
    assert mixed.alpha.grad is not None and mixed.alpha.grad.abs().sum() > 0
    assert mixed.derive() == {"n0": "scalar"}  # uniform: the first method
    with torch.no_grad():
        mixed.alpha[0, 2] = 5.0
        alone = mixed.candidates[2](num, num_missing)
    assert mixed.derive() == {"n0": "autodis"}
    weights = torch.softmax(mixed.alpha.detach(), -1)[0]
    parts = torch.stack([m(num, num_missing) for m in mixed.candidates], -1)
    torch.testing.assert_close(mixed(num, num_missing), (parts * weights).sum(-1))
    assert not torch.equal(mixed(num, num_missing), alone)  # still a mixture


# --------------------------------------------------------------------------- raw


@pytest.mark.parametrize("backbone", [*BACKBONE_NAMES, "blocks"])
def test_raw_fields_have_no_vector_and_reach_the_logit(backbone: str, schema: DataSchema) -> None:
    spec = BACKBONES.get(backbone).tiny(schema)
    spec = spec.model_copy(
        update={"embedding": spec.embedding.model_copy(update={"numerical": {"n0": "raw"}})}
    )
    torch.manual_seed(0)
    model = build_model(spec, schema).eval()
    emb = model.backbone.embedding
    assert "n0" not in emb.field_names and "n1" in emb.field_names
    assert model.embedding_params() == count_embedding_params(spec, schema)
    cat, num, num_missing = random_batch(schema)
    num_missing = torch.zeros_like(num_missing)
    changed = num.clone()
    changed[:, schema.field("n0").column] += 3.0
    deep = backbone not in ("fm", "fwfm")
    with torch.no_grad():
        if hasattr(model.backbone, "linear"):
            # fm, fwfm: the first-order term alone reads it; else silence that term
            model.backbone.linear.weight.fill_(0.0 if deep else 0.5)
        a, b = model(cat, num, num_missing), model(cat, changed, num_missing)
    if deep:  # the deep part (or blocks' dense input) reads it
        assert (a - b).abs().min() > 0
    else:
        torch.testing.assert_close(b - a, torch.full_like(a, 1.5))
    model.train()
    model(cat, changed, num_missing).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("backbone", ["wide_deep", "deepfm", "dcn"])
def test_raw_values_are_the_deep_part_s_last_inputs(backbone: str, schema: DataSchema) -> None:
    model = build_model(_spec(backbone, numerical="raw"), schema)
    backbone_ = model.backbone
    vectors = backbone_.embedding.out_dim
    assert vectors == 4 * len(schema.categorical)  # the 3 categorical fields only
    assert backbone_.deep_input.out_dim == vectors + len(schema.numerical)
    assert backbone_.mlp.net[0].in_features == vectors + len(schema.numerical)
    cat, num, num_missing = random_batch(schema)
    vectors_ = backbone_.embedding(cat, num, num_missing)
    x = backbone_.deep_input(backbone_.embedding, vectors_, num)
    torch.testing.assert_close(x[:, vectors:], num[:, [f.column for f in schema.numerical]])


def test_pairs_and_feature_sets_leave_raw_fields_out(schema: DataSchema) -> None:
    from searchengine.models.config import ModelConfig

    spec = ModelSpec.model_validate(
        {
            "backbone": "fm",
            "embedding": {"dim": 4, "numerical": {"n0": "raw"}},
            "interactions": {
                "gate": {"keep": [["c0", "n0"], ["c0", "c1"], ["n0", "n1"], ["c2", "n1"]]},
                "groups": {"orders": [2], "sets": 2, "members": {2: [["c0", "n0"], ["n0"]]}},
            },
        }
    )
    config = ModelConfig.from_spec(spec, schema)
    assert config.pairs == (("c0", "c1"), ("n1", "c2"))  # schema order: c0 n0 c1 n1 c2
    assert config.groups == {2: (("c0",), ())}
    model = build_model(spec, schema)
    assert model.backbone.embedding.field_names == ["c0", "c1", "c2", "n1"]
    assert model.embedding_params() == count_embedding_params(spec, schema)
    all_pairs = ModelSpec.model_validate(
        {"backbone": "fwfm", "embedding": {"dim": 4, "numerical": {"n0": "raw"}}}
    )
    fwfm = build_model(all_pairs, schema)
    assert fwfm.backbone.interaction.weight.numel() == 6  # every pair of c0, c1, c2, n1


def test_a_block_group_of_a_raw_field_is_refused(schema: DataSchema) -> None:
    spec = BACKBONES.get("blocks").tiny(schema).model_dump()
    spec["embedding"]["numerical"] = "raw"
    spec["blocks"]["groups"] = {"g": ["c0", "n1"]}
    spec["blocks"]["nodes"][0]["inputs"] = ["g"]
    with pytest.raises(SpecError, match=r"model\.blocks\.groups\.g: 'n1' is a raw numerical"):
        build_model(ModelSpec.model_validate(spec), schema)


def test_the_relaxed_choice_mixes_only_methods_with_a_vector(schema: DataSchema) -> None:
    config = NumericalConfig(methods={"n0": MIXED, "n1": "raw"})
    emb = FieldEmbedding(schema, {"c0": 4, "n0": 4}, numerical=config)
    assert emb.numerical["d4_mixed"].methods == ["scalar", "bucket", "autodis"]
    with pytest.raises(ValueError, match="n1 is a raw numerical field"):
        FieldEmbedding(schema, {"c0": 4, "n1": 4}, numerical=config)


@pytest.mark.parametrize("layers", [[8, 4], []])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_an_mlp_reads_side_inputs_as_its_last_columns(layers: list[int], batch_norm: bool) -> None:
    from searchengine.models.layers import MLP

    torch.manual_seed(0)
    mlp = MLP(10, layers, batch_norm=batch_norm, out_dim=1)
    x = torch.randn(16, 7, requires_grad=True)
    side = torch.randn(16, 3)
    whole = torch.cat([x, side], dim=1)
    torch.testing.assert_close(mlp(x, side), mlp(whole))
    mlp(x, side).sum().backward()
    split = [p.grad.clone() for p in mlp.parameters()]
    mlp.zero_grad()
    mlp(whole).sum().backward()
    for a, b in zip(split, [p.grad for p in mlp.parameters()], strict=True):
        torch.testing.assert_close(a, b)
    assert MLP(10, []).forward(x, side).shape == (16, 10)  # no layer: concatenated


def test_keeping_every_pair_of_vector_fields_is_the_fast_all_pairs_model(
    schema: DataSchema,
) -> None:
    from searchengine.models.config import ModelConfig

    vector = ["c0", "c1", "n1", "c2"]  # n0 is raw
    keep = [[a, b] for i, a in enumerate(vector) for b in vector[i + 1 :]]
    spec = ModelSpec.model_validate(
        {
            "backbone": "fm",
            "embedding": {"dim": 4, "numerical": {"n0": "raw"}},
            "interactions": {"gate": {"keep": keep}},
        }
    )
    assert ModelConfig.from_spec(spec, schema).pairs is None
    assert build_model(spec, schema).backbone.interaction.products is None  # FM identity
