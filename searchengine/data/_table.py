"""``table``: a user's own CSV, TSV or Parquet file, its label and fields named in the spec."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from searchengine.data._dataset import (
    DATASETS,
    Dataset,
    FieldSpec,
    hash_buckets_option,
    with_hash_buckets,
)
from searchengine.data._readers import (
    binary_label,
    check_columns,
    file_format,
    read_delimited,
    read_header,
    require_path,
)
from searchengine.data._stream import Batch, delimited_batches, parquet_batches, text_header
from searchengine.errors import DataError
from searchengine.spec.format import CategoricalField

_SEPARATORS = {"csv": ",", "tsv": "\t"}
_TEXT = pa.string()


@DATASETS.register("table")
class Table(Dataset):
    """Any CSV (``.csv``), TSV (``.tsv``, ``.txt``) or Parquet (``.parquet``, ``.pq``) file.

    ``data.path`` is the file (it may be gzip-compressed), ``data.label`` its binary label
    column (0/1, true/false or yes/no) and ``data.fields`` the fields to use. Text files
    need a header row; empty cells, ``NA``, ``null`` and ``?`` are missing. The file is
    streamed: text in blocks, Parquet in row batches. Options: ``chunksize`` (rows
    encoded at a time), ``hash_buckets`` (of every categorical field that sets none).
    """

    description = "Your own CSV, TSV or Parquet file (data.path, data.label, data.fields)."
    option_defaults = {"chunksize": 200_000, "hash_buckets": None}
    streams = True

    def declared_fields(self) -> list[FieldSpec]:
        if not self.spec.fields:
            raise DataError(
                "dataset 'table' needs `data.fields`: the columns to use, e.g. "
                "[{name: user_id, type: categorical}, {name: price, type: numerical}]"
            )
        if self.spec.label is None:
            raise DataError("dataset 'table' needs `data.label`: the binary label column")
        for field in self.spec.fields:
            if field.name == self.spec.label:
                raise DataError(
                    f"column {field.name!r} is the label (`data.label`); it cannot also be a field"
                )
        buckets = hash_buckets_option("table", self.options)
        return [with_hash_buckets(f, buckets) for f in self.spec.fields]

    @property
    def label_column(self) -> str:
        return str(self.spec.label)

    def check(self) -> None:
        path = self.files()[0]
        fields = self.declared_fields()
        columns = list(
            dict.fromkeys([*(f.name for f in fields), str(self.spec.label), *self._by()])
        )
        if file_format(path) == "parquet":
            try:
                names = pq.ParquetFile(path).schema_arrow.names
            except (pa.ArrowException, OSError) as exc:
                raise DataError(f"{path}: cannot read the Parquet file: {exc}") from None
        else:
            names = text_header(path, _SEPARATORS[file_format(path)])
        check_columns(names, columns, str(path))

    def batches(self) -> Iterator[Batch]:
        path = self.files()[0]
        fields = self.declared_fields()
        label = str(self.spec.label)
        columns = list(dict.fromkeys([*(f.name for f in fields), label, *self._by()]))
        if file_format(path) == "parquet":
            batches = parquet_batches(path, columns, self.spec.rows, self.options["chunksize"])
        else:
            sep = _SEPARATORS[file_format(path)]
            names = text_header(path, sep)
            check_columns(names, columns, str(path))
            types = {name: _TEXT for name in columns}
            for field in fields:
                if not isinstance(field, CategoricalField):
                    types[field.name] = pa.float64()
            batches = delimited_batches(
                path,
                sep=sep,
                names=names,
                types=types,
                header=True,
                rows=self.spec.rows,
                batch_rows=self.options["chunksize"],
            )
        for batch in batches:
            yield batch.replace(_renamed(batch.rows, label))

    def files(self) -> list[Path]:
        if self.spec.path is None:
            raise DataError("dataset 'table' needs `data.path`: a .csv, .tsv or .parquet file")
        path = require_path(self.spec.path)
        if path.is_dir():
            raise DataError(f"{path} is a folder; dataset 'table' reads one file")
        file_format(path)
        return [path]

    def read(self) -> pd.DataFrame:
        path = self.files()[0]
        fields = self.declared_fields()
        label = str(self.spec.label)
        columns = list(dict.fromkeys([*(f.name for f in fields), label, *self._by()]))
        fmt = file_format(path)
        if fmt == "parquet":
            frame = _read_parquet(path, columns, self.spec.rows)
        else:
            sep = _SEPARATORS[fmt]
            check_columns(read_header(path, sep=sep), columns, str(path))
            text = [f.name for f in fields if isinstance(f, CategoricalField)]
            frame = read_delimited(
                path,
                sep=sep,
                rows=self.spec.rows,
                chunksize=self.options["chunksize"],
                usecols=columns,
                dtype={name: str for name in text},
            )
        frame["label"] = binary_label(frame[label], str(path), label)
        return frame

    def _by(self) -> list[str]:
        return [self.spec.split.by] if self.spec.split.by else []


def _read_parquet(path: Path, columns: list[str], rows: int | None) -> pd.DataFrame:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot read the Parquet file: {exc}") from None
    check_columns(parquet.schema_arrow.names, columns, str(path))
    if rows is None:
        return parquet.read(columns=columns).to_pandas()
    batches, count = [], 0
    for batch in parquet.iter_batches(columns=columns, batch_size=min(rows, 65_536)):
        batches.append(batch)
        count += batch.num_rows
        if count >= rows:
            break
    if not batches:
        return parquet.schema_arrow.empty_table().select(columns).to_pandas()
    table = pa.Table.from_batches(batches)
    return table.slice(0, rows).to_pandas()


def _renamed(rows: pa.RecordBatch, label: str) -> pa.RecordBatch:
    """``rows`` with the label column also under the name ``"label"``."""
    if label == "label":
        return rows
    return rows.append_column("label", rows.column(label))
