"""``criteo`` and ``avazu``: the public click logs, streamed from ``data.path`` in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from searchengine.data._dataset import (
    DATASETS,
    BuiltinDataset,
    FieldSpec,
    hash_buckets_option,
    with_hash_buckets,
)
from searchengine.data._readers import (
    binary_label,
    check_columns,
    read_delimited,
    read_header,
    require_path,
    show_values,
)
from searchengine.data._stream import Batch, delimited_batches, text_header
from searchengine.errors import DataError
from searchengine.spec.format import CategoricalField, NumericalField

CRITEO_NUMERICAL = tuple(f"I{i}" for i in range(1, 14))
CRITEO_CATEGORICAL = tuple(f"C{i}" for i in range(1, 27))
AVAZU_CATEGORICAL = (
    "C1", "banner_pos", "site_id", "site_domain", "site_category", "app_id", "app_domain",
    "app_category", "device_id", "device_ip", "device_model", "device_type",
    "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
)  # fmt: skip


#: How text columns are parsed (dictionary-encoded per batch by the encoder).
_TEXT = pa.string()


class _ClickLog(BuiltinDataset):
    """Shared by the click logs: a file at ``data.path``, streamed in batches of
    ``chunksize`` rows."""

    option_defaults = {"min_count": 1, "chunksize": 200_000, "hash_buckets": None}
    streams = True

    def declared_fields(self) -> list[FieldSpec]:
        buckets = hash_buckets_option(self.spec.dataset, self.options)
        return [with_hash_buckets(f, buckets) for f in super().declared_fields()]

    def files(self) -> list[Path]:
        if self.spec.path is None:
            raise DataError(
                f"dataset {self.spec.dataset!r} is read from a file: set `data.path` to it"
            )
        return [require_path(self.spec.path)]

    def _categorical(self, name: str) -> CategoricalField:
        return CategoricalField(name=name, min_count=self.options["min_count"])


@DATASETS.register("criteo")
class Criteo(_ClickLog):
    """Criteo Display Advertising: tab-separated ``label, I1..I13, C1..C26``, no header.

    Empty values are missing. Numerical fields are ``log1p`` then standardized. Options:
    ``min_count`` of every categorical field (1), ``hash_buckets`` of every categorical
    field that sets none (none), ``chunksize`` (rows encoded at a time).
    """

    description = "Criteo Display Advertising TSV (label, I1-I13, C1-C26) at data.path."

    def default_fields(self) -> list[FieldSpec]:
        numerical: list[FieldSpec] = [
            NumericalField(name=n, type="numerical", transform=["log1p", "standardize"])
            for n in CRITEO_NUMERICAL
        ]
        return numerical + [self._categorical(n) for n in CRITEO_CATEGORICAL]

    def read(self) -> pd.DataFrame:
        path = self.files()[0]
        names = ["label", *CRITEO_NUMERICAL, *CRITEO_CATEGORICAL]
        width = read_delimited(path, sep="\t", rows=1, header=None, dtype=str).shape[1]
        if width != len(names):
            raise DataError(
                f"{path}: expected {len(names)} tab-separated columns (label, I1-I13, "
                f"C1-C26), found {width} in the first row"
            )
        frame = read_delimited(
            path,
            sep="\t",
            rows=self.spec.rows,
            chunksize=self.options["chunksize"],
            header=None,
            names=names,
            dtype=str,
            categorical=CRITEO_CATEGORICAL,
        )
        frame["label"] = binary_label(frame["label"], str(path), "label")
        return frame

    def check(self) -> None:
        path = self.files()[0]
        width = len(text_header(path, "\t", "rows of label, I1-I13, C1-C26"))
        if width != 40:
            raise DataError(
                f"{path}, line 1: expected 40 tab-separated columns (label, I1-I13, C1-C26), "
                f"found {width}"
            )

    def batches(self) -> Iterator[Batch]:
        path = self.files()[0]
        names = ["label", *CRITEO_NUMERICAL, *CRITEO_CATEGORICAL]
        types: dict[str, pa.DataType] = {"label": _TEXT}
        for field in self.declared_fields():
            types[field.name] = _TEXT if isinstance(field, CategoricalField) else pa.float64()
        yield from delimited_batches(
            path,
            sep="\t",
            names=names,
            types=types,
            header=False,
            rows=self.spec.rows,
            batch_rows=self.options["chunksize"],
            describe=lambda n: f"{n} tab-separated columns (label, I1-I13, C1-C26)",
        )


@DATASETS.register("avazu")
class Avazu(_ClickLog):
    """Avazu CTR: a CSV with a header (``id, click, hour, C1, banner_pos, ...``).

    Label ``click``; ``id`` is dropped; ``hour`` (``YYMMDDHH``) becomes the fields
    ``hour`` (hour of day) and ``weekday``, and the column ``timestamp`` (the raw
    ``YYMMDDHH`` number) for ``split: {by: timestamp}``. Options: ``min_count`` of every
    categorical field (1), ``hash_buckets`` of every categorical field that sets none
    (none), ``chunksize`` (rows encoded at a time).
    """

    description = "Avazu CTR CSV (click, hour, C1, banner_pos, ...) at data.path."

    def default_fields(self) -> list[FieldSpec]:
        return [self._categorical(n) for n in ("hour", "weekday", *AVAZU_CATEGORICAL)]

    def read(self) -> pd.DataFrame:
        path = self.files()[0]
        needed = ["click", "hour", *AVAZU_CATEGORICAL]
        check_columns(read_header(path, sep=","), needed, str(path))
        frame = read_delimited(
            path,
            sep=",",
            rows=self.spec.rows,
            chunksize=self.options["chunksize"],
            usecols=needed,
            dtype=str,
            categorical=AVAZU_CATEGORICAL,
        )
        stamp = pd.to_numeric(frame["hour"], errors="coerce")
        when = pd.to_datetime(frame["hour"], format="%y%m%d%H", errors="coerce")
        bad = when.isna().to_numpy() | stamp.isna().to_numpy()
        if bad.any():
            raise DataError(
                f"{path}: column 'hour' must be YYMMDDHH (e.g. 14102100); "
                f"{int(bad.sum())} row(s) are not, e.g. {show_values(frame['hour'][bad])}"
            )
        frame["label"] = binary_label(frame.pop("click"), str(path), "click")
        frame["timestamp"] = stamp.to_numpy(dtype=np.int64)
        frame["hour"] = when.dt.hour.to_numpy()
        frame["weekday"] = when.dt.day_of_week.to_numpy()
        return frame

    @property
    def label_column(self) -> str:
        return "click"

    def check(self) -> None:
        path = self.files()[0]
        check_columns(text_header(path, ","), ["click", "hour", *AVAZU_CATEGORICAL], str(path))

    def batches(self) -> Iterator[Batch]:
        path = self.files()[0]
        names = text_header(path, ",")
        needed = ["click", "hour", *AVAZU_CATEGORICAL]
        check_columns(names, needed, str(path))
        types: dict[str, pa.DataType] = {name: _TEXT for name in needed}
        types["hour"] = pa.string()
        for batch in delimited_batches(
            path,
            sep=",",
            names=names,
            types=types,
            header=True,
            rows=self.spec.rows,
            batch_rows=self.options["chunksize"],
        ):
            yield batch.replace(_avazu_columns(batch))


def _avazu_columns(batch: Batch) -> pa.RecordBatch:
    """``hour`` (YYMMDDHH) as the fields ``hour`` (of the day) and ``weekday`` and the
    column ``timestamp``; ``click`` as ``label``."""
    rows = batch.rows
    text = rows.column("hour")
    try:
        when = pc.strptime(text, format="%y%m%d%H", unit="s", error_is_null=True)
        stamp = pc.cast(text, pa.int64(), safe=False) if when.null_count == 0 else None
    except pa.ArrowInvalid:
        when, stamp = pc.strptime(text, format="%y%m%d%H", unit="s", error_is_null=True), None
    if stamp is None or when.null_count:
        bad = int(np.flatnonzero(when.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(
            f"{batch.where(bad, 'hour')}: must be YYMMDDHH (e.g. 14102100), "
            f"got {text[bad].as_py()!r}"
        )
    columns = {name: rows.column(name) for name in AVAZU_CATEGORICAL}
    columns.update(
        {
            "label": rows.column("click"),
            "hour": pc.hour(when),
            "weekday": pc.day_of_week(when),
            "timestamp": stamp,
        }
    )
    return pa.RecordBatch.from_pydict(columns)
