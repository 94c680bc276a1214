"""A conformance suite every registered backbone must pass.

Run it from a test, parametrized over the registry::

    @pytest.mark.parametrize("name", BACKBONES.names())
    def test_backbone(name):
        check_backbone(name)

:func:`check_backbone` runs every check on the backbone's tiny variant
(``cls.tiny(schema)``) and on that variant with mixed widths, on a small random schema of
interleaved categorical and numerical fields. Each ``check_*(spec, schema)`` function
builds the model itself and raises ``AssertionError`` with a message on a failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from searchengine.data.schema import DataSchema, FieldInfo, train_quantiles
from searchengine.models import BACKBONES, CTRModel, build_model, count_embedding_params
from searchengine.models.embedding import FieldEmbedding, FusedEmbedding
from searchengine.spec.format import ModelSpec

__all__ = [
    "check_backbone",
    "check_backward",
    "check_batch_independence",
    "check_class_attributes",
    "check_determinism",
    "check_device_agnostic",
    "check_embedding_params",
    "check_forward",
    "check_mixed_precision",
    "check_sparse",
    "mixed_dims",
    "random_batch",
    "tiny_schema",
    "with_dynamic",
    "with_multisize",
    "with_numerical",
]

Batch = tuple[Tensor, Tensor, Tensor]


def tiny_schema(n_categorical: int = 3, n_numerical: int = 2, *, seed: int = 0) -> DataSchema:
    """A schema of categorical fields ``c0, c1, ...`` and numerical fields ``n0, ...``,
    interleaved (``c0, n0, c1, n1, c2``), with vocabularies of 3 to 30 ids; numerical
    fields have the quantiles of standard normal train values (as :func:`random_batch`
    draws)."""
    rng = np.random.default_rng(seed)
    cats = [
        FieldInfo(f"c{i}", "categorical", i, int(rng.integers(3, 31)))
        for i in range(n_categorical)
    ]
    nums = [
        FieldInfo(f"n{i}", "numerical", i, quantiles=train_quantiles(values, np.isnan(values)))
        for i, values in enumerate(rng.standard_normal((n_numerical, 500)))
    ]
    fields: list[FieldInfo] = []
    for i in range(max(n_categorical, n_numerical)):
        fields += cats[i : i + 1] + nums[i : i + 1]
    return DataSchema(tuple(fields))


def random_batch(
    schema: DataSchema, batch_size: int = 16, *, seed: int = 0, missing: float = 0.25
) -> Batch:
    """A random batch ``(cat, num, num_missing)`` for ``schema``.

    Row 0 has every numerical value missing and row 1 none, so that both the value and
    the missing vectors of every numerical field are used.
    """
    g = torch.Generator().manual_seed(seed)
    cat = torch.zeros(batch_size, len(schema.categorical), dtype=torch.long)
    for f in schema.categorical:
        cat[:, f.column] = torch.randint(0, f.vocab_size, (batch_size,), generator=g)
    n_num = len(schema.numerical)
    num_missing = torch.rand(batch_size, n_num, generator=g) < missing
    num_missing[0], num_missing[1] = True, False
    num = torch.randn(batch_size, n_num, generator=g).masked_fill(num_missing, 0.0)
    return cat, num, num_missing


def with_numerical(
    spec: ModelSpec,
    schema: DataSchema,
    methods: tuple[str, ...] = ("bucket", "autodis"),
    **settings: Any,
) -> ModelSpec:
    """``spec`` with a numerical method per numerical field, cycling through ``methods``;
    ``settings`` update ``model.embedding`` (e.g. ``autodis={"aggregation": "max"}``)."""
    chosen = {f.name: methods[i % len(methods)] for i, f in enumerate(schema.numerical)}
    data = spec.embedding.model_dump(mode="python", by_alias=True)
    data["numerical"] = chosen
    for key, value in settings.items():
        data[key] = data[key] | value if isinstance(value, dict) else value
    embedding = type(spec.embedding).model_validate(data)
    return spec.model_copy(update={"embedding": embedding})


def with_multisize(
    spec: ModelSpec, schema: DataSchema, cycle: tuple[int, ...] = (3, 1, 0)
) -> ModelSpec:
    """``spec`` with NIS multi-size embeddings: 3 buckets, blocks of width 2, at most 3
    blocks; bucket ``b`` of field ``i`` uses ``cycle[(i + b) % len(cycle)]`` blocks (0:
    one shared vector)."""
    sizes = {
        f.name: [cycle[(i + b) % len(cycle)] for b in range(3)]
        for i, f in enumerate(schema.categorical)
    }
    multisize = {"buckets": 3, "chunk": 2, "chunks": 3, "sizes": sizes}
    data = spec.embedding.model_dump(mode="python", by_alias=True) | {"multisize": multisize}
    embedding = type(spec.embedding).model_validate(data)
    return spec.model_copy(update={"embedding": embedding})


def with_dynamic(spec: ModelSpec, schema: DataSchema) -> ModelSpec:
    """``spec`` with ESAPN dynamic sizes (2, 4 or 8, cycling over the ids) for the first
    two categorical fields (``spec`` itself where there are none)."""
    names = [f.name for f in schema.categorical[:2]]
    if not names:
        return spec
    sizes = {n: [(2, 4, 8)[i % 3] for i in range(schema.field(n).vocab_size)] for n in names}
    dynamic = {"candidates": [2, 4, 8], "fields": names, "sizes": sizes}
    data = spec.embedding.model_dump(mode="python", by_alias=True) | {"dynamic": dynamic}
    embedding = type(spec.embedding).model_validate(data)
    return spec.model_copy(update={"embedding": embedding})


def mixed_dims(
    spec: ModelSpec, schema: DataSchema, widths: tuple[int, ...] = (2, 4, 3)
) -> ModelSpec:
    """``spec`` with a width per field, cycling through ``widths``."""
    dims = {f.name: widths[i % len(widths)] for i, f in enumerate(schema.fields)}
    embedding = spec.embedding.model_copy(update={"dim": dims})
    return spec.model_copy(update={"embedding": embedding})


def _build(
    spec: ModelSpec, schema: DataSchema, *, seed: int = 0, sparse: bool = False
) -> CTRModel:
    torch.manual_seed(seed)
    return build_model(spec, schema, sparse=sparse)


def check_class_attributes(name: str) -> None:
    """The class attributes every backbone declares."""
    cls = BACKBONES.get(name)
    assert isinstance(cls.description, str) and cls.description, f"{name}: no description"
    assert "\n" not in cls.description, f"{name}: description must be one line"
    assert isinstance(cls.uses_pairs, bool), f"{name}: uses_pairs must be a bool"
    assert isinstance(cls.needs_equal_dims, bool), f"{name}: needs_equal_dims must be a bool"


def check_forward(spec: ModelSpec, schema: DataSchema, batch_size: int = 16) -> None:
    """Logits of shape ``(B,)``, floating point and finite, in train and eval mode."""
    model = _build(spec, schema)
    batch = random_batch(schema, batch_size)
    for train in (True, False):
        model.train(train)
        out = model(*batch)
        assert out.shape == (batch_size,), f"{spec.backbone}: output shape {tuple(out.shape)}"
        assert out.is_floating_point(), f"{spec.backbone}: output dtype {out.dtype}"
        assert torch.isfinite(out).all(), f"{spec.backbone}: non-finite logits"


def check_backward(spec: ModelSpec, schema: DataSchema) -> None:
    """A loss's gradient is finite and reaches every parameter, and the embedding rows
    of every looked-up id."""
    model = _build(spec, schema)
    cat, num, num_missing = random_batch(schema)
    out = model(cat, num, num_missing)
    loss = nn.functional.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{spec.backbone}: no gradient reaches {pname}"
        assert torch.isfinite(p.grad).all(), f"{spec.backbone}: non-finite gradient of {pname}"
        assert p.grad.abs().sum() > 0, f"{spec.backbone}: zero gradient for {pname}"
    embedding = getattr(model.backbone, "embedding", None)
    if isinstance(embedding, FieldEmbedding):
        for key, fused in embedding.categorical.items():
            if not isinstance(fused, FusedEmbedding):
                continue
            ids = cat.index_select(1, fused.columns) + fused.offsets  # (B, F_g)
            rows = fused.table.weight.grad[ids.unique()]
            assert (rows.abs().sum(1) > 0).all(), f"{spec.backbone}: dead rows in table {key}"


def check_mixed_precision(spec: ModelSpec, schema: DataSchema) -> None:
    """Under ``torch.autocast`` to bfloat16 (``train.precision: bf16``) the forward runs,
    its logits are finite and near the float32 ones, and the backward reaches every
    parameter with a finite float32 gradient."""
    model = _build(spec, schema).eval()
    batch = random_batch(schema)
    with torch.no_grad():
        full = model(*batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(*batch).float()
    assert torch.isfinite(half).all(), f"{spec.backbone}: non-finite bf16 logits"
    scale = float(full.abs().max()) + 1.0
    gap = float((half - full).abs().max())
    assert gap <= 0.05 * scale, f"{spec.backbone}: bf16 logits {gap:.3g} from float32"
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*batch)
    loss = nn.functional.binary_cross_entropy_with_logits(out.float(), torch.ones_like(full))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.dtype == torch.float32, f"{spec.backbone}: {pname} is {p.dtype}"
        assert p.grad is not None, f"{spec.backbone}: no bf16 gradient reaches {pname}"
        assert p.grad.dtype == torch.float32, f"{spec.backbone}: {pname} grad {p.grad.dtype}"
        assert torch.isfinite(p.grad).all(), f"{spec.backbone}: non-finite bf16 grad of {pname}"


def check_determinism(spec: ModelSpec, schema: DataSchema, seed: int = 3) -> None:
    """The same seed builds the same parameters and the same logits."""
    a, b = _build(spec, schema, seed=seed), _build(spec, schema, seed=seed)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys(), f"{spec.backbone}: state_dict keys differ between builds"
    for key in sa:
        assert torch.equal(sa[key], sb[key]), f"{spec.backbone}: {key} differs under one seed"
    batch = random_batch(schema)
    a.eval()
    b.eval()
    assert torch.equal(a(*batch), b(*batch)), f"{spec.backbone}: logits differ under one seed"


def check_batch_independence(spec: ModelSpec, schema: DataSchema) -> None:
    """In eval mode a row's logit does not depend on the other rows of its batch."""
    model = _build(spec, schema).eval()
    cat, num, num_missing = random_batch(schema, 12)
    with torch.no_grad():
        full = model(cat, num, num_missing)
        part = model(cat[4:9], num[4:9], num_missing[4:9])
    torch.testing.assert_close(part, full[4:9], msg=f"{spec.backbone}: rows interact")


def check_device_agnostic(spec: ModelSpec, schema: DataSchema) -> None:
    """Forward and backward run on the device the model was moved to: no tensor in the
    forward pass is created on a fixed device. Uses the ``meta`` device, so it runs on
    any machine."""
    model = _build(spec, schema).to("meta")
    batch = [t.to("meta") for t in random_batch(schema)]
    out = model(*batch)
    assert out.device.type == "meta", f"{spec.backbone}: output on {out.device}"
    out.sum().backward()


def check_embedding_params(spec: ModelSpec, schema: DataSchema) -> None:
    """``count_embedding_params`` agrees with the built model's ``embedding_params``."""
    built = _build(spec, schema).embedding_params()
    counted = count_embedding_params(spec, schema)
    assert built == counted, f"{spec.backbone}: built {built} != counted {counted}"


def check_sparse(spec: ModelSpec, schema: DataSchema) -> None:
    """``sparse=True`` gives the tables sparse gradients, and the sparse and dense
    parameters split all parameters."""
    model = _build(spec, schema, sparse=True)
    sparse, dense = model.sparse_parameters(), model.dense_parameters()
    ids = {id(p) for p in sparse} | {id(p) for p in dense}
    assert len(ids) == len(sparse) + len(dense), f"{spec.backbone}: sparse and dense overlap"
    assert ids == {id(p) for p in model.parameters()}, f"{spec.backbone}: parameters left out"
    if schema.categorical:
        assert sparse, f"{spec.backbone}: no sparse parameters with sparse=True"
    model(*random_batch(schema)).sum().backward()
    for p in sparse:
        assert p.grad is not None and p.grad.is_sparse, f"{spec.backbone}: dense table grad"
    assert not _build(spec, schema).sparse_parameters(), f"{spec.backbone}: sparse by default"


def check_backbone(name: str, schema: DataSchema | None = None) -> None:
    """Every check, on the tiny variant, on it with mixed widths, and with the numerical
    methods: bucket and autodis (weighted) side by side at mixed widths, autodis with
    ``max`` aggregation (a straight-through selection), NIS multi-size embeddings
    (mixed widths for the numerical fields), and ESAPN dynamic sizes per id."""
    schema = schema or tiny_schema()
    check_class_attributes(name)
    tiny = BACKBONES.get(name).tiny(schema)
    variants = [
        tiny,
        mixed_dims(tiny, schema),
        with_numerical(mixed_dims(tiny, schema), schema, bucket={"count": 4}, autodis={"meta": 4}),
        with_numerical(tiny, schema, ("autodis",), autodis={"meta": 4, "aggregation": "max"}),
        with_multisize(mixed_dims(tiny, schema), schema),
        with_dynamic(mixed_dims(tiny, schema), schema),
    ]
    for spec in variants:
        check_forward(spec, schema)
        check_backward(spec, schema)
        check_mixed_precision(spec, schema)
        check_determinism(spec, schema)
        check_batch_independence(spec, schema)
        check_device_agnostic(spec, schema)
        check_embedding_params(spec, schema)
        check_sparse(spec, schema)
