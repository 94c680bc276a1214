"""Raw rows as a stream of Arrow record batches, each knowing where in its file it starts.

A click log of tens of millions of rows is never held whole: text files are read in
blocks of bytes cut at line ends and each block is parsed by pyarrow's multi-threaded CSV
reader; Parquet files are read batch by batch. Every batch carries the line (text) or
row (Parquet) of its first row, so an encoder that finds a bad value can name the file,
the line and the column.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from searchengine.data._readers import MISSING_TOKENS, check_columns
from searchengine.errors import DataError

T = TypeVar("T")

__all__ = ["NULL_TOKENS", "Batch", "delimited_batches", "parquet_batches", "text_header"]

#: Cells read as missing: pandas' defaults (so both readers agree) and ``?``.
NULL_TOKENS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    *MISSING_TOKENS,
)  # fmt: skip
#: Bytes of text parsed at once.
BLOCK_BYTES = 64 << 20
_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}


@dataclass(frozen=True)
class Batch:
    """Rows of a file, in file order.

    Attributes:
        rows: the columns (raw values; the dataset has already derived any columns).
        path: the file.
        first: the line (text files, 1-based, header counted) or row (Parquet, 1-based)
            of the first row.
        unit: ``"line"`` or ``"row"``.
    """

    rows: pa.RecordBatch
    path: Path
    first: int
    unit: str = "line"

    def where(self, index: int, column: str | None = None) -> str:
        """``"<path>, line <n>"`` (and ``", column 'c'"``) of row ``index`` of this batch."""
        place = f"{self.path}, {self.unit} {self.first + index}"
        return place if column is None else f"{place}, column {column!r}"

    def replace(self, rows: pa.RecordBatch) -> Batch:
        """The same place with other columns (same rows)."""
        return Batch(rows, self.path, self.first, self.unit)


def _open_text(path: Path) -> pa.NativeFile:
    compression = _COMPRESSION.get(path.suffix.lower())
    try:
        return pa.input_stream(str(path), compression=compression)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot open the file: {exc}") from None


def text_header(path: Path, sep: str, what: str = "a header line") -> list[str]:
    """The column names in the first line of a delimited text file (``what`` it should
    be, for the error of an empty file).

    Raises:
        DataError: an empty file, or a first line that cannot be parsed.
    """
    with _open_text(path) as stream:
        line = _first_line(stream)
    if not line.strip():
        raise DataError(f"{path}: the file is empty; expected {what}")
    try:
        table = pacsv.read_csv(
            io.BytesIO(line),
            read_options=pacsv.ReadOptions(autogenerate_column_names=False),
            parse_options=pacsv.ParseOptions(delimiter=sep),
        )
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        raise DataError(f"{path}, line 1: cannot read the header: {exc}") from None
    return [str(c) for c in table.column_names]


def _first_line(stream: pa.NativeFile) -> bytes:
    buffered = b""
    while b"\n" not in buffered:
        chunk = stream.read(1 << 16)
        if not chunk:
            break
        buffered += chunk
    return buffered.split(b"\n", 1)[0] + b"\n"


def _text_blocks(path: Path, block_bytes: int, skip_lines: int) -> Iterator[bytes]:
    """Blocks of whole lines, in order, after ``skip_lines`` lines; the last block may
    lack its final ``\n`` (a truncated last line)."""
    rest = b""
    with _open_text(path) as stream:
        while True:
            chunk = stream.read(block_bytes)
            if not chunk:
                break
            buffered = rest + chunk if rest else chunk
            while skip_lines and b"\n" in buffered:
                buffered = buffered[buffered.index(b"\n") + 1 :]
                skip_lines -= 1
            cut = buffered.rfind(b"\n") + 1
            if cut == 0 or skip_lines:
                rest = buffered
                continue
            yield buffered[:cut]
            rest = buffered[cut:]
    if rest and not skip_lines:
        yield rest


def _prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced by a background thread up to ``depth`` ahead: pyarrow parses
    the next block while the caller encodes this one. Errors reach the caller."""
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(end)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)

    thread = threading.Thread(target=produce, name="searchengine-parse", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def delimited_batches(
    path: Path,
    *,
    sep: str,
    names: Sequence[str],
    types: dict[str, pa.DataType],
    header: bool,
    rows: int | None = None,
    batch_rows: int = 200_000,
    block_bytes: int = BLOCK_BYTES,
    describe: Callable[[int], str] | None = None,
) -> Iterator[Batch]:
    """Stream a delimited text file as batches of at most ``batch_rows`` rows.

    Args:
        path: the file (gzip, bz2, zstd and lz4 by extension).
        sep: the delimiter.
        names: every column's name, in file order.
        types: the columns to read and their Arrow types (others are skipped); a
            dictionary type dictionary-encodes as it parses.
        header: whether the first line names the columns (it is skipped).
        rows: stop after this many rows.
        batch_rows: rows per batch at most.
        block_bytes: bytes parsed at once.
        describe: what a row of ``n`` columns should have been, for the error message.

    Raises:
        DataError: naming the file and line of a row with the wrong number of columns
            (a truncated last line too), a value that does not convert, or an empty file.
    """
    bad: list[tuple[int, str]] = []

    def invalid(row: pacsv.InvalidRow) -> str:
        bad.append((row.actual_columns, row.text))
        return "skip"

    read = pacsv.ReadOptions(column_names=list(names), use_threads=True, block_size=1 << 20)
    parse = pacsv.ParseOptions(
        delimiter=sep, invalid_row_handler=invalid, ignore_empty_lines=False
    )
    convert = pacsv.ConvertOptions(
        column_types=types,
        include_columns=list(types),
        null_values=list(NULL_TOKENS),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    header_lines = 1 if header else 0

    def parsed() -> Iterator[tuple[int, pa.Table]]:
        first = 1 + header_lines
        for block in _text_blocks(path, block_bytes, header_lines):
            try:
                table = pacsv.read_csv(pa.py_buffer(block), read, parse, convert)
            except pa.ArrowInvalid:  # a value that does not convert: as text, for the encoder
                table = _as_text(path, first, block, read, parse, convert)
            if bad:
                actual, text = bad[0]
                line = first + _line_of(block, text.encode())
                if not text:
                    raise DataError(f"{path}, line {line}: the line is empty")
                expected = describe(len(names)) if describe else f"{len(names)} columns"
                raise DataError(
                    f"{path}, line {line}: expected {expected}, found {actual} "
                    "(a truncated or malformed line)"
                )
            yield first, table.combine_chunks()
            first += table.num_rows  # a row per line: any other line raised above

    count = 0
    for first, table in _prefetch(parsed()):
        offset = 0
        for batch in table.to_batches(max_chunksize=batch_rows):
            if rows is not None and count + batch.num_rows > rows:
                batch = batch.slice(0, rows - count)
            if batch.num_rows:
                yield Batch(batch, path, first + offset)
            offset += batch.num_rows
            count += batch.num_rows
            if rows is not None and count >= rows:
                return
    if count == 0:
        raise DataError(f"{path}: the file has no data rows")


def _line_of(block: bytes, text: bytes) -> int:
    """Lines of ``block`` before the first line that is exactly ``text``."""
    if block.startswith(text + b"\n") or block == text:
        return 0
    at = block.find(b"\n" + text + b"\n")
    if at < 0:
        at = block.rfind(b"\n" + text)  # the last line, without its newline
    return block.count(b"\n", 0, at + 1) if at >= 0 else 0


def _as_text(
    path: Path,
    first: int,
    block: bytes,
    read: pacsv.ReadOptions,
    parse: pacsv.ParseOptions,
    convert: pacsv.ConvertOptions,
) -> pa.Table:
    """A block whose values did not convert, with its typed columns read as text: the
    encoder then parses them as pandas does (spaces, ``?``) or names the bad value."""
    types = {
        name: kind if pa.types.is_dictionary(kind) else pa.string()
        for name, kind in convert.column_types.items()
    }
    try:
        return pacsv.read_csv(
            pa.py_buffer(block),
            read,
            parse,
            pacsv.ConvertOptions(
                column_types=types,
                include_columns=convert.include_columns,
                null_values=convert.null_values,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowException as exc:
        raise DataError(f"{path}, lines from {first}: cannot parse the file: {exc}") from None


def parquet_batches(
    path: Path, columns: Sequence[str], rows: int | None = None, batch_rows: int = 200_000
) -> Iterator[Batch]:
    """Stream the ``columns`` of a Parquet file in batches of at most ``batch_rows`` rows.

    Raises:
        DataError: an unreadable file or a file without rows.
    """
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot read the Parquet file: {exc}") from None
    check_columns(parquet.schema_arrow.names, columns, str(path))
    count = 0
    try:
        for batch in parquet.iter_batches(columns=list(columns), batch_size=batch_rows):
            if rows is not None and count + batch.num_rows > rows:
                batch = batch.slice(0, rows - count)
            if batch.num_rows:
                yield Batch(batch, path, count + 1, unit="row")
            count += batch.num_rows
            if rows is not None and count >= rows:
                return
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot read the Parquet file: {exc}") from None
    if count == 0:
        raise DataError(f"{path}: the file has no data rows")
