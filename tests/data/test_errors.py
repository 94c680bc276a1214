"""Every user error of the data layer: its type and the text the user sees."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from searchengine.data import declared_fields, load_data
from searchengine.errors import DataError, SearchEngineError, UnknownNameError
from searchengine.spec.format import DataSpec

from ._shared import CRITEO_ROWS, write_avazu, write_grouplens

WriteTable = Callable[..., Path]


def _table(path: Path | str, **overrides: object) -> DataSpec:
    settings: dict[str, object] = {
        "dataset": "table",
        "path": str(path),
        "label": "y",
        "fields": [{"name": "a"}, {"name": "price", "type": "numerical"}],
        "split": {"valid": 0.0, "test": 0.0},
    }
    settings.update(overrides)
    return DataSpec.model_validate(settings)


@pytest.fixture
def table(write_table: WriteTable) -> Path:
    frame = pd.DataFrame({"a": ["x", "y", "z"], "price": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    return write_table(frame, "t.csv")


def _message(spec: DataSpec, error: type[Exception] = DataError) -> str:
    with pytest.raises(error) as info:
        load_data(spec)
    assert isinstance(info.value, SearchEngineError)
    return str(info.value)


def test_unknown_dataset() -> None:
    message = _message(DataSpec(dataset="adlt"), UnknownNameError)
    assert message.startswith("unknown dataset 'adlt'; did you mean 'adult'? (choices: adult, ")
    with pytest.raises(UnknownNameError):
        declared_fields(DataSpec(dataset="adlt"))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    assert _message(_table(path)) == f"data file not found: {path} (check `data.path`)"
    criteo = DataSpec(dataset="criteo", path=str(tmp_path / "day_0"))
    assert _message(criteo) == f"data file not found: {tmp_path / 'day_0'} (check `data.path`)"


def test_file_datasets_need_a_path() -> None:
    assert _message(DataSpec(dataset="criteo")) == (
        "dataset 'criteo' is read from a file: set `data.path` to it"
    )
    spec = DataSpec(dataset="table", label="y", fields=[{"name": "a"}])
    assert _message(spec) == "dataset 'table' needs `data.path`: a .csv, .tsv or .parquet file"


def test_missing_movielens_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ml"
    spec = DataSpec(dataset="movielens-100k", path=str(folder))
    assert _message(spec) == f"movielens-100k folder not found: {folder} (check `data.path`)"
    monkeypatch.chdir(tmp_path)
    assert _message(DataSpec(dataset="movielens-100k")).startswith(
        "dataset 'movielens-100k' is not bundled (its license forbids it): set `data.path` "
        "to a folder with ml-100k.inter/.user/.item (RecBole) or u.data/u.user/u.item "
        "(GroupLens); "
    )


def test_movielens_folder_without_the_files(tmp_path: Path) -> None:
    spec = DataSpec(dataset="movielens-100k", path=str(tmp_path))
    assert _message(spec) == (
        f"{tmp_path}: found neither RecBole files (ml-100k.inter, ml-100k.user, "
        "ml-100k.item) nor GroupLens files (u.data, u.user, u.item)"
    )
    write_grouplens(tmp_path)
    (tmp_path / "u.item").unlink()
    assert _message(spec) == f"{tmp_path}: missing u.item"


def test_missing_column_with_the_closest_match(table: Path) -> None:
    spec = _table(table, fields=[{"name": "pric", "type": "numerical"}])
    assert (
        _message(spec)
        == f"{table}: no column 'pric'; did you mean 'price'? (columns: a, price, y)"
    )
    spec = _table(table, split={"by": "tim"})
    assert _message(spec) == f"{table}: no column 'tim' (columns: a, price, y)"


def test_missing_column_in_parquet(write_table: WriteTable) -> None:
    path = write_table(pd.DataFrame({"a": ["x"], "price": [1.0], "label_": [1]}), "t.parquet")
    assert _message(_table(path)) == (f"{path}: no column 'y' (columns: a, price, label_)")


def test_label_not_binary(write_table: WriteTable) -> None:
    frame = pd.DataFrame({"a": list("abcd"), "price": [1.0] * 4, "y": ["yes", "maybe", "2", "no"]})
    path = write_table(frame)
    assert _message(_table(path)) == (
        f"{path}, line 3, column 'y': the label must be binary (0/1, true/false or yes/no), "
        "got 'maybe'"
    )
    frame["y"] = [0, 1, 2, 3]
    write_table(frame)
    assert _message(_table(path)).startswith(f"{path}, line 4, column 'y': ")
    assert _message(_table(path)).endswith("got '2'")
    frame.to_parquet(path.with_suffix(".parquet"))
    assert _message(_table(path.with_suffix(".parquet"))).endswith(
        "parquet, row 3, column 'y': the label must be binary (0/1, true/false or yes/no), got 2"
    )


def test_numerical_field_with_text(write_table: WriteTable) -> None:
    frame = pd.DataFrame({"a": list("abcd"), "price": ["1.5", "cheap", "?", "n/a!"], "y": [0] * 4})
    path = write_table(frame)
    assert _message(_table(path)) == (
        f"{path}, line 3, column 'price': the field is declared numerical but 'cheap' is not "
        "a number (2 value(s) in these rows are not); declare it `type: categorical` or "
        "clean the column"
    )


def test_empty_split(table: Path) -> None:
    assert _message(_table(table, split={"valid": 0.1, "test": 0.1})) == (
        f"{table}: the valid split is empty: 3 row(s) cannot be split with valid=0.1, "
        "test=0.1; use more rows (`data.rows`) or other fractions (`data.split`)"
    )


@pytest.mark.parametrize("name", ["a,b", "gate[a]", "x]"])
def test_field_names_that_cannot_be_decision_names(name: str) -> None:
    spec = _table("t.csv", fields=[{"name": name}])
    with pytest.raises(DataError) as info:
        declared_fields(spec)
    assert str(info.value).startswith(f"field name {name!r} contains ")
    assert str(info.value).endswith(
        "field names must not contain ',', '[' or ']' (they appear in decision names like "
        "`model.interactions.gate[a,b]`): rename the column"
    )


def test_reserved_duplicate_and_label_fields() -> None:
    cases = {
        "label": "a field cannot be named 'label' (the name is reserved for the label); "
        "rename the column",
        "a": "field 'a' is declared twice; declare each field once",
        "y": "column 'y' is the label (`data.label`); it cannot also be a field",
    }
    for name, message in cases.items():
        spec = _table("t.csv", fields=[{"name": "a"}, {"name": name}])
        with pytest.raises(DataError, match=re.escape(message)):
            declared_fields(spec)


def test_unknown_builtin_field() -> None:
    spec = DataSpec(dataset="adult", fields=[{"name": "agee", "type": "numerical"}])
    with pytest.raises(DataError) as info:
        declared_fields(spec)
    assert str(info.value) == (
        "dataset 'adult' has no field 'agee'; did you mean 'age'? (fields: age, workclass, "
        "fnlwgt, education, educational-num, marital-status, occupation, relationship, "
        "race, gender, capital-gain, capital-loss, hours-per-week, native-country)"
    )


def test_table_needs_fields_and_label() -> None:
    with pytest.raises(DataError, match=re.escape("dataset 'table' needs `data.fields`")):
        declared_fields(DataSpec(dataset="table", path="t.csv", label="y"))
    with pytest.raises(DataError) as info:
        declared_fields(DataSpec(dataset="table", path="t.csv", fields=[{"name": "a"}]))
    assert str(info.value) == "dataset 'table' needs `data.label`: the binary label column"


def test_unknown_extension(write_table: WriteTable) -> None:
    path = write_table(pd.DataFrame({"a": [1]}), "t.json")
    assert _message(_table(path)) == (
        f"{path}: cannot tell the file format from its extension; "
        "use .csv, .tsv, .txt, .parquet or .pq"
    )


def test_unknown_or_mistyped_option() -> None:
    assert _message(DataSpec(dataset="synthetic", options={"sed": 1})) == (
        "dataset 'synthetic' has no option 'sed'; did you mean 'seed'? (options: categorical, "
        "informative, interactions, max_vocab, min_vocab, numerical, positive_rate, seed, "
        "signal, zipf)"
    )
    assert _message(DataSpec(dataset="synthetic", options={"rows": True, "seed": 1})).startswith(
        "dataset 'synthetic' has no option 'rows'"
    )
    assert _message(DataSpec(dataset="synthetic", options={"numerical": 2.5})) == (
        "dataset 'synthetic': option 'numerical' must be int, got 2.5"
    )


def test_criteo_with_the_wrong_number_of_columns(tmp_path: Path) -> None:
    path = tmp_path / "day_0"
    path.write_text("\t".join(CRITEO_ROWS[0][:10]) + "\n")
    assert _message(DataSpec(dataset="criteo", path=str(path))) == (
        f"{path}, line 1: expected 40 tab-separated columns (label, I1-I13, C1-C26), "
        "found 10 (a truncated or malformed line)"
    )


def test_avazu_bad_hour_and_missing_column(tmp_path: Path) -> None:
    path = write_avazu(tmp_path / "train.csv")
    frame = pd.read_csv(path, dtype=str)
    frame.loc[1, "hour"] = "yesterday"
    frame.to_csv(path, index=False)
    assert _message(DataSpec(dataset="avazu", path=str(path))) == (
        f"{path}, line 3, column 'hour': must be YYMMDDHH (e.g. 14102100), got 'yesterday'"
    )
    frame.drop(columns=["site_id"]).to_csv(path, index=False)
    assert _message(DataSpec(dataset="avazu", path=str(path))).startswith(
        f"{path}: no column 'site_id'; did you mean 'site_domain'? (columns: id, click, "
    )


def test_adult_with_a_bad_income(tmp_path: Path) -> None:
    path = tmp_path / "adult.csv"
    header = (
        "age,workclass,fnlwgt,education,educational-num,marital-status,occupation,"
        "relationship,race,gender,capital-gain,capital-loss,hours-per-week,native-country,"
        "income"
    )
    path.write_text(header + "\n25,Private,1,11th,7,N,M,O,B,Male,0,0,40,US,rich\n")
    assert _message(DataSpec(dataset="adult", path=str(path))) == (
        f"{path}: column 'income' must be '>50K' or '<=50K'; 1 row(s) are not, e.g. 'rich'"
    )


def test_empty_and_unparsable_files(write_table: WriteTable, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert _message(_table(empty)) == f"{empty}: the file is empty; expected a header line"
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    assert _message(_table(broken)).startswith(f"{broken}: cannot read the Parquet file: ")
