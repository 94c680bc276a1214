"""Streamed ingest: raw batches in, memory-mapped encoded columns out.

One pass over the file turns each batch into fixed-width numbers appended to scratch
files in the entry's folder: every categorical value becomes the code of its first
appearance (a dictionary per field, of distinct values only), every numerical value a
float64 (NaN where missing), the label 0/1. Then, on those files alone:

1. the rows are split (the split needs their count, or the ``split.by`` column);
2. each categorical field's codes are counted on the train rows, its vocabulary built as
   :class:`~searchengine.data._encoders.CategoricalEncoder` builds it (the same ids) and
   the codes rewritten as ids into ``cat.npy``, an ``(N, C)`` int32 array;
3. each numerical field's transforms are fitted on its train values and applied into
   ``num.npy`` / ``num_missing.npy``.

The text of the file is never held: what stays in memory is the distinct values of each
field and, for one field at a time, what is needed to fit it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from searchengine.data._dataset import FieldSpec
from searchengine.data._encoders import (
    CategoricalEncoder,
    FittedEncoders,
    NumericalEncoder,
    vocabulary_order,
)
from searchengine.data._readers import label_values, not_numbers, numeric_values, show_values
from searchengine.data._split import split_rows
from searchengine.data._stream import Batch
from searchengine.data.schema import DataSchema, FieldInfo, train_quantiles
from searchengine.errors import DataError
from searchengine.spec.format import CategoricalField, SplitSpec

__all__ = ["ingest"]

_log = logging.getLogger(__name__)
#: Rows rewritten at once in the second pass (bounded memory, whatever the file's size).
_CHUNK = 1 << 21


class _Codes:
    """Distinct values of one column, coded in order of first appearance.

    Each batch is dictionary-encoded on its own (:meth:`add` returns the batch's local
    codes) and its dictionary spilled to an Arrow file; :meth:`unify` then merges every
    batch's dictionary in one pass (pyarrow's dictionary unifier), giving the distinct
    values and, per batch, the map from local to global codes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pa.ipc.RecordBatchStreamWriter | None = None
        self.sink: pa.NativeFile | None = None
        self.schema: pa.Schema | None = None

    def add(self, values: pa.Array) -> np.ndarray:
        """The batch's local int32 codes; -1 where missing."""
        if not pa.types.is_dictionary(values.type):
            values = pc.dictionary_encode(values)
        dictionary = pa.record_batch([values.dictionary], names=["value"])
        if self.writer is None:
            self.sink = pa.OSFile(str(self.path), "wb")
            self.schema = dictionary.schema
            self.writer = pa.ipc.new_stream(self.sink, dictionary.schema)
        elif dictionary.schema != self.schema:  # e.g. ints in one batch, text in another
            assert self.schema is not None
            dictionary = dictionary.cast(self.schema)
        self.writer.write_batch(dictionary)
        local = pc.fill_null(values.indices, -1).to_numpy(zero_copy_only=False)
        return local.astype(np.int32, copy=False)

    def unify(self) -> tuple[pd.Index, list[np.ndarray]]:
        """The distinct values in order of first appearance, and each batch's map from its
        local codes to theirs."""
        if self.writer is None:
            return pd.Index([]), []
        self.writer.close()
        assert self.sink is not None
        self.sink.close()
        with pa.memory_map(str(self.path)) as source:
            batches = pa.ipc.open_stream(source).read_all().column("value").chunks
            chunks = [
                pa.DictionaryArray.from_arrays(pa.array(np.arange(len(d), dtype=np.int32)), d)
                for d in batches
            ]
            unified = pa.chunked_array(chunks, type=chunks[0].type).unify_dictionaries()
            maps = [
                c.indices.to_numpy(zero_copy_only=False).astype(np.int32) for c in unified.chunks
            ]
            values = unified.chunk(0).dictionary if unified.num_chunks else pa.array([])
            distinct = pd.Index(values.to_numpy(zero_copy_only=False))
        self.path.unlink(missing_ok=True)
        return distinct, maps


class _Scratch:
    """Append-only binary files of one dtype each, read back as memory maps."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.handles: dict[str, Any] = {}
        self.dtypes: dict[str, np.dtype] = {}

    def append(self, name: str, values: np.ndarray) -> None:
        if name not in self.handles:
            self.handles[name] = open(self.folder / f"{name}.bin", "wb")  # noqa: SIM115
            self.dtypes[name] = values.dtype
        self.handles[name].write(memoryview(np.ascontiguousarray(values)).cast("B"))

    def read(self, name: str, n: int, *, writable: bool = False) -> np.ndarray:
        if n == 0 or name not in self.handles:
            return np.zeros(0, dtype=self.dtypes.get(name, np.float64))
        self.handles[name].flush()
        path = self.folder / f"{name}.bin"
        mode = "r+" if writable else "r"
        return np.memmap(path, dtype=self.dtypes[name], mode=mode, shape=(n,))

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()
        for name in self.handles:
            (self.folder / f"{name}.bin").unlink(missing_ok=True)


def ingest(
    batches: Iterable[Batch],
    fields: list[FieldSpec],
    split: SplitSpec,
    folder: Path,
    *,
    label_column: str = "label",
) -> tuple[dict[str, np.ndarray], DataSchema, FittedEncoders, dict[str, Any]]:
    """Encode streamed rows into ``.npy`` files in ``folder``.

    Args:
        batches: the raw rows; each batch has a column per field, ``"label"`` and, with
            ``split.by``, that column.
        fields: the fields, in model order.
        split: how rows are split.
        folder: where ``cat.npy``, ``num.npy``, ``num_missing.npy``, ``label.npy`` and
            ``split_<name>.npy`` are written (scratch files there are removed).
        label_column: the label's name in the file, for error messages.

    Returns:
        The arrays (memory-mapped, read-only), the schema, the fitted encoders and facts
        for the metadata (``rows``, ``positive_rate``, ``split_rows``).

    Raises:
        DataError: naming the file, line and column of a label that is not 0/1 or a
            numerical value that is not a number; a split that would be empty.
    """
    start = time.perf_counter()
    categorical = [f for f in fields if isinstance(f, CategoricalField)]
    numerical = [f for f in fields if not isinstance(f, CategoricalField)]
    codes = {f.name: _Codes(folder / f"dict-{i}.arrow") for i, f in enumerate(categorical)}
    by_codes = _Codes(folder / "dict-by.arrow")
    scratch = _Scratch(folder)
    n = positives = 0
    sizes: list[int] = []  # rows of each batch
    where = None
    try:
        for batch in batches:
            rows = batch.rows
            where = where or str(batch.path)
            labels = _labels(batch, label_column)
            positives += int(labels.sum(dtype=np.int64))
            scratch.append("label", labels)
            for f in categorical:
                scratch.append(f"cat-{f.name}", codes[f.name].add(rows.column(f.name)))
            for f in numerical:
                scratch.append(f"num-{f.name}", _numbers(batch, f.name))
            if split.by is not None:
                scratch.append("by", by_codes.add(rows.column(split.by)))
            n += rows.num_rows
            sizes.append(rows.num_rows)
        seconds = {"read": time.perf_counter() - start}
        source = where or "the data"
        order = None
        if split.by is not None:
            order = _order(scratch.read("by", n, writable=True), by_codes, sizes)
        splits = split_rows(n, split, order, source)
        seconds["split"] = time.perf_counter() - start - sum(seconds.values())
        train = np.zeros(n, dtype=bool)
        train[splits["train"]] = True
        arrays: dict[str, np.ndarray] = {}
        arrays["label"] = _write(folder / "label.npy", scratch.read("label", n), np.float32)

        one_at_a_time = threading.Lock()

        def fit(f: FieldSpec) -> tuple[Any, FieldInfo, Any]:
            column = columns[f.name]
            if isinstance(f, CategoricalField):
                coded = scratch.read(f"cat-{f.name}", n)
                encoder, counts, ids = _fit_categorical(f, codes[f.name], coded, train, sizes)
                info = FieldInfo(f.name, "categorical", column, encoder.vocab_size, counts)
                return encoder, info, ids
            raw = scratch.read(f"num-{f.name}", n)
            with one_at_a_time:  # its train values, transformed: a few copies of a column
                encoder, quantiles = _fit_numerical(f, raw, train)
            return encoder, FieldInfo(f.name, "numerical", column, quantiles=quantiles), None

        columns = {f.name: i for i, f in enumerate(categorical)}
        columns.update({f.name: i for i, f in enumerate(numerical)})
        with ThreadPoolExecutor(max_workers=_threads()) as pool:  # numpy lets go of the GIL
            fitted = list(pool.map(fit, fields))
            seconds["fit"] = time.perf_counter() - start - sum(seconds.values())
            encoders = [e for e, _, _ in fitted]
            infos = [info for _, info, _ in fitted]
            ids = {f.name: i for f, (_, _, i) in zip(fields, fitted, strict=True) if i is not None}
            cat = np.lib.format.open_memmap(
                folder / "cat.npy", mode="w+", dtype=np.int32, shape=(n, len(categorical))
            )
            num = np.lib.format.open_memmap(
                folder / "num.npy", mode="w+", dtype=np.float32, shape=(n, len(numerical))
            )
            missing = np.lib.format.open_memmap(
                folder / "num_missing.npy", mode="w+", dtype=np.bool_, shape=(n, len(numerical))
            )
            cat_in = [(scratch.read(f"cat-{f.name}", n), ids[f.name]) for f in categorical]
            num_in = [
                (scratch.read(f"num-{f.name}", n), encoders[fields.index(f)]) for f in numerical
            ]
            starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

            def write(b: int) -> None:
                lo, hi = int(starts[b]), int(starts[b + 1])
                _write_rows(lo, hi, b, cat_in, num_in, cat, num, missing)

            list(pool.map(write, range(len(sizes))))
            seconds["write"] = time.perf_counter() - start - sum(seconds.values())
        arrays.update({"cat": cat, "num": num, "num_missing": missing})
        for name, rows_of in splits.items():
            arrays[f"split_{name}"] = _write(folder / f"split_{name}.npy", rows_of)
    finally:
        scratch.close()
    facts = {
        "rows": n,
        "positive_rate": positives / n if n else 0.0,
        "split_rows": {name: len(rows_of) for name, rows_of in splits.items()},
        "ingest_seconds": {**seconds, "total": time.perf_counter() - start},
    }
    _log.info(
        "ingested %d rows, %d fields in %.1fs (%s)",
        n,
        len(fields),
        facts["ingest_seconds"]["total"],
        ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items()),
    )
    return arrays, DataSchema(tuple(infos)), FittedEncoders(encoders), facts


def _write(path: Path, values: np.ndarray, dtype: Any = None) -> np.ndarray:
    """``values`` (as ``dtype``) into a new ``.npy`` file, a chunk at a time."""
    dtype = values.dtype if dtype is None else dtype
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=values.shape)
    for start in range(0, len(values), _CHUNK):
        out[start : start + _CHUNK] = values[start : start + _CHUNK]
    return out  # on disk before the entry is renamed into place (its files are fsynced)


def _labels(batch: Batch, column: str) -> np.ndarray:
    """0/1 int8 labels of a batch, or an error naming the first bad one's line."""
    values = batch.rows.column("label")
    labels, bad = label_values(values)
    if bad is not None:
        raise DataError(
            f"{batch.where(bad, column)}: the label must be binary (0/1, true/false or "
            f"yes/no), got {values[bad].as_py()!r}"
        )
    return labels


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def _floats(values: pa.Array) -> np.ndarray:
    if pa.types.is_boolean(values.type):
        values = values.cast(pa.int8())
    out = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return np.where(np.isfinite(out), out, np.nan)


def _numbers(batch: Batch, name: str) -> np.ndarray:
    """Float64 values of a numerical column, NaN where missing."""
    values = batch.rows.column(name)
    if _is_number(values.type) or pa.types.is_null(values.type):
        return _floats(values)
    series = values.to_pandas()
    bad = not_numbers(series)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{batch.where(first, name)}: the field is declared numerical but "
            f"{show_values([series.iloc[first]])} is not a number ({int(bad.sum())} value(s) "
            "in these rows are not); declare it `type: categorical` or clean the column"
        )
    return numeric_values(series, str(batch.path), name)


def _order(coded: np.ndarray, codes: _Codes, sizes: list[int]) -> pd.Series:
    """The ``split.by`` column as sortable numbers: its values where they are all
    numbers (or read as text but all numbers), else each text's rank; NaN where missing."""
    distinct = _globalize(coded, codes, sizes)
    if pd.api.types.is_numeric_dtype(distinct.dtype):
        key = distinct.to_numpy(dtype=np.float64)
    else:
        numbers = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce")
        if numbers.notna().all():
            key = numbers.to_numpy(dtype=np.float64)
        else:
            text = np.asarray(distinct.astype(str))
            key = np.argsort(np.argsort(text, kind="stable"), kind="stable").astype(np.float64)
    key = np.append(key, np.nan)  # code -1: missing
    return pd.Series(key[np.asarray(coded)])


def _globalize(coded: np.ndarray, codes: _Codes, sizes: list[int]) -> pd.Index:
    """Rewrite each batch's local codes in ``coded`` as global codes; the distinct values."""
    distinct, maps = codes.unify()
    start = 0
    for size, local_to_global in zip(sizes, maps, strict=True):
        local_to_global = np.append(local_to_global, -1)  # -1: missing stays missing
        for s in range(start, start + size, _CHUNK):
            end = min(s + _CHUNK, start + size)
            coded[s:end] = local_to_global[coded[s:end]]
        start += size
    return distinct


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _fit_categorical(
    field: CategoricalField,
    codes: _Codes,
    coded: np.ndarray,
    train: np.ndarray,
    sizes: list[int],
) -> tuple[CategoricalEncoder, np.ndarray, list[np.ndarray]]:
    """Fit the field's vocabulary on the train rows.

    Returns:
        The encoder, the train count of each id, and for each batch the map from its
        local codes (shifted by one: 0 is missing) to ids.
    """
    distinct, maps = codes.unify()
    counts = np.zeros(len(distinct), dtype=np.int64)
    missing_train = 0
    start = 0
    for size, local_to_global in zip(sizes, maps, strict=True):
        local = coded[start : start + size]
        local = local[train[start : start + size]]
        local_counts = np.bincount(local + 1, minlength=len(local_to_global) + 1)
        missing_train += int(local_counts[0])
        counts[local_to_global] += local_counts[1:]  # one batch's codes are distinct
        start += size
    kept = np.flatnonzero(counts >= field.min_count)
    order = vocabulary_order(distinct[kept], counts[kept])
    encoder = CategoricalEncoder(field)
    encoder.vocabulary = distinct[kept[order]]
    to_id = np.zeros(len(distinct), dtype=np.int32)
    to_id[kept[order]] = encoder.ids_of_vocabulary()
    id_counts = np.bincount(to_id, weights=counts, minlength=encoder.vocab_size)
    id_counts[0] += missing_train
    ids = [np.concatenate([[0], to_id[m]]).astype(np.int32) for m in maps]
    return encoder, id_counts.astype(np.int64), ids


def _fit_numerical(
    field: Any, raw: np.ndarray, train: np.ndarray
) -> tuple[NumericalEncoder, np.ndarray | None]:
    """Fit the field's transforms on its train values; their quantiles once transformed."""
    values = np.concatenate(
        [raw[s : s + _CHUNK][train[s : s + _CHUNK]] for s in range(0, len(raw), _CHUNK)]
        or [np.zeros(0)]
    )
    encoder = NumericalEncoder(field)
    encoded, absent = encoder.fit_transform(values)
    return encoder, train_quantiles(encoded, absent)


def _write_rows(
    lo: int,
    hi: int,
    b: int,
    cat_in: list[tuple[np.ndarray, list[np.ndarray]]],
    num_in: list[tuple[np.ndarray, NumericalEncoder]],
    cat: np.ndarray,
    num: np.ndarray,
    missing: np.ndarray,
) -> None:
    """Rows ``lo:hi`` (batch ``b``) of every field, written as whole rows."""
    if cat_in:
        block = np.empty((hi - lo, len(cat_in)), dtype=np.int32)
        for j, (coded, ids) in enumerate(cat_in):
            block[:, j] = ids[b][coded[lo:hi] + 1]
        cat[lo:hi] = block
    if num_in:
        values = np.empty((hi - lo, len(num_in)), dtype=np.float32)
        absent = np.empty((hi - lo, len(num_in)), dtype=np.bool_)
        for j, (raw, encoder) in enumerate(num_in):
            values[:, j], absent[:, j] = encoder.transform(raw[lo:hi])
        num[lo:hi] = values
        missing[lo:hi] = absent
