"""The on-disk cache of encoded data: one ``.npz`` (arrays) and one ``.json`` (schema)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from searchengine.data.schema import DataSchema, EncodedData, FieldInfo
from searchengine.searchspace.spec import DataSpec

_log = logging.getLogger(__name__)

#: Bump when the encoding or the cache layout changes: old entries are then ignored.
FORMAT_VERSION = 2  # 2: numerical fields keep their train quantiles
_ARRAYS = ("cat", "num", "num_missing", "label")


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


def cache_paths(cache_dir: Path, dataset: str, key: str) -> tuple[Path, Path]:
    """The ``.npz`` and ``.json`` files of one cache entry."""
    stem = f"data-{_safe(dataset)}-{key}"
    return cache_dir / f"{stem}.npz", cache_dir / f"{stem}.json"


def save(data: EncodedData, cache_dir: Path, dataset: str, key: str) -> None:
    """Write ``data`` to the cache; a failure is logged, never raised."""
    npz_path, json_path = cache_paths(cache_dir, dataset, key)
    arrays = {name: getattr(data, name) for name in _ARRAYS}
    arrays.update({f"split_{name}": rows for name, rows in data.splits.items()})
    arrays.update(
        {f"counts_{i}": f.counts for i, f in enumerate(data.schema.fields) if f.counts is not None}
    )
    arrays.update(
        {
            f"quantiles_{i}": f.quantiles
            for i, f in enumerate(data.schema.fields)
            if f.quantiles is not None
        }
    )
    info = {
        "format": FORMAT_VERSION,
        "fields": [
            {"name": f.name, "kind": f.kind, "column": f.column, "vocab_size": f.vocab_size}
            for f in data.schema.fields
        ],
        "splits": list(data.splits),
        "metadata": data.metadata,
    }
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(npz_path, lambda fh: np.savez(fh, **arrays))
        _atomic_write(json_path, lambda fh: fh.write(json.dumps(info, default=repr).encode()))
    except OSError as exc:
        _log.warning("could not write the data cache in %s: %s", cache_dir, exc)
        return
    _log.info("cached the encoded data in %s", npz_path)


def load(cache_dir: Path, dataset: str, key: str) -> EncodedData | None:
    """The cached entry, or None when there is none or it cannot be read."""
    npz_path, json_path = cache_paths(cache_dir, dataset, key)
    if not (npz_path.exists() and json_path.exists()):
        return None
    try:
        info = json.loads(json_path.read_text())
        if info.get("format") != FORMAT_VERSION:
            return None
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        fields = tuple(
            FieldInfo(
                counts=arrays.get(f"counts_{i}"), quantiles=arrays.get(f"quantiles_{i}"), **field
            )
            for i, field in enumerate(info["fields"])
        )
        return EncodedData(
            schema=DataSchema(fields),
            **{name: arrays[name] for name in _ARRAYS},
            splits={name: arrays[f"split_{name}"] for name in info["splits"]},
            metadata=info["metadata"],
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _log.warning("ignoring an unreadable data cache entry %s: %s", npz_path, exc)
        return None


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
