"""A re-scoring run from start to end: open the input, check it, score it chunk by chunk with
an engine, write output and rejects, checkpoint after each chunk, and finish atomically.

The engine (local or Ray) only turns chunks into predictions; everything a user sees,
(output, rejects, resume, progress) is decided here, so both engines behave the same.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from model.artifact import DEFAULT_ARTIFACT, read_meta
from service.rescore.checkpoint import Checkpoint, WorkDir, move_into_place, open_output
from service.rescore.engine import ScoredChunk, score_locally
from service.rescore.errors import RescoreError
from service.rescore.progress import Progress
from service.rescore.scoring import ADDED_COLUMNS, output_row
from service.rescore.sinks import (
    CsvSink,
    JsonlSink,
    ParquetPartsSink,
    ParquetStreamSink,
    Sink,
    csv_cell,
)
from service.rescore.sources import (
    JSONL_COLUMN_SCAN,
    STDIO,
    ParquetSource,
    Position,
    RowSource,
    open_source,
)

log = logging.getLogger("service.rescore")

DEFAULT_CHUNK_ROWS = 1024
# Scored chunks of a source from a position on, in input order, in chunks of a size.
Engine = Callable[[RowSource, Position, int], Iterator[ScoredChunk]]
ENGINES = ("local", "ray")
# What must match for --resume to continue an unfinished run.
_RESUME_KEYS = (
    "input",
    "input_size",
    "input_mtime_ns",
    "input_format",
    "output_format",
    "text_column",
    "id_column",
    "model_version",
)


@dataclass(frozen=True)
class RescoreJob:
    """Everything a run needs; ``input``/``output`` are paths or ``-`` (stdin/stdout)."""

    input: str
    output: str
    input_format: str
    output_format: str
    text_column: str = "text"
    id_column: str | None = None
    # default: <OUTPUT>.rejects.csv; none when writing to stdout unless given
    rejects: Path | None = None
    model: Path = DEFAULT_ARTIFACT
    chunk_size: int = DEFAULT_CHUNK_ROWS
    threads: int | None = None
    resume: bool = False
    engine: str = "local"
    ray_address: str | None = None
    workers: int | None = None

    @property
    def rejects_path(self) -> Path | None:
        if self.rejects is not None:
            return self.rejects
        return None if self.output == STDIO else Path(self.output + ".rejects.csv")


@dataclass(frozen=True)
class Summary:
    """What a run did; ``rows`` and ``rejected`` include rows done before a resume."""

    rows: int
    rejected: int
    rows_this_run: int
    seconds: float
    output: str
    rejects: Path | None

    def line(self) -> str:
        rate = self.rows_this_run / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"rescored {self.rows:,} rows ({self.rows_this_run:,} in this run, "
            f"{self.seconds:.1f} s, {rate:,.0f} rows/s): "
            f"{self.rows - self.rejected:,} labelled, {self.rejected:,} rejected"
        )
        if self.rejects is not None:
            text += f" (listed in {self.rejects})"
        elif self.rejected:
            text += " (pass --rejects FILE to list them)"
        return text + f"; output: {'stdout' if self.output == STDIO else self.output}"


def run_job(
    job: RescoreJob,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[str] | None = None,
) -> Summary:
    """Run ``job``; streams are the process's own unless given (tests pass their own).

    >>> run_job(RescoreJob("history.csv", "labelled.csv", "csv", "csv"))  # doctest: +SKIP
    Summary(rows=20000, rejected=3, ...)
    """
    began = time.monotonic()
    if job.output == STDIO and job.resume:
        raise RescoreError("output to stdout cannot be resumed; write to a file to use --resume")
    source = open_source(job.input, job.input_format, stdin)
    try:
        check_columns(source, job)
        version = read_meta(job.model).version
        identity = _identity(job, version)
        # Load the model first: if it cannot be, no OUTPUT.partial/ is left behind.
        engine = open_engine(job)
        out = _Output(job, source, identity, stdout)
        try:
            checkpoint = out.checkpoint
            job = replace(job, chunk_size=int(checkpoint.job["chunk_size"]))
            start = Position(checkpoint.rows, checkpoint.input_offset)
            progress = Progress(
                stderr or sys.stderr,
                done=checkpoint.rows,
                rejected=checkpoint.rejected,
                total_rows=source.total_rows,
                size_bytes=source.size_bytes,
            )
            try:
                if not checkpoint.complete:
                    for scored in engine(source, start, job.chunk_size):
                        rejected = out.write(scored, version)
                        progress.advance(len(scored.chunk.rows), rejected, scored.chunk.next.offset)
            finally:
                progress.close()
            out.finish()
        finally:
            out.close()
    finally:
        source.close()
    return Summary(
        rows=checkpoint.rows,
        rejected=checkpoint.rejected,
        rows_this_run=checkpoint.rows - start.rows,
        seconds=time.monotonic() - began,
        output=job.output,
        rejects=job.rejects_path,
    )


def check_columns(source: RowSource, job: RescoreJob) -> None:
    """The named columns exist; the error lists those found."""
    if not source.columns and source.total_rows == 0:
        return  # nothing to score: an empty JSON Lines file names no columns
    for option, column in (("--text-column", job.text_column), ("--id-column", job.id_column)):
        if column is not None and column not in source.columns:
            raise RescoreError(
                f"{source.name} has no column {column!r}; found {source.columns}; "
                f"pass {option} to name yours"
            )
    replaced = [c for c in source.columns if c in ADDED_COLUMNS]
    if replaced:
        log.warning("input columns %s are replaced by the new scores", replaced)


def _identity(job: RescoreJob, version: str) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "input": job.input,
        "input_size": None,
        "input_mtime_ns": None,
        "input_format": job.input_format,
        "output_format": job.output_format,
        "text_column": job.text_column,
        "id_column": job.id_column,
        "model_version": version,
        "chunk_size": job.chunk_size,
    }
    if job.input != STDIO:
        stat = Path(job.input).stat()
        identity.update(
            input=str(Path(job.input).resolve()),
            input_size=stat.st_size,
            input_mtime_ns=stat.st_mtime_ns,
        )
    return identity


def open_engine(job: RescoreJob) -> Engine:
    """The engine ``job`` names, with its model loaded (local) or ready to ship (Ray)."""
    if job.engine == "ray":
        from service.rescore.ray_engine import ray_engine

        return ray_engine(job)
    if job.engine != "local":
        raise RescoreError(f"unknown engine {job.engine!r}; choose one of {', '.join(ENGINES)}")
    from model.classifier import Classifier

    # A batch job usually shares its cores; spinning threads would halve its speed then.
    classifier = Classifier.load(job.model, threads=job.threads, spin=False)

    def local(source: RowSource, start: Position, size: int) -> Iterator[ScoredChunk]:
        return score_locally(source, start, size, classifier, job.text_column)

    return local


class _Output:
    """The output and rejects of a run, and its checkpoint when writing to a file."""

    def __init__(
        self, job: RescoreJob, source: RowSource, identity: dict[str, Any], stdout: IO[bytes] | None
    ) -> None:
        self.job = job
        self.sink: Sink | None = None
        self.rejects: CsvSink | None = None
        columns = [c for c in source.columns if c not in ADDED_COLUMNS] + list(ADDED_COLUMNS)
        self.known_columns = set(source.columns)
        # JSON Lines keys first seen after the column scan fit only a JSON Lines output.
        self.check_keys = job.input_format == "jsonl" and job.output_format != "jsonl"
        self.warned: set[str] = set()
        known = source.schema if isinstance(source, ParquetSource) else None
        reject_columns = ["row", *([job.id_column] if job.id_column else []), "reason"]
        self.workdir: WorkDir | None = None
        rejects_path = job.rejects_path
        if job.output == STDIO:
            self.checkpoint = Checkpoint(identity)
            stream = stdout if stdout is not None else sys.stdout.buffer
            self.sink = _stream_sink(job.output_format, stream, columns, known)
            if rejects_path is not None:
                handle = open_output(rejects_path, None)
                self.rejects = CsvSink(handle, reject_columns, True, header=True)
            return
        workdir = self.workdir = WorkDir(Path(job.output))
        if job.resume:
            self.checkpoint = workdir.load()
            _check_resumable(self.checkpoint, identity, workdir)
        else:
            workdir.create()
            self.checkpoint = Checkpoint(identity)
            workdir.save(self.checkpoint)
        if self.checkpoint.complete:
            return  # only the final renames are left
        resumed = job.resume
        fmt = job.output_format
        if fmt == "parquet":
            parts = self.checkpoint.output.get("parts", 0)
            self.sink = ParquetPartsSink(
                workdir.parts, workdir.data_file(fmt), columns, known, parts
            )
        else:
            data = workdir.data_file(fmt)
            handle = open_output(data, self.checkpoint.output["bytes"] if resumed else None)
            if fmt == "csv":
                self.sink = CsvSink(handle, columns, True, header=not resumed)
            else:
                self.sink = JsonlSink(handle, True)
        handle = open_output(workdir.rejects, self.checkpoint.rejects["bytes"] if resumed else None)
        self.rejects = CsvSink(handle, reject_columns, True, header=not resumed)
        self._commit()  # headers are part of the first checkpointed state

    def write(self, scored: ScoredChunk, version: str) -> int:
        """Write one scored chunk and checkpoint it; returns how many of its rows were rejected."""
        chunk = scored.chunk
        rows = [
            output_row(row, prediction, version)
            for row, prediction in zip(chunk.rows, scored.predictions, strict=True)
        ]
        if self.check_keys:
            self._warn_unknown_keys(chunk.rows, chunk.start)
        rejects = [
            self._reject(chunk.start + i + 1, chunk.rows[i], problem)
            for i, problem in enumerate(scored.problems)
            if problem is not None
        ]
        assert self.sink is not None, "a complete run has nothing left to write"
        self.sink.write(rows)
        if self.rejects is not None:
            self.rejects.write(rejects)
        position = chunk.next
        self.checkpoint.rows = position.rows
        self.checkpoint.input_offset = position.offset
        self.checkpoint.rejected += len(rejects)
        self._commit()
        return len(rejects)

    def _reject(self, number: int, row: dict[str, Any], reason: str) -> dict[str, Any]:
        reject: dict[str, Any] = {"row": number, "reason": reason}
        if self.job.id_column:
            reject[self.job.id_column] = csv_cell(row.get(self.job.id_column))
        return reject

    def _warn_unknown_keys(self, rows: list[dict[str, Any]], start: int) -> None:
        for i, row in enumerate(rows):
            for key in row.keys() - self.known_columns - self.warned:
                self.warned.add(key)
                log.warning(
                    "column %r first appears at row %d, after the first %d rows that set the "
                    "output's columns; the %s output leaves it out (JSON Lines output keeps it)",
                    key,
                    start + i + 1,
                    JSONL_COLUMN_SCAN,
                    self.job.output_format,
                )

    def _commit(self) -> None:
        output = self.sink.commit() if self.sink is not None else {}
        rejects = self.rejects.commit() if self.rejects is not None else {}
        if self.workdir is not None:
            self.checkpoint.output = output
            self.checkpoint.rejects = rejects
            self.workdir.save(self.checkpoint)

    def finish(self) -> None:
        """Complete the output; for a file, rename output and rejects into place atomically."""
        for sink in (self.sink, self.rejects):
            if sink is not None:
                sink.finish()
        if self.workdir is None:
            return
        workdir = self.workdir
        self.checkpoint.complete = True
        workdir.save(self.checkpoint)
        data = workdir.data_file(self.job.output_format)
        rejects_path = self.job.rejects_path
        # Rejects first: once the output exists, everything about the run is in place.
        if workdir.rejects.exists() and rejects_path is not None:
            move_into_place(workdir.rejects, rejects_path)
        if data.exists():
            move_into_place(data, Path(self.job.output))
        workdir.remove()
        self.workdir = None

    def close(self) -> None:
        """Release the files of a run that failed; what it committed stays for --resume."""
        for sink in (self.sink, self.rejects):
            if sink is not None:
                sink.close()


def _stream_sink(fmt: str, stream: IO[bytes], columns: list[str], known: Any) -> Sink:
    if fmt == "csv":
        return CsvSink(stream, columns, False, True)
    if fmt == "jsonl":
        return JsonlSink(stream, False)
    return ParquetStreamSink(stream, columns, known)


def _check_resumable(checkpoint: Checkpoint, identity: dict[str, Any], workdir: WorkDir) -> None:
    before = checkpoint.job
    changed = [key for key in _RESUME_KEYS if before.get(key) != identity.get(key)]
    if not changed:
        return
    if any(key.startswith("input") and key != "input_format" for key in changed):
        detail = f"the input changed since the unfinished run ({before['input']})"
    else:
        detail = "; ".join(f"{k} was {before.get(k)!r}, now {identity.get(k)!r}" for k in changed)
    raise RescoreError(
        f"cannot resume {workdir.path}: {detail}; rerun with the same options, "
        "or delete that folder to start again"
    )
