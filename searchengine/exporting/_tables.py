"""Reading the rows ``searchengine predict`` scores, and writing the scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from searchengine.data._readers import file_format, read_delimited, read_header
from searchengine.errors import DataError
from searchengine.exporting._bundle import ExportedModel, require_columns

__all__ = ["read_rows", "score_file"]

_SEPARATORS = {"csv": ",", "tsv": "\t"}


def read_rows(path: str | Path, columns: list[str], text: list[str]) -> pd.DataFrame:
    """The ``columns`` of a CSV, TSV or Parquet file (by extension, maybe compressed).

    Args:
        path: the file.
        columns: the columns to read; each must exist.
        text: columns of a text file read as text (categorical fields), as in training.

    Raises:
        DataError: a missing file or column, an unknown extension, an unparsable file.
    """
    file = Path(path).expanduser()
    if not file.exists():  # predict has no spec: no `data.path` to point at
        raise DataError(f"file to score not found: {file}")
    fmt = file_format(file)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(file)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{file}: cannot read the Parquet file: {exc}") from None
        require_columns(parquet.schema_arrow.names, columns, str(file))
        return parquet.read(columns=columns).to_pandas()
    sep = _SEPARATORS[fmt]
    require_columns(read_header(file, sep=sep), columns, str(file))
    return read_delimited(
        file, sep=sep, usecols=columns, dtype={c: str for c in text if c in columns}
    )


def score_file(
    model: ExportedModel,
    data: str | Path,
    out: str | Path,
    *,
    id_column: str | None = None,
    unseen: dict[str, int] | None = None,
) -> int:
    """Score every row of ``data`` and write ``out`` (CSV: ``[id_column,] score``).

    Args:
        unseen: filled with :meth:`ExportedModel.unseen_ids` of the rows, when given.

    Returns:
        The number of rows scored.

    Raises:
        DataError: as :func:`read_rows`, or a numerical field with values that are not
            numbers.
    """
    columns = list(dict.fromkeys([*model.fields, *([id_column] if id_column else [])]))
    categorical = [f.name for f in model.schema.categorical]
    frame = read_rows(data, columns, text=categorical)
    scores = model.predict(frame, source=str(data))
    if unseen is not None:
        unseen.update(model.unseen_ids(frame))
    table = pd.DataFrame({"score": scores.astype(np.float64)})
    if id_column:
        table.insert(0, id_column, frame[id_column].to_numpy())
    target = Path(out).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(target, index=False, float_format="%.9g")
    return len(table)
