"""The on-disk cache of encoded data: one folder per entry, its arrays memory-mapped.

An entry is a folder ``data-<dataset>-<key>/`` holding one ``.npy`` per array
(``cat``, ``num``, ``num_missing``, ``label``, ``split_<name>``), the fitted encoders
(``encoders.json``, with the categorical vocabularies and train counts in
``vocabularies.arrow``, compact at millions of ids) and ``info.json``. It is built in a
scratch folder beside it and renamed into place when whole, under a lock file: workers
on one machine (or sharing ``$SEARCHENGINE_CACHE``) encode once, the others wait and map
the result, and an ingest killed halfway leaves only a scratch folder, which no reader
trusts and the next writer removes.

Arrays are opened as copy-on-write memory maps: their pages belong to the page cache,
are shared by every process that maps the entry and cost no anonymous memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from searchengine.data._encoders import CategoricalEncoder, FittedEncoders
from searchengine.data.schema import DataSchema, EncodedData, FieldInfo
from searchengine.spec.format import DataSpec

__all__ = [
    "ENCODERS_FILE",
    "FORMAT_VERSION",
    "VOCABULARIES_FILE",
    "cache_key",
    "default_cache_dir",
    "entry_folder",
    "load",
    "locked",
    "read_encoders",
    "scratch_folder",
    "write_encoders",
    "write_entry",
]

_log = logging.getLogger(__name__)

#: Bump when the encoding or the cache layout changes: old entries are then ignored.
FORMAT_VERSION = 3  # 3: a folder of .npy files, int32 ids, the encoders inside
_ARRAYS = ("cat", "num", "num_missing", "label")
_INFO, _ENCODERS, _VOCABULARIES = "info.json", "encoders.json", "vocabularies.arrow"
ENCODERS_FILE, VOCABULARIES_FILE = _ENCODERS, _VOCABULARIES


def default_cache_dir() -> Path:
    """``$SEARCHENGINE_CACHE``, or ``~/.cache/searchengine``."""
    env = os.environ.get("SEARCHENGINE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "searchengine"


def cache_key(spec: DataSpec, fields: Sequence[Any], files: Sequence[Path]) -> str:
    """A hash of everything the encoded data depends on.

    Args:
        spec: the data spec (``cache`` itself excluded).
        fields: the declared fields (pydantic models), defaults applied.
        files: the files read; their resolved paths, sizes and modification times count.
    """
    stats = []
    for path in files:
        st = path.stat()
        stats.append([str(path.resolve()), st.st_size, st.st_mtime_ns])
    payload = {
        "format": FORMAT_VERSION,
        "spec": spec.model_dump(mode="json", exclude={"cache", "fields"}),
        "fields": [f.model_dump(mode="json") for f in fields],
        "files": stats,
    }
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def entry_folder(cache_dir: Path, dataset: str, key: str) -> Path:
    """The folder of one cache entry."""
    return cache_dir / f"data-{_safe(dataset)}-{key}"


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the entry's lock file (``<folder>.lock``) exclusively: one writer at a time.

    The lock is released by the kernel when its holder dies, so a killed ingest never
    blocks the next one. Where the cache folder cannot be written, nothing is locked.
    """
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        handle = open(folder.with_name(folder.name + ".lock"), "a+b")  # noqa: SIM115
    except OSError as exc:
        _log.warning("cannot lock the data cache in %s: %s", folder.parent, exc)
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def scratch_folder(folder: Path) -> Iterator[Path]:
    """A new folder beside ``folder`` to build an entry in; removed unless renamed.

    Scratch folders that dead writers left behind are removed first (call it holding
    :func:`locked`, so that no live writer owns them).
    """
    for stale in folder.parent.glob(folder.name + ".scratch-*"):
        shutil.rmtree(stale, ignore_errors=True)
    scratch = folder.with_name(f"{folder.name}.scratch-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    scratch.mkdir(parents=True)
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_entry(
    scratch: Path,
    folder: Path,
    *,
    arrays: dict[str, np.ndarray],
    schema: DataSchema,
    encoders: FittedEncoders,
    splits: Sequence[str],
    metadata: dict[str, Any],
) -> None:
    """Complete the entry built in ``scratch`` and rename it to ``folder``.

    ``arrays`` not yet saved as ``<name>.npy`` in ``scratch`` are saved first.
    """
    for name, values in arrays.items():
        path = scratch / f"{name}.npy"
        if not path.exists():
            np.save(path, np.ascontiguousarray(values), allow_pickle=False)
    write_encoders(scratch, encoders, schema)
    info = {
        "format": FORMAT_VERSION,
        "fields": [
            {"name": f.name, "kind": f.kind, "column": f.column, "vocab_size": f.vocab_size}
            for f in schema.fields
        ],
        "quantiles": [
            None if f.quantiles is None else f.quantiles.tolist() for f in schema.fields
        ],
        "splits": list(splits),
        "metadata": metadata,
    }
    (scratch / _INFO).write_text(json.dumps(info, default=repr))
    for path in scratch.iterdir():  # on disk before the rename makes the entry visible
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    if folder.exists():  # an unreadable entry, replaced under the lock
        shutil.rmtree(folder)
    os.rename(scratch, folder)
    _log.info("cached the encoded data in %s", folder)


def load(folder: Path) -> EncodedData | None:
    """The entry in ``folder``, its arrays memory-mapped; None when there is none or it
    cannot be read."""
    if not (folder / _INFO).is_file():
        return None
    try:
        info = json.loads((folder / _INFO).read_text())
        if info.get("format") != FORMAT_VERSION:
            return None
        encoders, counts = read_encoders(folder)
        fields = tuple(
            FieldInfo(
                counts=counts.get(field["name"]),
                quantiles=None if q is None else np.asarray(q, dtype=np.float64),
                **field,
            )
            for field, q in zip(info["fields"], info["quantiles"], strict=True)
        )
        return EncodedData(
            schema=DataSchema(fields),
            **{name: _map(folder / f"{name}.npy") for name in _ARRAYS},
            splits={name: _map(folder / f"split_{name}.npy") for name in info["splits"]},
            metadata=info["metadata"],
            encoders=encoders,
        )
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        _log.warning("ignoring an unreadable data cache entry %s: %s", folder, exc)
        return None


def _map(path: Path) -> np.ndarray:
    """A copy-on-write map of an ``.npy`` file (writable, never written back)."""
    return np.load(path, mmap_mode="c", allow_pickle=False)


def write_encoders(
    folder: Path,
    encoders: FittedEncoders,
    schema: DataSchema,
    extra: dict[str, Any] | None = None,
) -> None:
    """``encoders.json`` (fields, numerical transforms, and ``extra``) and ``vocabularies.arrow``
    (each categorical field's vocabulary in id order and its train counts)."""
    entries = []
    columns: dict[str, pa.Array] = {}
    counts = {f.name: f.counts for f in schema.fields if f.counts is not None}
    for encoder in encoders.encoders:
        if isinstance(encoder, CategoricalEncoder):
            name = encoder.field.name
            try:
                values = encoder.vocabulary_array()
                columns[f"vocabulary:{name}"] = pa.ListArray.from_arrays([0, len(values)], values)
                entry = encoder.to_json(with_vocabulary=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # values of mixed kinds: as JSON
                entry = encoder.to_json()
            if name in counts:
                values = pa.array(np.asarray(counts[name], np.int64))
                columns[f"counts:{name}"] = pa.ListArray.from_arrays([0, len(values)], values)
            entries.append({"kind": "categorical", **entry})
        else:
            entries.append({"kind": "numerical", **encoder.to_json()})
    (folder / _ENCODERS).write_text(json.dumps({**(extra or {}), "encoders": entries}) + "\n")
    table = pa.table(columns) if columns else pa.table({"none": pa.array([0])})
    with pa.OSFile(str(folder / _VOCABULARIES), "wb") as sink:
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)


def read_encoders(folder: Path) -> tuple[FittedEncoders, dict[str, np.ndarray]]:
    """The encoders :func:`write_encoders` wrote, and the train counts by field.

    Raises:
        OSError, ValueError, KeyError, TypeError, pyarrow.ArrowException: files that
            :func:`write_encoders` did not write.
    """
    entries = json.loads((folder / _ENCODERS).read_text())["encoders"]
    with pa.memory_map(str(folder / _VOCABULARIES)) as source:
        table = pa.ipc.open_file(source).read_all()
    counts: dict[str, np.ndarray] = {}
    for entry in entries:
        if entry["kind"] != "categorical":
            continue
        name = entry["field"]["name"]
        if f"vocabulary:{name}" in table.column_names:
            entry["vocabulary"] = table.column(f"vocabulary:{name}")[0].values
        if f"counts:{name}" in table.column_names:
            counts[name] = table.column(f"counts:{name}")[0].values.to_numpy().astype(np.int64)
    return FittedEncoders.from_json(entries), counts


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
