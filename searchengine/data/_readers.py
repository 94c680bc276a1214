"""Reading files and checking raw values, with errors that name the file and the column."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from searchengine.errors import DataError, did_you_mean

_log = logging.getLogger(__name__)

#: Raw text that means "missing", besides pandas' defaults (empty, NaN, NA, null, ...).
MISSING_TOKENS = ("?",)
_TRUE = frozenset({"1", "1.0", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "0.0", "false", "no", "n", "f"})
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")


def require_path(path: str | Path, what: str = "data file") -> Path:
    """Return ``path`` as a :class:`Path`, or raise if nothing is there.

    Raises:
        DataError: naming the path, when it does not exist.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{what} not found: {p} (check `data.path`)")
    return p


def file_format(path: Path) -> str:
    """``"csv"``, ``"tsv"`` or ``"parquet"`` from the file's extension (compression ignored).

    Raises:
        DataError: for any other extension.
    """
    name = path.name.lower()
    for suffix in _COMPRESSED:
        name = name.removesuffix(suffix)
    for fmt, endings in (
        ("csv", (".csv",)),
        ("tsv", (".tsv", ".txt")),
        ("parquet", (".parquet", ".pq")),
    ):
        if name.endswith(endings):
            return fmt
    raise DataError(
        f"{path}: cannot tell the file format from its extension; "
        "use .csv, .tsv, .txt, .parquet or .pq"
    )


def show_values(values: Iterable[Any], limit: int = 5) -> str:
    """A few distinct values, quoted, for an error message."""
    shown: list[str] = []
    for value in values:
        text = repr(value.item() if isinstance(value, np.generic) else value)
        if text not in shown:
            shown.append(text)
        if len(shown) == limit:
            break
    return ", ".join(shown)


def check_columns(available: Sequence[str], required: Iterable[str], source: str) -> None:
    """Raise for the first of ``required`` that is not in ``available``.

    Raises:
        DataError: naming the file, the column and the closest existing column.
    """
    have = [str(c) for c in available]
    for column in required:
        if column not in have:
            listing = ", ".join(have[:30]) + (", ..." if len(have) > 30 else "")
            raise DataError(
                f"{source}: no column {column!r}{did_you_mean(column, have)}"
                f" (columns: {listing or 'none'})"
            )


def read_delimited(
    path: Path,
    *,
    sep: str,
    rows: int | None = None,
    chunksize: int = 200_000,
    categorical: Sequence[str] = (),
    **kwargs: Any,
) -> pd.DataFrame:
    """Read a delimited text file in chunks, stopping after ``rows`` rows.

    The ``categorical`` columns are stored as pandas categories chunk by chunk (an int
    code per row and each distinct text once), so a click log of tens of millions of
    rows never holds its categorical values as Python strings all at once.
    Extra keyword arguments go to :func:`pandas.read_csv` (``names``, ``dtype``, ...).

    Raises:
        DataError: naming the file, when it cannot be parsed.
    """
    chunks: list[pd.DataFrame] = []
    kwargs.setdefault("na_values", list(MISSING_TOKENS))
    try:
        with pd.read_csv(path, sep=sep, chunksize=chunksize, nrows=rows, **kwargs) as reader:
            for chunk in reader:
                for name in categorical:  # the chunk's text becomes codes + its categories
                    if name in chunk.columns:
                        chunk[name] = chunk[name].astype("category")
                chunks.append(chunk)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse the file: {exc}") from None
    if not chunks:
        raise DataError(f"{path}: the file has no data rows")
    _log.debug("read %s chunk(s) from %s", len(chunks), path)
    if len(chunks) == 1:
        return chunks[0]
    joined = {name for name in categorical if name in chunks[0].columns}
    for name in joined:  # one set of categories, so that the chunks concatenate as codes
        union = union_categoricals([c[name] for c in chunks], sort_categories=False)
        for chunk in chunks:
            chunk[name] = pd.Categorical(chunk[name], categories=union.categories)
    return pd.concat(chunks, ignore_index=True)


def read_header(path: Path, *, sep: str, **kwargs: Any) -> list[str]:
    """The column names in the first line of a delimited text file.

    Raises:
        DataError: naming the file, when it cannot be parsed.
    """
    try:
        return [str(c) for c in pd.read_csv(path, sep=sep, nrows=0, **kwargs).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the header: {exc}") from None


def binary_label(values: pd.Series, source: str, column: str) -> np.ndarray:
    """0/1 ints from 0/1 numbers, booleans, or true/false / yes/no text (any case).

    Raises:
        DataError: naming the file, the column and a few offending values.
    """
    if pd.api.types.is_bool_dtype(values.dtype) and not values.isna().any():
        return values.to_numpy(dtype=np.int8)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    ):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isin(numbers, (0.0, 1.0))
        if bad.any():
            _raise_bad_label(values[bad], source, column)
        return numbers.astype(np.int8)
    text = values.astype("string").str.strip().str.lower()
    positive = text.isin(_TRUE).to_numpy(dtype=bool, na_value=False)
    negative = text.isin(_FALSE).to_numpy(dtype=bool, na_value=False)
    bad = ~(positive | negative)
    if bad.any():
        _raise_bad_label(values[bad], source, column)
    return positive.astype(np.int8)


def label_values(values: Any) -> tuple[np.ndarray, int | None]:
    """0/1 int8 labels of an Arrow array, as :func:`binary_label` reads them, and the
    index of the first value that is not a label (None when all are)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = values.type
    if pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind):
        numbers = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
        bad = ~np.isin(numbers, (0.0, 1.0))
        labels = np.where(bad, 0, numbers).astype(np.int8)
    else:
        if not pa.types.is_dictionary(kind):
            values = pc.dictionary_encode(values.cast(pa.string()))
        text = [str(v).strip().lower() for v in values.dictionary.to_pylist()]
        lut = np.array([1 if t in _TRUE else 0 if t in _FALSE else -1 for t in text] + [-1])
        index = pc.fill_null(values.indices, -1).to_numpy(zero_copy_only=False)
        coded = lut[index]
        bad = coded < 0
        labels = np.where(bad, 0, coded).astype(np.int8)
    return labels, (int(np.flatnonzero(bad)[0]) if bad.any() else None)


def _raise_bad_label(bad: pd.Series, source: str, column: str) -> None:
    raise DataError(
        f"{source}: label column {column!r} must be binary (0/1, true/false or yes/no); "
        f"{len(bad)} row(s) are not, e.g. {show_values(bad.tolist())}"
    )


def numeric_values(values: pd.Series, source: str, column: str) -> np.ndarray:
    """Float64 values of a numerical field, NaN where missing (empty, NaN, '?').

    Raises:
        DataError: naming the file, the column and a few values that are not numbers.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype("float64")
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        text, parsed = _parsed(values)
        bad = text.notna() & parsed.isna()
        if bad.any():
            raise DataError(
                f"{source}: column {column!r} is declared numerical but {int(bad.sum())} "
                f"value(s) are not numbers, e.g. {show_values(text[bad].tolist())}; "
                "declare it `type: categorical` or clean the column"
            )
        numbers = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(numbers), numbers, np.nan)


def not_numbers(values: pd.Series) -> np.ndarray:
    """Where :func:`numeric_values` finds a value that is not a number (and not missing)."""
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return np.zeros(len(values), dtype=bool)
    text, parsed = _parsed(values)
    return (text.notna() & parsed.isna()).to_numpy(dtype=bool)


def _parsed(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = values.astype("string").str.strip()
    text = text.mask(text.isin(("", *MISSING_TOKENS)))
    return text, pd.to_numeric(text, errors="coerce")
