"""Splitting rows: seeded random splits, time-ordered splits, empty splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from searchengine.data._split import split_rows
from searchengine.errors import DataError
from searchengine.spec.format import SplitSpec


def test_random_split_is_a_seeded_sorted_partition() -> None:
    splits = split_rows(1000, SplitSpec(valid=0.1, test=0.2, seed=3))
    assert [len(splits[k]) for k in ("train", "valid", "test")] == [700, 100, 200]
    assert np.array_equal(np.sort(np.concatenate(list(splits.values()))), np.arange(1000))
    for rows in splits.values():
        assert rows.dtype == np.int64 and np.all(np.diff(rows) > 0)
    again = split_rows(1000, SplitSpec(valid=0.1, test=0.2, seed=3))
    other = split_rows(1000, SplitSpec(valid=0.1, test=0.2, seed=4))
    assert all(np.array_equal(splits[k], again[k]) for k in splits)
    assert not np.array_equal(splits["test"], other["test"])


def test_time_ordered_split_puts_the_latest_rows_last() -> None:
    when = pd.Series([50, 10, 40, 20, 30, 90, 80, 70, 60, 0])
    splits = split_rows(10, SplitSpec(valid=0.2, test=0.2, by="t"), when)
    assert when[splits["test"]].tolist() == [90, 80]
    assert sorted(when[splits["valid"]].tolist()) == [60, 70]
    assert when[splits["train"]].max() < 60


def test_missing_order_values_count_as_oldest() -> None:
    when = pd.Series([3.0, None, 1.0, 2.0])
    splits = split_rows(4, SplitSpec(valid=0.0, test=0.25, by="t"), when)
    assert splits["test"].tolist() == [0]
    assert splits["valid"].size == 0  # a fraction of 0 asks for no valid rows


def test_empty_split_is_an_error_that_says_what_to_change() -> None:
    with pytest.raises(DataError) as info:
        split_rows(3, SplitSpec(valid=0.1, test=0.1), source="data.csv")
    assert str(info.value) == (
        "data.csv: the valid split is empty: 3 row(s) cannot be split with valid=0.1, "
        "test=0.1; use more rows (`data.rows`) or other fractions (`data.split`)"
    )
