"""Where the rows to re-score come from: a CSV, JSON Lines or Parquet file, or stdin.

A source hands out :class:`Chunk` s of exactly ``size`` rows (the last may be shorter), the
k-th starting at data row ``k * size``. Chunk boundaries never depend on where a run
resumed or which engine read the file, so an interrupted run, a resumed one and the Ray
engine all batch the same comments together: the int8 backend's scores move by about 0.01
with what a comment is batched with, and fixed boundaries make them reproducible exactly.

Rows are plain dicts, as the file holds them: CSV values are strings (nothing is guessed,
so ``007`` stays ``007``), JSON Lines values are what ``json.loads`` gives, Parquet values
are what ``pyarrow`` gives. A row the reader cannot read whole (a CSV row with the wrong
number of fields, a line that is not a JSON object) still comes out, with a reason, so
that it is reported and keeps its place instead of aborting the run.

Another row source (the service's database, for a future ``--from-db``) only has to
implement :class:`RowSource`.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, Self

from service.rescore.errors import RescoreError

FORMATS = ("csv", "jsonl", "parquet")
STDIO = "-"
# JSON Lines has no header: its columns are the keys found in this many first rows.
JSONL_COLUMN_SCAN = 1000
_BOM = "\ufeff"
# A row as read, why it could not be read whole (or None), and the byte offset after it.
Record = tuple[dict[str, Any], str | None, int | None]
# Comments can be long; the csv module's default field limit (128 KiB) is not a file error.
CSV_FIELD_LIMIT = 1 << 28


@dataclass(frozen=True)
class Position:
    """Where reading resumes: data rows already done and, where seekable, their end byte."""

    rows: int = 0
    offset: int | None = None


@dataclass
class Chunk:
    """Consecutive data rows; the first is data row ``start + 1`` (rows count from 1)."""

    start: int
    rows: list[dict[str, Any]]
    # index in ``rows`` -> why the reader could not read that row whole
    broken: dict[int, str] = field(default_factory=dict)
    # the byte just after this chunk in the input, where the input can seek there
    end: Position | None = None

    @property
    def next(self) -> Position:
        """The position right after this chunk (what a checkpoint records)."""
        if self.end is not None:
            return self.end
        return Position(self.start + len(self.rows))


class RowSource(Protocol):
    """Rows in input order, in fixed-size chunks, resumable from a :class:`Position`."""

    name: str
    columns: list[str]
    # the total number of rows where the format says so cheaply (Parquet), else None
    total_rows: int | None
    # bytes in the input, for a progress estimate where rows are not known in advance
    size_bytes: int | None

    def chunks(self, size: int, start: Position = Position()) -> Iterator[Chunk]:
        """Chunks of ``size`` rows from ``start`` on; ``start.rows`` must be a multiple of ``size``."""
        ...

    def close(self) -> None: ...


def detect_format(path: str, fmt: str | None, option: str) -> str:
    """The format named by ``fmt``, else the one ``path``'s extension implies.

    >>> detect_format("history.ndjson", None, "--format")
    'jsonl'
    """
    if fmt:
        return fmt
    if path == STDIO:
        raise RescoreError(
            f"cannot tell the format of {'stdin' if option == '--format' else 'stdout'}; pass {option}"
        )
    suffix = Path(path).suffix.lower().lstrip(".")
    suffix = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}.get(suffix, suffix)
    if suffix not in FORMATS:
        raise RescoreError(
            f"cannot tell the format of {Path(path).name} from its extension; "
            f"use .csv, .jsonl or .parquet, or pass {option}"
        )
    return suffix


def open_source(
    path: str, fmt: str, stdin: IO[bytes] | None = None, columns: list[str] | None = None
) -> RowSource:
    """Open ``path`` (``-``: ``stdin``, default ``sys.stdin.buffer``) as a :class:`RowSource`.

    ``columns`` spares JSON Lines the scan for its columns (a Ray read task opening a file
    the driver has checked).

    >>> source = open_source("history.csv", "csv")                 # doctest: +SKIP
    >>> source.columns, next(source.chunks(2)).rows                 # doctest: +SKIP
    (['id', 'text'], [{'id': '1', 'text': 'thx, sorted'}, {'id': '2', 'text': 'useless'}])
    """
    if fmt == "parquet":
        if path == STDIO:
            raise RescoreError("Parquet cannot be read from stdin (it needs seeking); pass a file")
        return ParquetSource(_input_file(path))
    if fmt == "csv":
        return CsvSource(path, stdin)
    if fmt == "jsonl":
        return JsonlSource(path, stdin, columns)
    raise RescoreError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _input_file(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise RescoreError(f"input file {file} does not exist or is not a file")
    return file


def chunked(records: Iterable[Record], size: int, start: int) -> Iterator[Chunk]:
    """Group ``(row, broken reason, end offset)`` records into chunks of ``size`` rows."""
    if size < 1:
        raise ValueError("chunk size must be positive")
    chunk = Chunk(start, [])
    for row, broken, end in records:
        if broken is not None:
            chunk.broken[len(chunk.rows)] = broken
        chunk.rows.append(row)
        if end is not None:
            chunk.end = Position(chunk.start + len(chunk.rows), end)
        if len(chunk.rows) == size:
            yield chunk
            chunk = Chunk(chunk.start + size, [])
    if chunk.rows:
        yield chunk


class _Lines:
    """Lines of a binary stream as text, counting the bytes read (the resume offset)."""

    def __init__(self, handle: IO[bytes], offset: int, name: str) -> None:
        self.handle = handle
        self.offset = offset
        self.name = name
        self.first = offset == 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            start = self.offset
            self.offset += len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RescoreError(
                    f"{self.name} is not UTF-8 text (at byte offset {start + exc.start}); "
                    "convert it first, e.g. iconv -f latin1 -t utf-8"
                ) from exc
            if self.first:
                self.first = False
                line = line.removeprefix(_BOM)
            yield line


class _Closing:
    """``with open_source(...) as source:`` closes the input at the end."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _LineSource(_Closing):
    """What CSV and JSON Lines share: a file or stdin read line by line, seekable if a file."""

    total_rows: int | None = None

    def __init__(self, path: str, stdin: IO[bytes] | None) -> None:
        if path == STDIO:
            self.name = "stdin"
            self._file: Path | None = None
            self._handle: IO[bytes] = stdin if stdin is not None else sys.stdin.buffer
            self.size_bytes: int | None = None
        else:
            self._file = _input_file(path)
            self.name = self._file.name
            self._handle = open(self._file, "rb")  # noqa: SIM115 - closed by close()
            self.size_bytes = os.fstat(self._handle.fileno()).st_size
        self._lines = _Lines(self._handle, 0, self.name)
        # rows read while opening (a JSON Lines column scan), handed out first, then the rest
        self._peeked: list[Record] = []
        self._rest: Iterator[Record] = iter(())
        self._used = False

    def _records(self, lines: _Lines, rows_before: int) -> Iterator[Record]:
        raise NotImplementedError

    def chunks(self, size: int, start: Position = Position()) -> Iterator[Chunk]:
        if start.rows % size:
            raise ValueError(f"resume row {start.rows} is not a multiple of the chunk size {size}")
        if self._file is not None and start.offset is not None and start.rows > 0:
            # A file resumes by seeking to the checkpointed byte: no re-reading.
            handle = open(self._file, "rb")  # noqa: SIM115 - closed below
            try:
                handle.seek(start.offset)
                records = self._records(_Lines(handle, start.offset, self.name), start.rows)
                yield from chunked(records, size, start.rows)
            finally:
                handle.close()
            return
        if self._used:
            raise RescoreError(f"{self.name} can only be read once")
        self._used = True
        records = self._all_records()
        for _ in range(start.rows):  # stdin cannot seek: read past the rows already done
            if next(records, None) is None:
                raise RescoreError(
                    f"{self.name} has fewer rows than the {start.rows} already done; "
                    "resume with the same input"
                )
        yield from chunked(records, size, start.rows)

    def _all_records(self) -> Iterator[Record]:
        yield from self._peeked
        self._peeked = []
        yield from self._rest

    def close(self) -> None:
        if self._file is not None:
            self._handle.close()


class CsvSource(_LineSource):
    """A CSV file with a header row; every value is a string (empty fields are ``''``)."""

    def __init__(self, path: str, stdin: IO[bytes] | None = None) -> None:
        super().__init__(path, stdin)
        csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
        try:
            self.columns = self._header()
        except RescoreError:
            self.close()
            raise
        self._rest = self._records(self._lines, 0)

    def _header(self) -> list[str]:
        try:
            header = next(csv.reader(self._lines), None)
        except csv.Error as exc:
            raise RescoreError(f"{self.name} is not a readable CSV file: {exc}") from exc
        if not header:
            raise RescoreError(f"{self.name} is empty: a CSV file needs a header row")
        dupes = sorted({c for c in header if header.count(c) > 1})
        if dupes:
            raise RescoreError(f"{self.name} has duplicate column names: {dupes}")
        return header

    def _records(self, lines: _Lines, rows_before: int) -> Iterator[Record]:
        width = len(self.columns)
        number = rows_before
        offset_known = self._file is not None
        try:
            for fields in csv.reader(lines):
                if not fields:  # a blank line is not a row (as csv.DictReader has it)
                    continue
                number += 1
                broken = None
                if len(fields) != width:
                    broken = f"{len(fields)} field{'' if len(fields) == 1 else 's'} where the header has {width}"
                # csv.reader pulls lines only as it needs them: lines.offset ends this row
                yield (
                    dict(zip(self.columns, fields, strict=False)),
                    broken,
                    lines.offset if offset_known else None,
                )
        except csv.Error as exc:
            raise RescoreError(
                f"{self.name} row {number + 1} cannot be read as CSV: {exc}"
            ) from exc


class JsonlSource(_LineSource):
    """JSON Lines: one JSON object per line; blank lines are skipped and not counted as rows."""

    def __init__(
        self, path: str, stdin: IO[bytes] | None = None, columns: list[str] | None = None
    ) -> None:
        super().__init__(path, stdin)
        if columns is not None:
            self.columns = columns
            self._rest = self._records(self._lines, 0)
            return
        try:
            self.columns = self._scan_columns()
        except RescoreError:
            self.close()
            raise

    def _scan_columns(self) -> list[str]:
        """Keys of the first rows (kept to be handed out first); checks it is JSON Lines."""
        self._rest = records = self._records(self._lines, 0)
        found: dict[str, None] = {}
        for record in records:
            row, broken, _ = record
            if not self._peeked and broken is not None:
                # A first line that is not a JSON object means this is not JSON Lines at all.
                raise RescoreError(f"{self.name} is not a JSON Lines file: row 1 is {broken}")
            self._peeked.append(record)
            found.update(dict.fromkeys(row))
            if len(self._peeked) == JSONL_COLUMN_SCAN:
                break
        else:
            self.total_rows = len(self._peeked)
        return list(found)

    def _records(self, lines: _Lines, rows_before: int) -> Iterator[Record]:
        number = rows_before
        offset_known = self._file is not None
        for line in lines:
            if not line.strip():
                continue
            number += 1
            end = lines.offset if offset_known else None
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield {}, f"not valid JSON ({exc.msg})", end
                continue
            if not isinstance(value, dict):
                yield {}, f"a JSON {_json_kind(value)}, not an object", end
                continue
            yield value, None, end


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else type(value).__name__


class ParquetSource(_Closing):
    """A Parquet file, read a row group at a time; values keep their Arrow types."""

    size_bytes: int | None = None  # the row count is known, no need to estimate it

    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.name = path.name
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise RescoreError(f"{self.name} is not a readable Parquet file: {exc}") from exc
        self.schema = self._file.schema_arrow
        self.columns: list[str] = list(self.schema.names)
        self.total_rows: int | None = self._file.metadata.num_rows

    def chunks(self, size: int, start: Position = Position()) -> Iterator[Chunk]:
        if start.rows % size:
            raise ValueError(f"resume row {start.rows} is not a multiple of the chunk size {size}")
        # Start at the row group holding the first row to do: no re-reading what is done.
        group, group_start = 0, 0
        meta = self._file.metadata
        while (
            group < meta.num_row_groups
            and group_start + meta.row_group(group).num_rows <= start.rows
        ):
            group_start += meta.row_group(group).num_rows
            group += 1
        yield from chunked(self._records(group, start.rows - group_start), size, start.rows)

    def _records(self, group: int, skip: int) -> Iterator[Record]:
        import pyarrow as pa

        groups = list(range(group, self._file.metadata.num_row_groups))
        if not groups:
            return
        try:
            for batch in self._file.iter_batches(row_groups=groups, use_threads=False):
                if skip >= batch.num_rows:
                    skip -= batch.num_rows
                    continue
                for row in batch.slice(skip).to_pylist():
                    yield row, None, None
                skip = 0
        except (pa.ArrowException, OSError) as exc:
            raise RescoreError(f"{self.name} is not a readable Parquet file: {exc}") from exc

    def close(self) -> None:
        self._file.close()
