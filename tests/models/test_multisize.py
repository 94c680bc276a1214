"""NIS multi-size embeddings: frequency buckets, stored blocks, exact parameter counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from searchengine.data.schema import DataSchema, FieldInfo
from searchengine.errors import SpecError
from searchengine.models import build_model, count_embedding_params
from searchengine.models.embedding import MultiSizeConfig, MultiSizeEmbedding
from searchengine.models.embedding.multisize import bucket_of_ids, bucket_sizes, field_params
from searchengine.spec.format import ModelSpec

COUNTS = np.array([5, 0, 90, 7, 30, 1, 60])  # id 0 (OOV) seen 5 times


def _field(name: str = "a", column: int = 0, counts: np.ndarray = COUNTS) -> FieldInfo:
    return FieldInfo(name, "categorical", column, len(counts), counts)


def _config(sizes: dict[str, tuple[int, ...]], buckets: int = 3) -> MultiSizeConfig:
    return MultiSizeConfig(buckets, 2, 3, sizes)


def test_buckets_hold_equal_id_counts_by_frequency() -> None:
    assert bucket_sizes(7, 3) == [3, 2, 2]
    # ranked: id 2 (90), 6 (60), 4 (30) | 3 (7), 0 (5) | 5 (1), 1 (0)
    assert bucket_of_ids(COUNTS, 7, 3).tolist() == [1, 2, 0, 1, 0, 2, 0]
    assert bucket_of_ids(None, 7, 3).tolist() == [0, 0, 0, 1, 1, 2, 2]
    tied = np.array([1, 1, 1, 1])
    assert bucket_of_ids(tied, 4, 2).tolist() == [0, 0, 1, 1]  # ties: by id


def test_stored_weights_are_exactly_the_used_blocks() -> None:
    # bucket 0: 3 ids x 3 blocks; bucket 1: 2 ids x 1 block; bucket 2: 2 ids share K blocks
    module = MultiSizeEmbedding([_field()], _config({"a": (3, 1, 0)}))
    assert module.num_params() == (3 * 3 + 2 * 1 + 3) * 2 == 28
    assert module.num_params() == MultiSizeEmbedding.count_params([_field()], module.config)
    assert field_params(7, (3, 1, 0), 2, 3) == 28
    assert field_params(2, (1, 1, 1), 2, 3) == 4  # an empty bucket costs nothing
    assert field_params(2, (0, 0, 0), 2, 3) == 12


def test_vectors_use_their_buckets_blocks_and_zero_the_rest() -> None:
    torch.manual_seed(0)
    module = MultiSizeEmbedding([_field()], _config({"a": (3, 1, 0)}))
    ids = torch.arange(7).unsqueeze(1)  # (7, 1)
    out = module(ids)[:, 0]  # (7, 6)
    assert out.shape == (7, 6)
    width = {0: 6, 1: 2}  # bucket -> used columns
    for i, bucket in enumerate(bucket_of_ids(COUNTS, 7, 3)):
        used = width.get(int(bucket), 6)
        assert (out[i, used:] == 0).all() and (out[i, :used] != 0).all()
    torch.testing.assert_close(out[5], out[1])  # bucket 2 shares one vector
    assert not torch.equal(out[2], out[6])  # bucket 0 ids have their own


def test_several_fields_and_columns() -> None:
    fields = [_field("a", 1), _field("b", 0, np.arange(10))]
    config = _config({"a": (1, 1, 1), "b": (2, 0, 3)})
    module = MultiSizeEmbedding(fields, config)
    cat = torch.tensor([[9, 2], [0, 6]])  # columns: b, a
    out = module(cat)  # (2, F, 6)
    assert out.shape == (2, 2, 6)
    assert module.num_params() == MultiSizeEmbedding.count_params(fields, config)
    assert (out[:, 0, 2:] == 0).all()  # field a: 1 block everywhere


def _model_spec(**multisize: object) -> ModelSpec:
    base = {"buckets": 3, "chunk": 2, "chunks": 3} | multisize
    return ModelSpec.model_validate(
        {"backbone": "deepfm", "embedding": {"dim": 4, "multisize": base}, "mlp": {"layers": [8]}}
    )


def test_a_model_needs_sampled_sizes_for_every_categorical_field(schema: DataSchema) -> None:
    with pytest.raises(ValueError, match="no sizes: sample it"):
        build_model(_model_spec(), schema)
    with pytest.raises(SpecError, match="no sizes for the field"):
        build_model(_model_spec(sizes={"c0": [1, 1, 1]}), schema)
    sizes = {f.name: [1, 1, 1] for f in schema.categorical} | {"n0": [1, 1, 1]}
    with pytest.raises(SpecError, match="no categorical field 'n0'"):
        count_embedding_params(_model_spec(sizes=sizes), schema)


def test_categorical_fields_are_k_chunks_wide(schema: DataSchema) -> None:
    sizes = {f.name: [3, 2, 0] for f in schema.categorical}
    model = build_model(_model_spec(sizes=sizes), schema)
    embedding = model.backbone.embedding
    assert all(embedding.dims[f.name] == 6 for f in schema.categorical)
    assert all(embedding.dims[f.name] == 4 for f in schema.numerical)
    assert isinstance(embedding.categorical["d6"], MultiSizeEmbedding)
