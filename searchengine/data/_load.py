"""``declared_fields`` and ``load_data``: a spec's data, read, split, encoded and cached."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from searchengine.data import _cache
from searchengine.data._dataset import DATASETS, Dataset, FieldSpec
from searchengine.data._encoders import CategoricalEncoder, FittedEncoders
from searchengine.data._ingest import ingest
from searchengine.data._readers import binary_label, check_columns
from searchengine.data._split import split_rows
from searchengine.data.schema import DataSchema, EncodedData, FieldInfo, train_quantiles
from searchengine.errors import DataError
from searchengine.spec.format import DataSpec

__all__ = ["check_data", "declared_fields", "fit_encoders", "load_data", "schema_of"]

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


def check_data(spec: DataSpec) -> None:
    """Check a spec's data without reading its rows: the fields, the files, and for files
    with a header (or a fixed width) their columns.

    Raises:
        UnknownNameError: for an unknown dataset name.
        DataError: a missing file or column, naming the path.
    """
    dataset = _make_dataset(spec)
    _checked_fields(dataset)
    dataset.check()


def load_data(spec: DataSpec, cache_dir: str | os.PathLike[str] | None = None) -> EncodedData:
    """Read, split and encode a spec's data; cached in memory and on disk.

    The rows are split first, the encoders are fitted on the train split only, and then
    every row is encoded. Click logs and tables (datasets that stream) are read in
    blocks and encoded straight into the cache's files, so no file is ever held whole;
    the small built-in datasets are read whole. The result is cached on disk (see
    :mod:`searchengine.data._cache`) under a key made of the dataset, its files' paths,
    sizes and modification times, the fields and their encodings, the split, ``rows``,
    ``options`` and a format version, and its arrays are memory maps of the cache's
    files; in memory, an equal spec in the same process returns the same object. With
    ``spec.cache`` False the files are written to a temporary folder, mapped, and
    removed (the maps stay valid). Treat the result as read-only.

    Args:
        spec: the spec's ``data:`` section.
        cache_dir: the on-disk cache folder; default ``$SEARCHENGINE_CACHE`` or
            ``~/.cache/searchengine``.

    Returns:
        The encoded data.

    Raises:
        UnknownNameError: for an unknown dataset name.
        DataError: for a missing file or column, a label that is not binary, a numerical
            field with values that are not numbers, or an empty split; naming the file,
            and for streamed files the line and the column. Nothing is cached then.
    """
    dataset = _make_dataset(spec)
    fields = _checked_fields(dataset)
    files = dataset.files()
    key = _cache.cache_key(spec, fields, files)
    root = Path(cache_dir).expanduser() if cache_dir is not None else _cache.default_cache_dir()
    folder = _cache.entry_folder(root, spec.dataset, key)
    with _lock:
        if key in _memo:
            _memo.move_to_end(key)
            return _memo[key]
        data = _cached(dataset, fields, files, key, folder) if spec.cache else None
        if data is None:
            data = _uncached(dataset, fields, files, key)
        _memo[key] = data
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
        return data


def _cached(
    dataset: Dataset, fields: list[FieldSpec], files: list[Path], key: str, folder: Path
) -> EncodedData | None:
    """The cache entry, built under its lock when missing; None where the cache folder
    cannot be written."""
    data = _cache.load(folder)
    if data is not None:
        _log.info("loaded %s from the data cache in %s", dataset.spec.dataset, folder)
        return data
    try:
        with _cache.locked(folder):
            data = _cache.load(folder)  # another process may have built it meanwhile
            if data is None:
                with _cache.scratch_folder(folder) as scratch:
                    _build(dataset, fields, files, key, scratch, folder)
                data = _cache.load(folder)
    except OSError as exc:
        _log.warning("could not write the data cache in %s: %s", folder.parent, exc)
        return None
    return data


def _uncached(
    dataset: Dataset, fields: list[FieldSpec], files: list[Path], key: str
) -> EncodedData:
    """Build into a temporary folder, map it and remove the folder (the maps stay)."""
    with tempfile.TemporaryDirectory(prefix="searchengine-data-") as tmp:
        folder = Path(tmp) / "entry"
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        _build(dataset, fields, files, key, scratch, folder)
        data = _cache.load(folder)
    if data is None:  # pragma: no cover - the folder was just written
        raise DataError(f"could not read back the encoded {dataset.spec.dataset!r} data")
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


def fit_encoders(spec: DataSpec) -> FittedEncoders:
    """The encoders :func:`load_data` fitted for ``spec`` (kept with the encoded data).

    Raises:
        UnknownNameError, DataError: as :func:`load_data`.
    """
    return load_data(spec).encoders


def _read_split(
    dataset: Dataset, fields: list[FieldSpec], where: str
) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """The raw rows (at most ``rows``), their 0/1 labels and the split's row indices."""
    spec = dataset.spec
    frame = dataset.read()
    if spec.rows is not None and len(frame) > spec.rows:
        frame = frame.iloc[: spec.rows]
    by = spec.split.by
    check_columns(list(frame.columns), [f.name for f in fields] + ["label"], where)
    if by is not None:
        check_columns(list(frame.columns), [by], where)
    label = binary_label(frame["label"], where, "label").astype(np.float32)
    splits = split_rows(len(frame), spec.split, frame[by] if by else None, where)
    return frame, label, splits


def _build(
    dataset: Dataset,
    fields: list[FieldSpec],
    files: list[Path],
    key: str,
    scratch: Path,
    folder: Path,
) -> None:
    """Encode the dataset into ``scratch`` and complete the entry as ``folder``."""
    spec = dataset.spec
    source = _source(files)
    where = source if files else f"dataset {spec.dataset!r}"  # what error messages name
    start = time.perf_counter()
    if dataset.streams:
        arrays, schema, encoders, facts = ingest(
            dataset.batches(), fields, spec.split, scratch, label_column=dataset.label_column
        )
        n, splits = facts["rows"], [k[len("split_") :] for k in arrays if k.startswith("split_")]
        positive, split_rows_ = facts["positive_rate"], facts["split_rows"]
    else:
        frame, label, split = _read_split(dataset, fields, where)
        encoders = FittedEncoders.fit(frame, fields, split["train"], where)
        cat, num, missing = encoders.encode(frame, where)
        train = split["train"]
        schema = schema_of(encoders, cat[train], num[train], missing[train])
        arrays = {"cat": cat.astype(np.int32), "num": num, "num_missing": missing}
        arrays.update({"label": label, **{f"split_{k}": v for k, v in split.items()}})
        n, splits = len(frame), list(split)
        positive = float(label.mean()) if len(label) else 0.0
        split_rows_ = {name: len(rows) for name, rows in split.items()}
    metadata = {
        "dataset": spec.dataset,
        "rows": n,
        "source": source,
        "positive_rate": positive,
        "split_rows": split_rows_,
        "cache_key": key,
    }
    if dataset.streams:
        metadata["ingest_seconds"] = facts["ingest_seconds"]
    metadata.update({k: v for k, v in dataset.metadata().items() if k not in metadata})
    _cache.write_entry(
        scratch,
        folder,
        arrays=arrays,
        schema=schema,
        encoders=encoders,
        splits=splits,
        metadata=metadata,
    )
    _log.info(
        "encoded %s: %d rows, %d fields in %.1fs",
        spec.dataset,
        n,
        len(fields),
        time.perf_counter() - start,
    )


def schema_of(
    encoders: FittedEncoders,
    train_cat: np.ndarray,
    train_num: np.ndarray | None = None,
    train_missing: np.ndarray | None = None,
) -> DataSchema:
    """The schema of data encoded by ``encoders``.

    Args:
        encoders: the fitted encoders.
        train_cat: the train rows' ids.
        train_num: the train rows' transformed numerical values; with ``train_missing``
            (their missing mask) gives the numerical fields their quantiles (bucket
            boundaries are derived from them); without, the quantiles are None.
        train_missing: the train rows' missing mask.
    """
    infos: list[FieldInfo] = []
    n_cat = n_num = 0
    for encoder in encoders.encoders:
        name = encoder.field.name
        if isinstance(encoder, CategoricalEncoder):
            size = encoder.vocab_size
            counts = np.bincount(train_cat[:, n_cat], minlength=size).astype(np.int64)
            infos.append(FieldInfo(name, "categorical", n_cat, size, counts))
            n_cat += 1
        else:
            quantiles = (
                None
                if train_num is None or train_missing is None
                else train_quantiles(train_num[:, n_num], train_missing[:, n_num])
            )
            infos.append(FieldInfo(name, "numerical", n_num, quantiles=quantiles))
            n_num += 1
    return DataSchema(tuple(infos))
