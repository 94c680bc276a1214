"""Every built-in dataset parses; MovieLens in both layouts; click logs from fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from searchengine.data import DATASETS, OOV_ID, Dataset, declared_fields, load_data
from searchengine.spec.format import DataSpec

from ._shared import ADULT_CSV, MOVIELENS, write_avazu, write_criteo, write_grouplens

WriteTable = Callable[..., Path]
ADULT_FIELDS = [
    "age", "workclass", "fnlwgt", "education", "educational-num", "marital-status",
    "occupation", "relationship", "race", "gender", "capital-gain", "capital-loss",
    "hours-per-week", "native-country",
]  # fmt: skip
ADULT_NUMERICAL = {
    "age", "fnlwgt", "educational-num", "capital-gain", "capital-loss", "hours-per-week"
}  # fmt: skip
needs_movielens = pytest.mark.skipif(
    not MOVIELENS.is_dir(), reason=f"MovieLens 100K not found at {MOVIELENS}"
)


def test_the_builtin_datasets_are_registered() -> None:
    names = {"synthetic", "adult", "movielens-100k", "criteo", "avazu", "table"}
    assert names <= set(DATASETS.names())
    for name in names:
        cls = DATASETS.get(name)
        assert issubclass(cls, Dataset) and cls.description


def test_adult_bundled() -> None:
    data = load_data(DataSpec(dataset="adult"))
    assert len(data) == 48_842
    assert data.metadata["positive_rate"] == pytest.approx(0.239, abs=0.001)
    assert data.schema.names == ADULT_FIELDS
    kinds = {f.name: f.kind for f in data.schema.fields}
    assert {n for n, k in kinds.items() if k == "numerical"} == ADULT_NUMERICAL
    assert data.cat.shape == (48_842, 8) and data.num.shape == (48_842, 6)
    workclass = data.schema.field("workclass")
    assert workclass.counts[OOV_ID] > 2000  # '?' is missing


@pytest.mark.skipif(not ADULT_CSV.exists(), reason=f"{ADULT_CSV} not found")
def test_adult_from_a_path_with_label_variants(tmp_path: Path) -> None:
    lines = ADULT_CSV.read_text().splitlines()[:201]
    # The UCI test file writes the label with a full stop and values with a leading space.
    text = "\n".join(lines[:101] + [line.replace(">50K", ">50K.") for line in lines[101:]])
    (tmp_path / "adult.csv").write_text(text.replace(",", ", ") + "\n")
    data = load_data(DataSpec(dataset="adult", path=str(tmp_path / "adult.csv")))
    reference = load_data(DataSpec(dataset="adult", path=str(ADULT_CSV), rows=200))
    assert len(data) == 200
    assert np.array_equal(data.label, reference.label)
    assert np.array_equal(data.cat, reference.cat)


@needs_movielens
def test_movielens_recbole_files() -> None:
    spec = DataSpec(dataset="movielens-100k", path=str(MOVIELENS), split={"by": "timestamp"})
    data = load_data(spec)
    assert len(data) == 100_000
    assert data.schema.names == [
        "user_id", "item_id", "age", "gender", "occupation", "zip_code", "release_year",
        "genre",
    ]  # fmt: skip
    assert data.metadata["positive_rate"] == pytest.approx(0.553, abs=0.001)
    assert data.schema.field("user_id").vocab_size == 752  # users of the earlier 80% + OOV
    assert data.schema.field("genre").vocab_size == 20  # 19 genres + OOV
    assert data.schema.field("gender").vocab_size == 3


def test_movielens_grouplens_layout(tmp_path: Path) -> None:
    folder = write_grouplens(tmp_path / "ml")
    spec = DataSpec(dataset="movielens-100k", path=str(folder), split={"valid": 0, "test": 0})
    data = load_data(spec)
    assert data.label.tolist() == [1, 0, 1, 0, 1, 0]
    assert data.metadata["source"] == str(folder)
    raw = DATASETS.get("movielens-100k")(spec).read()
    assert raw["genre"].tolist()[:3] == ["Animation", "Drama", "Animation"]
    assert raw.loc[raw["item_id"] == "30", "genre"].isna().all()
    assert raw["release_year"].tolist()[:2] == ["1995", "1997"]
    assert raw["timestamp"].tolist() == [100, 200, 300, 400, 500, 600]


@needs_movielens
def test_movielens_recbole_raw_columns() -> None:
    recbole = DATASETS.get("movielens-100k")(
        DataSpec(dataset="movielens-100k", path=str(MOVIELENS), rows=5)
    ).read()
    assert recbole.columns.tolist()[:2] == ["user_id", "item_id"]
    assert {"age", "gender", "occupation", "zip_code", "release_year", "genre"} <= set(recbole)
    assert recbole["genre"].notna().all() and recbole["release_year"].str.match(r"\d{4}").all()


def test_criteo_fixture(tmp_path: Path) -> None:
    path = write_criteo(tmp_path / "train.txt")
    spec = DataSpec(dataset="criteo", path=str(path), split={"valid": 0, "test": 0})
    data = load_data(spec)
    assert len(data) == 3 and data.label.tolist() == [1.0, 0.0, 0.0]
    assert data.cat.shape == (3, 26) and data.num.shape == (3, 13)
    assert data.num_missing[:, :3].tolist() == [
        [False, True, False], [True, False, True], [False, False, False],
    ]  # fmt: skip
    c1 = data.schema.field("C1")
    assert c1.vocab_size == 3 and data.cat[:, c1.column].tolist() == [1, 1, 2]
    assert data.cat[0, data.schema.field("C3").column] == OOV_ID  # empty is missing


def test_criteo_rows_and_chunks(tmp_path: Path) -> None:
    path = write_criteo(tmp_path / "train.txt")
    spec = DataSpec(
        dataset="criteo", path=str(path), rows=2, options={"chunksize": 1},
        split={"valid": 0, "test": 0},
    )  # fmt: skip
    assert len(load_data(spec)) == 2


def test_click_logs_hold_categories_as_codes_whatever_the_chunks(tmp_path: Path) -> None:
    path = write_criteo(tmp_path / "train.txt")
    one = {
        "dataset": "criteo",
        "path": str(path),
        "split": {"valid": 0, "test": 0},
        "cache": False,
    }
    frame = DATASETS.get("criteo")(DataSpec(**one, options={"chunksize": 1})).read()
    assert all(isinstance(frame[f"C{i}"].dtype, pd.CategoricalDtype) for i in range(1, 27))
    assert not isinstance(frame["I1"].dtype, pd.CategoricalDtype)  # its encoder parses it
    chunked = load_data(DataSpec(**one, options={"chunksize": 1}))
    whole = load_data(DataSpec(**one, options={"chunksize": 1000}))
    assert np.array_equal(chunked.cat, whole.cat) and np.allclose(chunked.num, whole.num)
    assert chunked.schema.field("C1").vocab_size == whole.schema.field("C1").vocab_size


def test_avazu_fixture(tmp_path: Path) -> None:
    path = write_avazu(tmp_path / "train.csv")
    spec = DataSpec(
        dataset="avazu", path=str(path), split={"valid": 0, "test": 1 / 3, "by": "timestamp"}
    )
    data = load_data(spec)
    assert data.label.tolist() == [0.0, 1.0, 0.0]
    assert "id" not in data.schema.names and "click" not in data.schema.names
    assert data.schema.names[:3] == ["hour", "weekday", "C1"] and len(data.schema.names) == 23
    assert data.splits["test"].tolist() == [2]
    raw = DATASETS.get("avazu")(spec).read()
    assert raw["hour"].tolist() == [0, 13, 23]
    assert raw["weekday"].tolist() == [1, 2, 6]  # 2014-10-21 was a Tuesday


@pytest.mark.parametrize(
    ("name", "labels", "expected"),
    [
        ("t.csv", [0, 1, 1, 0], [0, 1, 1, 0]),
        ("t.tsv", ["true", "False", "TRUE", "false"], [1, 0, 1, 0]),
        ("t.txt", ["yes", "no", "Yes", "NO"], [1, 0, 1, 0]),
        ("t.parquet", [True, False, True, False], [1, 0, 1, 0]),
        ("t.pq", ["true", "false", "true", "true"], [1, 0, 1, 1]),
        ("t.parquet", [1.0, 0.0, 1.0, 0.0], [1, 0, 1, 0]),
    ],
)
def test_table_formats_and_label_kinds(
    write_table: WriteTable, name: str, labels: list[object], expected: list[int]
) -> None:
    frame = pd.DataFrame({"y": labels * 5, "a": list("abcd") * 5, "x": range(20)})
    spec = DataSpec.model_validate(
        {
            "dataset": "table",
            "path": str(write_table(frame, name)),
            "label": "y",
            "fields": [{"name": "a"}, {"name": "x", "type": "numerical"}],
        }
    )
    data = load_data(spec)
    assert data.label.tolist() == [float(v) for v in expected * 5]
    assert data.schema.field("a").vocab_size == 5


def test_table_parquet_rows_limit(write_table: WriteTable) -> None:
    frame = pd.DataFrame({"y": [0, 1] * 50, "a": range(100)})
    path = write_table(frame, "t.parquet")
    spec = DataSpec(dataset="table", path=str(path), label="y", fields=[{"name": "a"}], rows=30)
    data = load_data(spec)
    assert len(data) == 30


def test_declared_fields_of_table_come_from_the_spec() -> None:
    spec = DataSpec(dataset="table", path="x.csv", label="y", fields=[{"name": "a"}])
    assert [f.name for f in declared_fields(spec)] == ["a"]
