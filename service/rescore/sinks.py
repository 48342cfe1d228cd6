"""Where re-scored rows go: CSV, JSON Lines or Parquet, to a file or stdout, incrementally.

Every sink takes rows a chunk at a time and, on :meth:`commit`, makes what it has written
durable and says how much that is (bytes, or Parquet part files). A checkpoint records
that state, so after a crash the output is cut back to it and nothing is written twice.

Parquet cannot be appended to (its footer comes last), so to a file it is written as one
part file per chunk, merged into row groups of :data:`ROW_GROUP_ROWS` when the run ends.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import os
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from service.rescore.checkpoint import fsync_dir
from service.rescore.errors import RescoreError
from service.rescore.scoring import ADDED_COLUMNS, SCORE_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa

ROW_GROUP_ROWS = 65_536
PART_PATTERN = "part-{:06d}.parquet"


class Sink(Protocol):
    """Takes output rows in order; :meth:`commit` returns the state a checkpoint records."""

    def write(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def commit(self) -> dict[str, int]: ...

    def finish(self) -> None:
        """Write whatever ends the output (a Parquet footer) and close."""
        ...

    def close(self) -> None:
        """Release the output without finishing it (a failed run); committed data stays."""
        ...


def plain(value: object) -> object:
    """A value JSON and CSV can hold: dates as ISO 8601, decimals as text, bytes as base64."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def csv_cell(value: object, column: str = "") -> str:
    """How a value is written in a CSV cell; scores with six decimals, booleans in lower case.

    >>> csv_cell(0.5, "score_good"), csv_cell(True), csv_cell(None), csv_cell({"a": 1})
    ('0.500000', 'true', '', '{"a": 1}')
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and column in SCORE_COLUMNS:
        return f"{value:.6f}"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=plain)
    return str(plain(value))


class _ByteSink:
    """A text format appended to a binary stream; durable (fsynced) when it is a file."""

    def __init__(self, handle: IO[bytes], durable: bool) -> None:
        self._handle = handle
        self._durable = durable

    def _write(self, text: str) -> None:
        self._handle.write(text.encode("utf-8"))

    def commit(self) -> dict[str, int]:
        self._handle.flush()
        if not self._durable:
            return {}
        os.fsync(self._handle.fileno())
        return {"bytes": self._handle.tell()}

    def finish(self) -> None:
        self.commit()
        self.close()

    def close(self) -> None:
        if self._durable:  # a file of ours; a stream (stdout) belongs to the caller
            self._handle.close()


class CsvSink(_ByteSink):
    """CSV with a header row (written when the stream is new)."""

    def __init__(
        self, handle: IO[bytes], columns: Sequence[str], durable: bool, header: bool
    ) -> None:
        super().__init__(handle, durable)
        self.columns = list(columns)
        if header:
            self.write([dict(zip(self.columns, self.columns, strict=True))])

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in rows:
            writer.writerow([csv_cell(row.get(c), c) for c in self.columns])
        self._write(buffer.getvalue())


class JsonlSink(_ByteSink):
    """One JSON object per line, with every key the input row had (not only ``columns``)."""

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self._write(
            "".join(json.dumps(row, ensure_ascii=False, default=plain) + "\n" for row in rows)
        )


def parquet_schema(
    columns: Sequence[str], rows: Sequence[dict[str, Any]], known: pa.Schema | None
) -> pa.Schema:
    """The output schema: the input's types (``known``, else guessed from ``rows``), then ours."""
    import pyarrow as pa

    fields = []
    for name in columns:
        if name in ADDED_COLUMNS:
            continue
        if known is not None and name in known.names:
            fields.append(known.field(name))
            continue
        guessed = pa.array([row.get(name) for row in rows]).type if rows else pa.string()
        fields.append(pa.field(name, pa.string() if pa.types.is_null(guessed) else guessed))
    fields += [pa.field("label", pa.string())]
    fields += [pa.field(name, pa.float64()) for name in SCORE_COLUMNS]
    fields += [pa.field("truncated", pa.bool_()), pa.field("model_version", pa.string())]
    return pa.schema(fields)


def _to_table(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    try:
        return pa.Table.from_pylist(list(rows), schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise RescoreError(
            f"a row does not fit the Parquet output's column types, which the first rows "
            f"set ({exc}); write CSV or JSON Lines instead"
        ) from exc


class ParquetPartsSink:
    """Parquet to a file: a part file per commit in ``folder``, merged by :meth:`finish`."""

    def __init__(
        self,
        folder: Path,
        target: Path,
        columns: Sequence[str],
        known: pa.Schema | None,
        parts_done: int = 0,
    ) -> None:
        import pyarrow.parquet as pq

        self.folder = folder
        self.target = target
        self.columns = list(columns)
        self.known = known
        self.parts = parts_done
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():  # written after the last checkpoint: redone
            if path.suffix == ".tmp" or (
                path.name.startswith("part-") and self._number(path) > parts_done
            ):
                path.unlink()
        first = folder / PART_PATTERN.format(1)
        # Resuming: the first part fixed the column types; keep them.
        self.schema: pa.Schema | None = (
            pq.read_schema(first) if parts_done and first.exists() else None
        )
        self._pending: list[dict[str, Any]] = []

    @staticmethod
    def _number(path: Path) -> int:
        return int(path.name.removeprefix("part-").split(".")[0])

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self._pending.extend(rows)

    def commit(self) -> dict[str, int]:
        import pyarrow.parquet as pq

        if self._pending:
            if self.schema is None:
                self.schema = parquet_schema(self.columns, self._pending, self.known)
            table = _to_table(self._pending, self.schema)
            part = self.folder / PART_PATTERN.format(self.parts + 1)
            tmp = part.with_name(part.name + ".tmp")
            with open(tmp, "wb") as handle:
                pq.write_table(table, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, part)
            fsync_dir(self.folder)
            self.parts += 1
            self._pending = []
        return {"parts": self.parts}

    def finish(self) -> None:
        """Merge the parts, in order, into ``target`` (written beside it, then renamed)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.commit()
        schema = self.schema or parquet_schema(self.columns, [], self.known)
        tmp = self.target.with_name(self.target.name + ".tmp")
        with open(tmp, "wb") as handle:
            writer = pq.ParquetWriter(handle, schema)
            pending: list[pa.Table] = []
            rows = 0
            for number in range(1, self.parts + 1):
                table = pq.read_table(self.folder / PART_PATTERN.format(number))
                pending.append(table)
                rows += table.num_rows
                if rows >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
                    pending, rows = [], 0
            if pending or self.parts == 0:
                writer.write_table(
                    pa.concat_tables(pending) if pending else schema.empty_table(),
                    row_group_size=ROW_GROUP_ROWS,
                )
            writer.close()
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.target)

    def close(self) -> None:
        """Nothing is open between commits."""


class ParquetStreamSink:
    """Parquet to a stream (stdout): row groups of :data:`ROW_GROUP_ROWS`, not resumable."""

    def __init__(self, handle: IO[bytes], columns: Sequence[str], known: pa.Schema | None) -> None:
        self._handle = handle
        self.columns = list(columns)
        self.known = known
        self._writer: Any = None
        self._pending: list[dict[str, Any]] = []

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self._pending.extend(rows)
        if len(self._pending) >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            schema = parquet_schema(self.columns, self._pending, self.known)
            self._writer = pq.ParquetWriter(self._handle, schema)
        if self._pending:
            self._writer.write_table(_to_table(self._pending, self._writer.schema))
            self._pending = []

    def commit(self) -> dict[str, int]:
        return {}

    def finish(self) -> None:
        self._flush()
        self._writer.close()
        self._handle.flush()

    def close(self) -> None:
        """The stream belongs to the caller."""
