"""load_data: train-only fitting, the schema, the disk cache and the in-process memo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from searchengine.data import (
    DATASETS,
    OOV_ID,
    DataSchema,
    Dataset,
    EncodedData,
    _load,
    declared_fields,
    load_data,
)
from searchengine.data._table import Table
from searchengine.errors import DataError
from searchengine.spec.format import CategoricalField, DataSpec, NumericalField

WriteTable = Callable[..., Path]


def _frame(n: int = 40) -> pd.DataFrame:
    """Rows in time order; the last rows (the test split) bring a brand-new user."""
    users = [f"u{i % 4}" for i in range(n - 4)] + ["new"] * 4
    price = [float(i) for i in range(n)]
    return pd.DataFrame(
        {"t": range(n), "user": users, "price": price, "clicked": [i % 2 for i in range(n)]}
    )


def _spec(path: Path, **overrides: object) -> DataSpec:
    settings: dict[str, object] = {
        "dataset": "table",
        "path": str(path),
        "label": "clicked",
        "fields": [
            {"name": "user", "type": "categorical"},
            {"name": "price", "type": "numerical", "transform": "standardize"},
        ],
        "split": {"valid": 0.1, "test": 0.1, "by": "t"},
    }
    settings.update(overrides)
    return DataSpec.model_validate(settings)


def test_encoders_are_fitted_on_the_train_split_only(write_table: WriteTable) -> None:
    data = load_data(_spec(write_table(_frame())))
    train, test = data.splits["train"], data.splits["test"]
    assert train.tolist() == list(range(32)) and test.tolist() == list(range(36, 40))
    user = data.schema.field("user")
    assert data.cat[test, user.column].tolist() == [OOV_ID] * 4  # "new" is only in test
    assert user.vocab_size == 5 and user.counts.tolist() == [0, 8, 8, 8, 8]
    price = data.num[:, data.schema.field("price").column]
    train_prices = np.arange(32.0)
    expected = (np.arange(40.0) - train_prices.mean()) / train_prices.std()
    np.testing.assert_allclose(price, expected, rtol=1e-5)


def test_encoded_data_shapes_dtypes_and_metadata(write_table: WriteTable) -> None:
    path = write_table(_frame())
    data = load_data(_spec(path))
    assert isinstance(data, EncodedData) and isinstance(data.schema, DataSchema)
    assert data.schema.names == ["user", "price"]
    assert [f.kind for f in data.schema.fields] == ["categorical", "numerical"]
    assert data.cat.shape == (40, 1) and data.cat.dtype == np.int32
    assert data.num.shape == (40, 1) and data.num.dtype == np.float32
    assert data.num_missing.dtype == np.bool_ and data.label.dtype == np.float32
    assert set(np.unique(data.label)) == {0.0, 1.0}
    assert data.metadata["dataset"] == "table"
    assert data.metadata["rows"] == len(data) == 40
    assert data.metadata["source"] == str(path)
    assert data.metadata["positive_rate"] == pytest.approx(0.5)


def test_missing_numerical_values_are_zero_and_flagged(write_table: WriteTable) -> None:
    frame = _frame()
    frame["price"] = frame["price"].astype(object)
    frame.loc[[1, 5], "price"] = None
    frame.loc[7, "price"] = "?"
    data = load_data(_spec(write_table(frame)))
    missing = data.num_missing[:, 0]
    assert np.flatnonzero(missing).tolist() == [1, 5, 7]
    assert data.num[missing, 0].tolist() == [0.0, 0.0, 0.0]


def test_rows_limits_the_rows_read(write_table: WriteTable) -> None:
    assert len(load_data(_spec(write_table(_frame()), rows=20))) == 20


def test_the_same_spec_returns_the_same_object(write_table: WriteTable) -> None:
    path = write_table(_frame())
    assert load_data(_spec(path)) is load_data(_spec(path))


def test_second_load_reads_the_disk_cache(
    write_table: WriteTable, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(write_table(_frame()))
    first = load_data(spec)
    (entry,) = (p for p in cache_dir.iterdir() if p.is_dir())
    assert sorted(p.name for p in entry.iterdir()) == [
        "cat.npy", "encoders.json", "info.json", "label.npy", "num.npy", "num_missing.npy",
        "split_test.npy", "split_train.npy", "split_valid.npy", "vocabularies.arrow",
    ]  # fmt: skip
    assert isinstance(first.cat, np.memmap)
    _load._memo.clear()

    def fail(self: Table) -> pd.DataFrame:
        raise AssertionError("read() called despite the cache")

    monkeypatch.setattr(Table, "read", fail)
    monkeypatch.setattr(Table, "batches", fail)
    second = load_data(spec)
    assert second is not first
    for name in ("cat", "num", "num_missing", "label"):
        assert np.array_equal(getattr(second, name), getattr(first, name))
    assert all(np.array_equal(second.splits[k], first.splits[k]) for k in first.splits)
    assert second.metadata == first.metadata
    for a, b in zip(first.schema.fields, second.schema.fields, strict=True):
        assert (a.name, a.kind, a.column, a.vocab_size) == (b.name, b.kind, b.column, b.vocab_size)
        assert (a.counts is None and b.counts is None) or np.array_equal(a.counts, b.counts)


def test_explicit_cache_dir_and_disabled_cache(write_table: WriteTable, tmp_path: Path) -> None:
    path = write_table(_frame())
    load_data(_spec(path), cache_dir=tmp_path / "elsewhere")
    assert len([p for p in (tmp_path / "elsewhere").iterdir() if p.is_dir()]) == 1
    load_data(_spec(path, cache=False, rows=30), cache_dir=tmp_path / "off")
    assert not (tmp_path / "off").exists()


@pytest.mark.parametrize(
    "change",
    [
        {"rows": 30},
        {"split": {"valid": 0.1, "test": 0.2, "by": "t"}},
        {"split": {"valid": 0.1, "test": 0.1, "seed": 7}},
        {"fields": [{"name": "user", "type": "categorical", "min_count": 2}]},
        {"fields": [{"name": "user", "type": "categorical", "hash_buckets": 8}]},
        {"fields": [{"name": "price", "type": "numerical", "transform": "log1p"}]},
        {"options": {"chunksize": 7}},
    ],
)
def test_cache_key_changes_with_every_setting(
    write_table: WriteTable, change: dict[str, object]
) -> None:
    path = write_table(_frame())
    base = load_data(_spec(path)).metadata["cache_key"]
    assert load_data(_spec(path, **change)).metadata["cache_key"] != base


def test_cache_key_changes_when_the_file_changes(write_table: WriteTable) -> None:
    path = write_table(_frame())
    before = load_data(_spec(path))
    write_table(_frame(44))
    after = load_data(_spec(path))
    assert after is not before and len(after) == 44


def test_a_corrupt_cache_entry_is_rebuilt(write_table: WriteTable, cache_dir: Path) -> None:
    spec = _spec(write_table(_frame()))
    load_data(spec)
    for path in cache_dir.glob("*/cat.npy"):
        path.write_bytes(b"not an array")
    _load._memo.clear()
    assert len(load_data(spec)) == 40


def test_declared_fields_read_no_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: object) -> pd.DataFrame:
        raise AssertionError("declared_fields read the rows")

    for name in DATASETS.names():
        monkeypatch.setattr(DATASETS.get(name), "read", fail)
    fields = declared_fields(DataSpec(dataset="adult"))
    assert [f.name for f in fields][:3] == ["age", "workclass", "fnlwgt"]
    assert len(declared_fields(DataSpec(dataset="criteo", path="/nonexistent"))) == 39
    assert len(declared_fields(DataSpec(dataset="movielens-100k", path="/nonexistent"))) == 8


def test_fields_pick_and_reconfigure_builtin_fields() -> None:
    spec = DataSpec.model_validate(
        {
            "dataset": "adult",
            "fields": [
                {"name": "occupation", "min_count": 50},
                {"name": "age", "type": "categorical"},
                {"name": "capital-gain", "type": "numerical", "transform": "log1p"},
            ],
        }
    )
    fields = declared_fields(spec)
    assert [f.name for f in fields] == ["occupation", "age", "capital-gain"]
    assert isinstance(fields[1], CategoricalField) and fields[0].min_count == 50
    data = load_data(spec)
    assert data.schema.names == ["occupation", "age", "capital-gain"]
    assert data.schema.field("age").vocab_size > 60  # ages as ids
    assert isinstance(fields[2], NumericalField) and data.num.shape[1] == 1


class _Toy(Dataset):
    """A plug-in dataset: two fields, its own metadata, labels chosen by the test."""

    description = "toy"
    labels = [0, 1] * 10

    def declared_fields(self) -> list[CategoricalField | NumericalField]:
        return [CategoricalField(name="colour"), NumericalField(name="size", type="numerical")]

    def read(self) -> pd.DataFrame:
        n = len(self.labels)
        frame = pd.DataFrame({"colour": ["red", "blue"] * (n // 2), "size": range(n)})
        return frame.assign(label=self.labels, extra="ignored")

    def metadata(self) -> dict[str, object]:
        return {"origin": "test", "rows": -1}


def test_a_plugin_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DATASETS._items, "toy", _Toy)
    data = load_data(DataSpec(dataset="toy", options={"anything": 1}))
    assert data.schema.names == ["colour", "size"]
    assert data.metadata["origin"] == "test" and data.metadata["rows"] == 20
    assert data.metadata["source"] == "generated"
    monkeypatch.setattr(_Toy, "labels", [0, 1, 2, 1] * 5)
    with pytest.raises(DataError) as info:
        load_data(DataSpec(dataset="toy", cache=False))
    assert str(info.value) == (
        "dataset 'toy': label column 'label' must be binary (0/1, true/false or yes/no); "
        "5 row(s) are not, e.g. 2"
    )
