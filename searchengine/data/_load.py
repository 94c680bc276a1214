"""``declared_fields`` and ``load_data``: a spec's data, read, split, encoded and cached."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from searchengine.data import _cache
from searchengine.data._dataset import DATASETS, Dataset, FieldSpec
from searchengine.data._encoders import CategoricalEncoder, NumericalEncoder
from searchengine.data._readers import binary_label, check_columns, numeric_values
from searchengine.data._split import split_rows
from searchengine.data.schema import DataSchema, EncodedData, FieldInfo
from searchengine.errors import DataError
from searchengine.searchspace.spec import CategoricalField, DataSpec

__all__ = ["declared_fields", "load_data"]

_log = logging.getLogger(__name__)
_FORBIDDEN = ",[]"
_MEMO_SIZE = 4
# Encoded data by cache key: trials in one process share one copy and never re-encode.
_memo: OrderedDict[str, EncodedData] = OrderedDict()
_lock = threading.RLock()


def declared_fields(spec: DataSpec) -> list[FieldSpec]:
    """The fields a spec's data declares, in order, without loading any rows.

    For a built-in dataset, ``spec.fields`` picks and re-configures its fields.

    Args:
        spec: the spec's ``data:`` section.

    Returns:
        The categorical and numerical field specs, in the order models use.

    Raises:
        UnknownNameError: for an unknown dataset name.
        DataError: for a field the dataset does not have, a missing ``fields`` or
            ``label`` of ``table``, or a field name that cannot be used.
    """
    return _checked_fields(_make_dataset(spec))


def load_data(spec: DataSpec, cache_dir: str | os.PathLike[str] | None = None) -> EncodedData:
    """Read, split and encode a spec's data; cached in memory and on disk.

    The rows are split first, the encoders are fitted on the train split only, and then
    every row is encoded. The result is cached on disk (``.npz`` + ``.json``, unless
    ``spec.cache`` is False) under a key made of the dataset, its files' paths, sizes and
    modification times, the fields and their encodings, the split, ``rows``, ``options``
    and a format version; and in memory, so an equal spec in the same process returns the
    same object. Treat the result as read-only.

    Args:
        spec: the spec's ``data:`` section.
        cache_dir: the on-disk cache folder; default ``$SEARCHENGINE_CACHE`` or
            ``~/.cache/searchengine``.

    Returns:
        The encoded data.

    Raises:
        UnknownNameError: for an unknown dataset name.
        DataError: for a missing file or column, a label that is not binary, a numerical
            field with values that are not numbers, or an empty split.
    """
    dataset = _make_dataset(spec)
    fields = _checked_fields(dataset)
    files = dataset.files()
    key = _cache.cache_key(spec, fields, files)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else _cache.default_cache_dir()
    with _lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]
        data = _cache.load(folder, spec.dataset, key) if spec.cache else None
        if data is None:
            data = _build(dataset, fields, files, key)
            if spec.cache:
                _cache.save(data, folder, spec.dataset, key)
        else:
            _log.info("loaded %s from the data cache in %s", spec.dataset, folder)
        _memo[key] = data
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
        return data


def _make_dataset(spec: DataSpec) -> Dataset:
    return DATASETS.get(spec.dataset)(spec)


def _checked_fields(dataset: Dataset) -> list[FieldSpec]:
    fields = dataset.declared_fields()
    seen: set[str] = set()
    for field in fields:
        name = field.name
        bad = sorted({c for c in name if c in _FORBIDDEN})
        if bad:
            raise DataError(
                f"field name {name!r} contains {' '.join(repr(c) for c in bad)}; field names "
                "must not contain ',', '[' or ']' (they appear in decision names like "
                "`model.interactions.gate[a,b]`): rename the column"
            )
        if name == "label":
            raise DataError(
                "a field cannot be named 'label' (the name is reserved for the label); "
                "rename the column"
            )
        if name in seen:
            raise DataError(f"field {name!r} is declared twice; declare each field once")
        seen.add(name)
    if not fields:
        raise DataError(f"dataset {dataset.spec.dataset!r} declares no fields")
    return fields


def _source(files: list[Path]) -> str:
    if not files:
        return "generated"
    if len(files) == 1:
        return str(files[0])
    return os.path.commonpath([str(f) for f in files])


def _build(dataset: Dataset, fields: list[FieldSpec], files: list[Path], key: str) -> EncodedData:
    spec = dataset.spec
    source = _source(files)
    where = source if files else f"dataset {spec.dataset!r}"  # what error messages name
    start = time.perf_counter()
    frame = dataset.read()
    if spec.rows is not None and len(frame) > spec.rows:
        frame = frame.iloc[: spec.rows]
    by = spec.split.by
    check_columns(list(frame.columns), [f.name for f in fields] + ["label"], where)
    if by is not None:
        check_columns(list(frame.columns), [by], where)
    label = binary_label(frame["label"], where, "label").astype(np.float32)
    splits = split_rows(len(frame), spec.split, frame[by] if by else None, where)
    schema, cat, num, missing = _encode(frame, fields, splits["train"], where)
    metadata = {
        "dataset": spec.dataset,
        "rows": len(frame),
        "source": source,
        "positive_rate": float(label.mean()) if len(label) else 0.0,
        "split_rows": {name: len(rows) for name, rows in splits.items()},
        "cache_key": key,
    }
    metadata.update({k: v for k, v in dataset.metadata().items() if k not in metadata})
    _log.info(
        "encoded %s: %d rows, %d fields in %.1fs",
        spec.dataset,
        len(frame),
        len(fields),
        time.perf_counter() - start,
    )
    return EncodedData(schema, cat, num, missing, label, splits, metadata)


def _encode(
    frame: pd.DataFrame, fields: list[FieldSpec], train: np.ndarray, source: str
) -> tuple[DataSchema, np.ndarray, np.ndarray, np.ndarray]:
    cat: list[np.ndarray] = []
    num: list[np.ndarray] = []
    missing: list[np.ndarray] = []
    infos: list[FieldInfo] = []
    for field in fields:
        values = frame[field.name]
        if isinstance(field, CategoricalField):
            encoder = CategoricalEncoder(field).fit(values.iloc[train])
            ids = encoder.transform(values)
            counts = np.bincount(ids[train], minlength=encoder.vocab_size).astype(np.int64)
            size = encoder.vocab_size
            infos.append(FieldInfo(field.name, "categorical", len(cat), size, counts))
            cat.append(ids)
        else:
            raw = numeric_values(values, source, field.name)
            encoded, absent = NumericalEncoder(field).fit(raw[train]).transform(raw)
            infos.append(FieldInfo(field.name, "numerical", len(num)))
            num.append(encoded)
            missing.append(absent)
    n = len(frame)
    return (
        DataSchema(tuple(infos)),
        _stack(cat, n, np.int64),
        _stack(num, n, np.float32),
        _stack(missing, n, np.bool_),
    )


def _stack(columns: list[np.ndarray], n: int, dtype: type) -> np.ndarray:
    """``(n, len(columns))``, C-ordered so that a batch of rows is contiguous."""
    if not columns:
        return np.zeros((n, 0), dtype=dtype)
    return np.ascontiguousarray(np.stack(columns, axis=1), dtype=dtype)
