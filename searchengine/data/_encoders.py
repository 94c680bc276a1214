"""Encoders: raw column values to model inputs, fitted on the train split only.

Both encoders are vectorized (pandas hash tables and numpy); nothing loops over rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from searchengine.data.schema import OOV_ID
from searchengine.searchspace.spec import CategoricalField, NumericalField

__all__ = ["CategoricalEncoder", "NumericalEncoder", "stable_hash"]


def stable_hash(values: pd.Series | pd.Index) -> np.ndarray:
    """A hash of each value's text that is the same in every process and on every machine.

    Python's ``hash()`` is salted per process; pandas' SipHash with its fixed key is not.
    """
    text = np.asarray(pd.Index(values).astype(str), dtype=object)
    return pd.util.hash_array(text, categorize=True)


class CategoricalEncoder:
    """Values to ids ``1..V`` by a train vocabulary (or hash buckets); all else to OOV 0.

    The vocabulary holds the values seen at least ``min_count`` times in the train rows,
    by descending count, ties broken by the value (numbers by value, anything else by its
    text), so ids are deterministic.
    With ``hash_buckets: H``, a value of the vocabulary gets ``1 + stable_hash(value) % H``
    instead of its rank. Missing values, rare values and values not seen in the train rows
    always get :data:`OOV_ID`.

    Args:
        field: the field's spec.
    """

    def __init__(self, field: CategoricalField) -> None:
        self.field = field
        self.vocabulary: pd.Index | None = None

    def fit(self, train_values: pd.Series) -> CategoricalEncoder:
        """Build the vocabulary from the train rows' values."""
        counts = train_values.value_counts(dropna=True, sort=False)
        counts = counts[counts >= self.field.min_count]
        values = counts.index
        ties = values.to_numpy() if pd.api.types.is_numeric_dtype(values.dtype) else None
        if ties is None or ties.dtype == object:
            ties = np.asarray(values.astype(str))
        order = np.lexsort((ties, -counts.to_numpy()))
        self.vocabulary = counts.index[order]
        return self

    @property
    def vocab_size(self) -> int:
        """Number of ids, OOV included."""
        if self.field.hash_buckets is not None:
            return self.field.hash_buckets + 1
        return len(self._fitted()) + 1

    def transform(self, values: pd.Series) -> np.ndarray:
        """Int64 ids of ``values``; :data:`OOV_ID` for anything outside the vocabulary."""
        vocabulary = self._fitted()
        rank = vocabulary.get_indexer(pd.Index(values))
        known = rank >= 0
        if self.field.hash_buckets is None:
            return np.where(known, rank + 1, OOV_ID).astype(np.int64)
        buckets = 1 + (stable_hash(vocabulary) % np.uint64(self.field.hash_buckets))
        ids = np.full(len(rank), OOV_ID, dtype=np.int64)
        ids[known] = buckets.astype(np.int64)[rank[known]]
        return ids

    def _fitted(self) -> pd.Index:
        if self.vocabulary is None:
            raise RuntimeError("CategoricalEncoder.fit must be called before use")
        return self.vocabulary


class NumericalEncoder:
    """Transforms applied in order, each fitted on the (transformed) train values.

    ``log1p`` is ``log1p(max(x, 0))``; ``standardize`` uses the train mean and standard
    deviation (a constant column gets std 1); ``minmax`` maps the train range to [0, 1]
    (a constant column gets range 1). Missing values (NaN) become 0 after the transforms,
    with ``True`` in the missing mask.

    Args:
        field: the field's spec.
    """

    def __init__(self, field: NumericalField) -> None:
        self.field = field
        transform = field.transform
        self.transforms: list[str] = [transform] if isinstance(transform, str) else list(transform)
        self.params: list[tuple[float, float]] | None = None

    def fit(self, train_values: np.ndarray) -> NumericalEncoder:
        """Fit each transform's (shift, scale) on the train values; NaN means missing."""
        x = np.asarray(train_values, dtype=np.float64)
        self.params = []
        for name in self.transforms:
            shift, scale = _fit_one(name, x)
            self.params.append((shift, scale))
            x = _apply_one(name, x, shift, scale)
        return self

    def transform(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(float32 values, bool missing mask)``; missing values are 0."""
        if self.params is None:
            raise RuntimeError("NumericalEncoder.fit must be called before use")
        x = np.asarray(values, dtype=np.float64)
        missing = np.isnan(x)
        for name, (shift, scale) in zip(self.transforms, self.params, strict=True):
            x = _apply_one(name, x, shift, scale)
        return np.where(missing, 0.0, x).astype(np.float32), missing


def _fit_one(name: str, x: np.ndarray) -> tuple[float, float]:
    present = x[~np.isnan(x)]
    if name == "standardize" and present.size:
        std = float(present.std())
        return float(present.mean()), std if std > 0 else 1.0
    if name == "minmax" and present.size:
        low, high = float(present.min()), float(present.max())
        return low, (high - low) if high > low else 1.0
    return 0.0, 1.0


def _apply_one(name: str, x: np.ndarray, shift: float, scale: float) -> np.ndarray:
    if name == "log1p":
        return np.log1p(np.maximum(x, 0.0))
    if name in ("standardize", "minmax"):
        return (x - shift) / scale
    return x  # "none"
