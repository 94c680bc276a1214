"""Splitting rows into train, valid and test."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from searchengine.errors import DataError
from searchengine.spec.format import SplitSpec

_log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


def split_rows(
    n_rows: int, split: SplitSpec, order: pd.Series | None = None, source: str = "the data"
) -> dict[str, np.ndarray]:
    """Row indices of the train, valid and test splits, each sorted int64.

    Without ``order`` the rows are shuffled with ``split.seed``; with it (the values of
    the ``split.by`` column) they are put in that order, stably, and the last
    ``split.test`` fraction is test, the ``split.valid`` fraction before it valid. Rows
    with a missing ``split.by`` value count as the earliest.

    Args:
        n_rows: number of rows.
        split: the fractions, seed and ordering column.
        order: the ordering column's values, one per row, or None for a random split.
        source: what the rows are, for error messages.

    Raises:
        DataError: when a split with a fraction above 0 (or train) would be empty.
    """
    n_test = int(round(n_rows * split.test))
    n_valid = int(round(n_rows * split.valid))
    sizes = {"train": n_rows - n_valid - n_test, "valid": n_valid, "test": n_test}
    fractions = {"train": 1.0, "valid": split.valid, "test": split.test}
    for name in SPLITS:
        if sizes[name] <= 0 and fractions[name] > 0:
            raise DataError(
                f"{source}: the {name} split is empty: {n_rows} row(s) cannot be split "
                f"with valid={split.valid}, test={split.test}; use more rows "
                "(`data.rows`) or other fractions (`data.split`)"
            )
    if order is None:
        rows = np.random.default_rng(split.seed).permutation(n_rows)
    else:
        if order.isna().any():
            _log.warning(
                "%s: %d row(s) have no %r value; they are put first (oldest)",
                source,
                int(order.isna().sum()),
                split.by,
            )
        rows = (
            order.reset_index(drop=True)
            .sort_values(kind="stable", na_position="first")
            .index.to_numpy()
        )
    cut_train, cut_valid = sizes["train"], sizes["train"] + n_valid
    parts = (rows[:cut_train], rows[cut_train:cut_valid], rows[cut_valid:])
    return {name: np.sort(part).astype(np.int64) for name, part in zip(SPLITS, parts, strict=True)}
