"""Fitted encoders through JSON, and encoding new rows exactly as the training rows were."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from searchengine.data import FittedEncoders, fit_encoders, load_data
from searchengine.data._encoders import CategoricalEncoder, NumericalEncoder
from searchengine.errors import DataError
from searchengine.spec.format import CategoricalField, DataSpec, NumericalField


def _through_json(encoder):
    return type(encoder).from_json(json.loads(json.dumps(encoder.to_json())))


@pytest.mark.parametrize(
    "train",
    [
        pd.Series(["b", "a", "b", "c"]),
        pd.Series(["b", "a", "b", "c"], dtype=object),
        pd.Series([10, 2, 2, 7]),
        pd.Series([1.5, 2.5, 2.5]),
        pd.Series([True, False, True]),
        pd.Series([1, None, 3, 3], dtype="Int64"),
    ],
    ids=["str", "object", "int", "float", "bool", "nullable-int"],
)
def test_categorical_round_trip(train: pd.Series) -> None:
    encoder = CategoricalEncoder(CategoricalField(name="f")).fit(train)
    again = _through_json(encoder)
    assert list(again.vocabulary) == list(encoder.vocabulary)
    assert again.vocabulary.dtype == encoder.vocabulary.dtype
    probe = pd.concat([train, pd.Series([None])], ignore_index=True)
    np.testing.assert_array_equal(again.transform(probe), encoder.transform(probe))


def test_hash_buckets_round_trip() -> None:
    field = CategoricalField(name="f", hash_buckets=5)
    encoder = CategoricalEncoder(field).fit(pd.Series([f"v{i}" for i in range(50)]))
    again = _through_json(encoder)
    assert again.field.hash_buckets == 5 and again.vocab_size == 6
    values = pd.Series([f"v{i}" for i in range(60)])
    np.testing.assert_array_equal(again.transform(values), encoder.transform(values))


def test_numerical_round_trip() -> None:
    field = NumericalField(name="x", type="numerical", transform=["log1p", "standardize"])
    encoder = NumericalEncoder(field).fit(np.array([0.0, 3.0, np.nan, 100.0]))
    again = _through_json(encoder)
    values = np.array([1.0, np.nan, 1e6, -2.0])
    for a, b in zip(again.transform(values), encoder.transform(values), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_vocabulary_json_cannot_hold_is_refused() -> None:
    dates = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"]))
    encoder = CategoricalEncoder(CategoricalField(name="day")).fit(dates)
    with pytest.raises(DataError, match="field 'day': cannot save a vocabulary of datetime64"):
        encoder.to_json()


def test_align_reads_values_of_another_file_as_the_vocabulary_does() -> None:
    numbers = CategoricalEncoder(CategoricalField(name="f")).fit(pd.Series([10, 2, 2]))
    assert numbers.transform(numbers.align(pd.Series(["2", " 10", "x", None]))).tolist() == [
        1, 2, 0, 0,
    ]  # fmt: skip
    text = CategoricalEncoder(CategoricalField(name="f")).fit(pd.Series(["3", "4", "4"]))
    assert text.transform(text.align(pd.Series([4, 3, 5]))).tolist() == [1, 2, 0]
    assert text.transform(text.align(pd.Series([4.0, np.nan]))).tolist() == [1, 0]
    flags = CategoricalEncoder(CategoricalField(name="f")).fit(pd.Series([True, True, False]))
    assert flags.transform(flags.align(pd.Series(["true", "0", "?"]))).tolist() == [1, 2, 0]
    same = pd.Series(["3", "4"])
    assert text.align(same) is same  # values of the vocabulary's kind are left alone


def test_fit_encoders_encode_as_load_data_did(write_table: Callable[..., Path]) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user": rng.integers(0, 30, 400),
            "city": rng.choice(["a", "b", "c", None], 400),
            "price": np.where(rng.random(400) < 0.1, np.nan, rng.exponential(5, 400)),
            "y": rng.integers(0, 2, 400),
        }
    )
    spec = DataSpec(
        dataset="table",
        path=str(write_table(frame, "clicks.csv")),
        label="y",
        fields=[
            {"name": "user", "min_count": 3},
            {"name": "city"},
            {"name": "price", "type": "numerical", "transform": ["log1p", "minmax"]},
        ],
    )
    data = load_data(spec)
    encoders = FittedEncoders.from_json(json.loads(json.dumps(fit_encoders(spec).to_json())))
    raw = pd.read_csv(spec.path, dtype={"user": str, "city": str})
    cat, num, missing = encoders.encode(raw, "clicks.csv", align=True)
    np.testing.assert_array_equal(cat, data.cat)
    np.testing.assert_array_equal(num, data.num)
    np.testing.assert_array_equal(missing, data.num_missing)
    assert encoders.names == ["user", "city", "price"]
