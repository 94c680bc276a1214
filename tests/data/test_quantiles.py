"""Numerical fields keep the train split's quantiles, which bucket boundaries come from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from searchengine.data import _load, load_data
from searchengine.data.schema import QUANTILES
from searchengine.models import build_model
from searchengine.spec.format import DataSpec, ModelSpec

WriteTable = Callable[..., Path]


def _spec(path: Path) -> DataSpec:
    return DataSpec.model_validate(
        {
            "dataset": "table",
            "path": str(path),
            "label": "clicked",
            "fields": [
                {"name": "user", "type": "categorical"},
                {"name": "price", "type": "numerical", "transform": "none"},
            ],
            "split": {"valid": 0.1, "test": 0.2, "by": "t"},
        }
    )


def _frame(n: int = 50) -> pd.DataFrame:
    """Prices 0..39 in the train rows (one missing), huge ones in valid and test."""
    price = [float(i) for i in range(n - 15)] + [1000.0 + i for i in range(15)]
    price[3] = np.nan
    return pd.DataFrame(
        {
            "t": range(n),
            "user": [f"u{i % 3}" for i in range(n)],
            "price": price,
            "clicked": [i % 2 for i in range(n)],
        }  # fmt: skip
    )


def test_bucket_boundaries_come_from_the_train_split(write_table: WriteTable) -> None:
    data = load_data(_spec(write_table(_frame())))
    train = data.splits["train"]
    assert train.tolist() == list(range(35))
    field = data.schema.field("price")
    q = field.quantiles
    assert q is not None and q.shape == (QUANTILES,)
    present = [float(i) for i in range(35) if i != 3]
    np.testing.assert_allclose(q, np.quantile(present, np.linspace(0, 1, QUANTILES)))
    assert q[0] == 0.0 and q[-1] == 34.0  # min and max of train: valid/test values unseen
    assert data.schema.field("user").quantiles is None

    spec = ModelSpec.model_validate(
        {"backbone": "wide_deep", "embedding": {"dim": 2, "numerical": "bucket",
                                                "bucket": {"count": 2, "method": "width"}}}
    )  # fmt: skip
    layer = build_model(spec, data.schema).backbone.embedding.numerical["d2_bucket"]
    torch.testing.assert_close(layer.boundaries, torch.tensor([[17.0]]))


def test_quantiles_survive_the_disk_cache(write_table: WriteTable) -> None:
    spec = _spec(write_table(_frame()))
    first = load_data(spec).schema.field("price").quantiles
    _load._memo.clear()
    second = load_data(spec).schema.field("price").quantiles  # read back from disk
    assert first is not None and second is not None
    np.testing.assert_array_equal(first, second)


def test_a_field_missing_in_every_train_row_has_no_quantiles(write_table: WriteTable) -> None:
    frame = _frame()
    frame.loc[:34, "price"] = np.nan
    assert load_data(_spec(write_table(frame))).schema.field("price").quantiles is None
