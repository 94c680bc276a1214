"""Encoders: raw column values to model inputs, fitted on the train split only.

Both encoders are vectorized (pandas hash tables and numpy); nothing loops over rows.
Fitted encoders round-trip through JSON (:meth:`FittedEncoders.to_json`), so that an
exported model encodes new rows exactly as its training rows were encoded.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from searchengine.data._readers import numeric_values
from searchengine.data.schema import OOV_ID
from searchengine.errors import DataError
from searchengine.spec.format import CategoricalField, NumericalField

__all__ = [
    "CategoricalEncoder",
    "FieldEncoder",
    "FittedEncoders",
    "NumericalEncoder",
    "stable_hash",
    "vocabulary_order",
]

#: Kinds of vocabulary dtypes whose values JSON holds exactly (bool, ints, floats, text).
_JSON_KINDS = "biufOUT"


def stable_hash(values: pd.Series | pd.Index) -> np.ndarray:
    """A hash of each value's text that is the same in every process and on every machine.

    Python's ``hash()`` is salted per process; pandas' SipHash with its fixed key is not.
    """
    text = np.asarray(pd.Index(values).astype(str), dtype=object)
    return pd.util.hash_array(text, categorize=True)


def vocabulary_order(values: pd.Index, counts: np.ndarray) -> np.ndarray:
    """The order of a vocabulary: by descending count, ties broken by the value (numbers
    by value, anything else by its text), so that ids are deterministic."""
    if pd.api.types.is_numeric_dtype(values.dtype) and values.dtype != object:
        ties = pa.array(values.to_numpy())
    else:
        ties = pa.array(np.asarray(values.astype(str), dtype=object), type=pa.string())
    table = pa.table({"count": pa.array(np.asarray(counts, dtype=np.int64)), "value": ties})
    order = pc.sort_indices(table, sort_keys=[("count", "descending"), ("value", "ascending")])
    return order.to_numpy()


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
        if isinstance(counts.index.dtype, pd.CategoricalDtype):  # the values, not categories
            counts.index = pd.Index(np.asarray(counts.index), dtype=counts.index.categories.dtype)
        self.vocabulary = counts.index[vocabulary_order(counts.index, counts.to_numpy())]
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
        if isinstance(values.dtype, pd.CategoricalDtype):  # look up each category once
            codes = values.cat.codes.to_numpy()
            per_category = vocabulary.get_indexer(values.cat.categories)
            rank = np.where(codes >= 0, per_category[codes], -1)
        else:
            rank = vocabulary.get_indexer(pd.Index(values))
        known = rank >= 0
        ids = np.full(len(rank), OOV_ID, dtype=np.int64)
        ids[known] = self.ids_of_vocabulary()[rank[known]]
        return ids

    def ids_of_vocabulary(self) -> np.ndarray:
        """The id of each vocabulary value, in vocabulary order: ``1..V``, or with
        ``hash_buckets: H`` its bucket ``1 + stable_hash(value) % H``."""
        vocabulary = self._fitted()
        if self.field.hash_buckets is None:
            return np.arange(1, len(vocabulary) + 1, dtype=np.int64)
        buckets = 1 + (stable_hash(vocabulary) % np.uint64(self.field.hash_buckets))
        return buckets.astype(np.int64)

    def _fitted(self) -> pd.Index:
        if self.vocabulary is None:
            raise RuntimeError("CategoricalEncoder.fit must be called before use")
        return self.vocabulary

    def align(self, values: pd.Series) -> pd.Series:
        """``values`` read from another file, cast to the vocabulary's kind of value.

        Text read from a CSV file (``"17"``) matches a vocabulary of numbers (``17``) and
        numbers from a Parquet file match a vocabulary of text. Values that already have
        the vocabulary's kind are returned unchanged, so training rows encode as before.
        """
        vocab_numeric = pd.api.types.is_numeric_dtype(self._fitted().dtype)
        numeric = pd.api.types.is_numeric_dtype(values.dtype)
        if pd.api.types.is_bool_dtype(self._fitted().dtype):
            if pd.api.types.is_bool_dtype(values.dtype):
                return values
            text = values.astype("string").str.strip().str.lower()
            return text.map({"true": True, "1": True, "false": False, "0": False})
        if vocab_numeric and not numeric:
            return pd.to_numeric(values.astype("string").str.strip(), errors="coerce")
        if not vocab_numeric and numeric and not pd.api.types.is_bool_dtype(values.dtype):
            present = values.dropna()
            if pd.api.types.is_float_dtype(values.dtype) and (present == present.round()).all():
                values = values.astype("Int64")  # 3.0 read back from a float column -> "3"
            return values.astype("string").astype(object).where(values.notna(), None)
        return values

    def to_json(self, *, with_vocabulary: bool = True) -> dict[str, Any]:
        """The field and its vocabulary (values in id order) as JSON-ready data; without
        the vocabulary, for a caller that stores :meth:`vocabulary_array` compactly.

        Raises:
            DataError: for a vocabulary whose values JSON cannot hold (dates, bytes).
        """
        vocabulary = self._fitted()
        if vocabulary.dtype.kind not in _JSON_KINDS:
            raise DataError(
                f"field {self.field.name!r}: cannot save a vocabulary of {vocabulary.dtype} "
                "values; declare the column as text"
            )
        data = {"field": self.field.model_dump(mode="json"), "dtype": str(vocabulary.dtype)}
        if with_vocabulary:
            data["vocabulary"] = vocabulary.tolist()
        return data

    def vocabulary_array(self) -> Any:
        """The vocabulary in id order as one Arrow array (text, ints, floats or bools).

        Raises:
            pyarrow.ArrowInvalid, pyarrow.ArrowTypeError: values of mixed kinds.
        """
        vocabulary = self._fitted()
        values = vocabulary.to_numpy()
        if values.dtype == object or vocabulary.dtype.kind in "OUT":
            return pa.array(values.tolist(), type=None)
        return pa.array(values)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CategoricalEncoder:
        """The encoder :meth:`to_json` saved, fitted; ``vocabulary`` is a list, or the
        Arrow array of :meth:`vocabulary_array`."""
        encoder = cls(CategoricalField.model_validate(data["field"]))
        values = data["vocabulary"]
        if not isinstance(values, list):
            values = values.to_numpy(zero_copy_only=False)
        encoder.vocabulary = pd.Index(values, dtype=data["dtype"])
        return encoder


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
        self.fit_transform(train_values)
        return self

    def fit_transform(self, train_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`fit`, and :meth:`transform` of the same values, transforming them once."""
        x = np.asarray(train_values, dtype=np.float64)
        missing = np.isnan(x)
        self.params = []
        for name in self.transforms:
            shift, scale = _fit_one(name, x)
            self.params.append((shift, scale))
            x = _apply_one(name, x, shift, scale)
        return np.where(missing, 0.0, x).astype(np.float32), missing

    def transform(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(float32 values, bool missing mask)``; missing values are 0."""
        if self.params is None:
            raise RuntimeError("NumericalEncoder.fit must be called before use")
        x = np.asarray(values, dtype=np.float64)
        missing = np.isnan(x)
        for name, (shift, scale) in zip(self.transforms, self.params, strict=True):
            x = _apply_one(name, x, shift, scale)
        return np.where(missing, 0.0, x).astype(np.float32), missing

    def to_json(self) -> dict[str, Any]:
        """The field and each transform's fitted (shift, scale) as JSON-ready data."""
        if self.params is None:
            raise RuntimeError("NumericalEncoder.fit must be called before use")
        return {
            "field": self.field.model_dump(mode="json"),
            "params": [[shift, scale] for shift, scale in self.params],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NumericalEncoder:
        """The encoder :meth:`to_json` saved, fitted."""
        encoder = cls(NumericalField.model_validate(data["field"]))
        params = [(float(shift), float(scale)) for shift, scale in data["params"]]
        if len(params) != len(encoder.transforms):
            raise ValueError(
                f"{len(params)} fitted transform(s) for {len(encoder.transforms)} transform(s)"
            )
        encoder.params = params
        return encoder


FieldEncoder = Union[CategoricalEncoder, NumericalEncoder]


class FittedEncoders:
    """Every field's fitted encoder, in field order: turns raw rows into model inputs.

    Training encodes its rows with :meth:`encode`, and so does an exported model on new
    rows, so both see the same ids and the same transformed values.

    Args:
        encoders: one fitted encoder per field, in the order models use.
    """

    def __init__(self, encoders: list[FieldEncoder]) -> None:
        self.encoders = list(encoders)

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, fields: list[Any], train: np.ndarray, source: str
    ) -> FittedEncoders:
        """Fit each field's encoder on the ``train`` rows of ``frame``.

        Raises:
            DataError: a numerical field with values that are not numbers.
        """
        encoders: list[FieldEncoder] = []
        for field in fields:
            values = frame[field.name].iloc[train]
            if isinstance(field, CategoricalField):
                encoders.append(CategoricalEncoder(field).fit(values))
            else:
                raw = numeric_values(values, source, field.name)
                encoders.append(NumericalEncoder(field).fit(raw))
        return cls(encoders)

    @property
    def names(self) -> list[str]:
        return [e.field.name for e in self.encoders]

    def encode(
        self, frame: pd.DataFrame, source: str, *, align: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(cat, num, num_missing)`` columns of ``frame``, in field order.

        Args:
            frame: a column for each field (other columns are ignored).
            source: what the rows are, for error messages.
            align: cast categorical values to their vocabulary's kind first (new files).

        Raises:
            DataError: a numerical field with values that are not numbers.
        """
        cat: list[np.ndarray] = []
        num: list[np.ndarray] = []
        missing: list[np.ndarray] = []
        for encoder in self.encoders:
            values = frame[encoder.field.name]
            if isinstance(encoder, CategoricalEncoder):
                cat.append(encoder.transform(encoder.align(values) if align else values))
            else:
                encoded, absent = encoder.transform(
                    numeric_values(values, source, encoder.field.name)
                )
                num.append(encoded)
                missing.append(absent)
        n = len(frame)
        return _stack(cat, n, np.int64), _stack(num, n, np.float32), _stack(missing, n, np.bool_)

    def to_json(self) -> list[dict[str, Any]]:
        """One entry per field: its kind, spec and fitted state."""
        return [
            {"kind": "categorical" if isinstance(e, CategoricalEncoder) else "numerical"}
            | e.to_json()
            for e in self.encoders
        ]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> FittedEncoders:
        """The encoders :meth:`to_json` saved.

        Raises:
            KeyError, ValueError, TypeError: for data :meth:`to_json` did not write.
        """
        kinds = {"categorical": CategoricalEncoder, "numerical": NumericalEncoder}
        encoders: list[FieldEncoder] = []
        for entry in data:
            kind = entry["kind"]
            if kind not in kinds:
                raise ValueError(f"unknown encoder kind {kind!r}")
            encoders.append(kinds[kind].from_json(entry))
        return cls(encoders)


def _stack(columns: list[np.ndarray], n: int, dtype: type) -> np.ndarray:
    """``(n, len(columns))``, C-ordered so that a batch of rows is contiguous."""
    if not columns:
        return np.zeros((n, 0), dtype=dtype)
    return np.ascontiguousarray(np.stack(columns, axis=1), dtype=dtype)


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
