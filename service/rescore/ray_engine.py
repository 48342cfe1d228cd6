"""The Ray engine: Ray Data reads the input on the cluster, a pool of actors (one model each)
scores it, and this process writes the results in input order, like the local engine.

Why a datasource of our own instead of ``ray.data.read_csv``: Ray's readers cut a file
into blocks by bytes, and the int8 model's scores depend a little on batch mates, so the
same row could score differently from the local engine. Here every block is one chunk of
``--chunk-size`` rows at the same boundaries as the local engine, parsed by the same code
(CSV values stay strings, broken rows become rejects), so both engines agree row for row.
The price is one pass over a CSV or JSON Lines file on the driver to find where each chunk
starts (Parquet needs none); that pass is fast next to scoring.

The model travels with the job (a few tens of MB through Ray's object store), so workers
need no copy of the artifact; they need this package installed, and the input file at the
same path (shared storage).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import math
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.classifier import Classifier, Prediction
from model.labels import LABELS
from service.rescore.engine import ScoredChunk, check_chunk
from service.rescore.errors import RescoreError
from service.rescore.scoring import SCORE_COLUMNS, prepare, score
from service.rescore.sources import (
    STDIO,
    Chunk,
    ParquetSource,
    Position,
    RowSource,
    open_source,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from service.rescore.job import Engine, RescoreJob

log = logging.getLogger("service.rescore")

DEFAULT_WORKER_THREADS = 1
# Most chunks one read task reads (one block), unless that makes over MAX_READ_TASKS tasks.
CHUNKS_PER_READ_TASK = 16
MAX_READ_TASKS = 2000
_MODEL_FILES = (
    "artifact.json",
    "build/manifest.json",
    "build/model.int8.onnx",
    "build/tokenizer.json",
)


def ray_engine(job: RescoreJob) -> Engine:
    """The Ray engine for ``job``: checks Ray is installed and reads the model to ship."""
    if job.input == STDIO:
        raise RescoreError("--engine ray reads files on the cluster; stdin needs --engine local")
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise RescoreError(
            "--engine ray needs Ray: pip install 'feedback-classifier[ray]'"
        ) from exc
    model = model_files(job.model)

    def on_ray(source: RowSource, start: Position, size: int) -> Iterator[ScoredChunk]:
        return score_with_ray(replace(job, chunk_size=size), source, start, model)

    return on_ray


def score_with_ray(
    job: RescoreJob, source: RowSource, start: Position, model: dict[str, bytes]
) -> Iterator[ScoredChunk]:
    """Scored chunks of ``job.input`` from ``start`` on, in input order, scored on Ray."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    threads = job.threads or DEFAULT_WORKER_THREADS
    starts, ends = plan_chunks(source, start, job.chunk_size)
    if not starts:
        return  # nothing (left) to score
    log.info("%d chunks of %d rows to score on Ray", len(starts), job.chunk_size)
    started = _connect(ray, job.ray_address)
    try:
        context = DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False  # ours reports rows/s and ETA
        # Blocks are never cut by size, so a chunk is never split between two batches:
        # a read task's output (at most CHUNKS_PER_READ_TASK chunks) stays one block.
        context.target_max_block_size = None
        workers = job.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
        tasks = read_tasks(len(starts), workers)
        datasource = chunk_datasource(
            str(Path(job.input).resolve()),
            job.input_format,
            source.columns,
            job.text_column,
            job.chunk_size,
            starts,
            ends,
        )
        # Exactly `tasks` read tasks: with fewer than asked for, Ray would split their
        # blocks to reach its parallelism. Reading is light next to scoring, so read tasks
        # reserve no CPU and the scoring actors cannot starve them (a deadlock on 2 cores).
        dataset = ray.data.read_datasource(
            datasource, override_num_blocks=tasks, num_cpus=0
        ).map_batches(
            ChunkScorer,
            fn_constructor_kwargs={
                "model": ray.put(model),
                "threads": threads,
                "size": job.chunk_size,
            },
            batch_size=None,  # a whole block: whole chunks, scored one by one
            batch_format="pyarrow",
            compute=ActorPoolStrategy(size=min(workers, tasks)),
            num_cpus=threads,
        )
        batches = dataset.iter_batches(batch_size=None, batch_format="pyarrow")
        yield from regroup(batches, start, job.chunk_size, ends)
    finally:
        if started:
            ray.shutdown()


def read_tasks(chunks: int, workers: int) -> int:
    """Read tasks for ``chunks`` chunks: a few per worker, each of 1 to 16 chunks.

    >>> read_tasks(4, 2), read_tasks(10_000, 8)
    (4, 625)
    """
    per_task = min(CHUNKS_PER_READ_TASK, max(1, math.ceil(chunks / (4 * workers))))
    per_task = max(per_task, math.ceil(chunks / MAX_READ_TASKS))
    return math.ceil(chunks / per_task)


def _connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address``, or start a local Ray on this machine's cores.

    Returns whether this call started Ray (and so should shut it down).
    """
    from model.backends.onnx import available_cores

    if ray.is_initialized():
        return False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        # "local" starts a new Ray even where RAY_ADDRESS names a cluster (--ray-address is for that).
        ray.init(
            address="local",
            num_cpus=available_cores(),
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    return True


def plan_chunks(
    source: RowSource, start: Position, size: int
) -> tuple[list[Position], list[Position]]:
    """Where each chunk from ``start`` on begins and ends, so read tasks can seek to them."""
    if isinstance(source, ParquetSource) and source.total_rows is not None:
        total = source.total_rows
        firsts = range(start.rows, total, size)
        return [Position(r) for r in firsts], [Position(min(r + size, total)) for r in firsts]
    starts, ends = [], []
    begin = start
    for chunk in source.chunks(size, start):
        starts.append(begin)
        ends.append(chunk.next)
        begin = chunk.next
    return starts, ends


def model_files(artifact: Path) -> dict[str, bytes]:
    """The files a worker needs to load the int8 model (built here first if need be)."""
    from model.backends import required_files
    from model.build import ensure_built

    build = ensure_built(artifact, files=required_files("onnx"))
    files = {"artifact.json": (artifact / "artifact.json").read_bytes()}
    for name in _MODEL_FILES[1:]:
        files[name] = (build / Path(name).name).read_bytes()
    return files


def _install_model(files: dict[str, bytes]) -> Path:
    """Write the shipped model once per node into the user cache; later workers reuse it."""
    digest = hashlib.sha256(files["build/model.int8.onnx"]).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = cache / "feedback-classifier" / "ray-models" / digest
    if (target / "build" / "manifest.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=target.parent))
    try:
        for name, data in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        try:
            staging.rename(target)
        except OSError:  # another worker on this node installed it first
            if not (target / "build" / "manifest.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


_DATASOURCE: Any = None


def chunk_datasource(*args: Any) -> Any:
    """A Ray Data datasource with one block per chunk, read by our own parsers (see above).

    The class derives from ``ray.data.Datasource``, so it is made on first use: importing
    this module does not import Ray.
    """
    global _DATASOURCE
    if _DATASOURCE is None:
        _DATASOURCE = _datasource_class()
    return _DATASOURCE(*args)


def _datasource_class() -> Any:
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class _ChunkDatasource(Datasource):
        def __init__(
            self,
            path: str,
            fmt: str,
            columns: list[str],
            text_column: str,
            size: int,
            starts: list[Position],
            ends: list[Position],
        ) -> None:
            super().__init__()
            self.path, self.fmt, self.columns = path, fmt, columns
            self.text_column, self.size = text_column, size
            self.starts, self.ends = starts, ends

        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
        ) -> list[Any]:
            # Exactly `parallelism` tasks (the caller asks for no more than there are chunks).
            count = len(self.starts)
            tasks = max(1, min(parallelism, count))
            bounds = [round(i * count / tasks) for i in range(tasks + 1)]
            out = []
            for first, stop in itertools.pairwise(bounds):
                if first == stop:
                    continue
                rows = self.ends[stop - 1].rows - self.starts[first].rows
                read = functools.partial(
                    read_blocks,
                    self.path,
                    self.fmt,
                    self.columns,
                    self.text_column,
                    self.size,
                    self.starts[first],
                    stop - first,
                )
                meta = BlockMetadata(
                    num_rows=rows, size_bytes=None, input_files=(self.path,), exec_stats=None
                )
                out.append(ReadTask(read, meta))
            return out

    return _ChunkDatasource


def read_blocks(
    path: str,
    fmt: str,
    columns: list[str],
    text_column: str,
    size: int,
    first: Position,
    count: int,
) -> Iterator[pa.Table]:
    """``count`` chunks from ``first`` on, each as one block (runs in a Ray read task)."""
    source = open_source(path, fmt, columns=columns)
    try:
        for chunk in itertools.islice(source.chunks(size, first), count):
            yield chunk_block(chunk, text_column)
    finally:
        source.close()


def chunk_block(chunk: Chunk, text_column: str) -> pa.Table:
    """A chunk as an Arrow block: row number, text to score, problem, and the row pickled.

    The row travels pickled because JSON Lines rows have no fixed column types; the
    driver writes it back exactly as the local engine would.
    """
    import pyarrow as pa

    texts, problems = check_chunk(chunk, text_column)
    first = chunk.start + 1
    return pa.table(
        {
            "row": pa.array(range(first, first + len(chunk.rows)), pa.int64()),
            "text": pa.array(
                [t if p is None else None for t, p in zip(texts, problems, strict=True)],
                pa.string(),
            ),
            "problem": pa.array(problems, pa.string()),
            "record": pa.array([pickle.dumps(row, protocol=5) for row in chunk.rows], pa.binary()),
        }
    )


class ChunkScorer:
    """A Ray actor holding one model; scores whole chunks exactly as the local engine does."""

    def __init__(self, model: Any, threads: int, size: int) -> None:
        import ray

        files = ray.get(model) if isinstance(model, ray.ObjectRef) else model
        self.classifier = Classifier.load(_install_model(files), threads=threads, spin=False)
        self.size = size

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        rows = batch.column("row").to_pylist()
        texts = batch.column("text").to_pylist()
        problems = batch.column("problem").to_pylist()
        predictions: list[Prediction | None] = []
        # Score chunk by chunk even if Ray ever hands over more than one per batch.
        for _, group in itertools.groupby(
            range(len(rows)), key=lambda i: (rows[i] - 1) // self.size
        ):
            index = list(group)
            prepared = prepare(
                [texts[i] for i in index], [problems[i] for i in index], self.classifier.encoder
            )
            predictions += score(prepared, self.classifier)
        columns: dict[str, pa.Array] = {
            "label": pa.array([p.label if p else None for p in predictions], pa.string()),
            "truncated": pa.array([p.truncated if p else None for p in predictions], pa.bool_()),
        }
        for label, name in zip(LABELS, SCORE_COLUMNS, strict=True):
            columns[name] = pa.array(
                [p.scores[label] if p else None for p in predictions], pa.float64()
            )
        out = batch.drop_columns(["text"])
        for name, values in columns.items():
            out = out.append_column(name, values)
        return out


def regroup(
    batches: Any, start: Position, size: int, ends: list[Position]
) -> Iterator[ScoredChunk]:
    """Turn the scored blocks coming back (in order) into the chunks the writer expects."""
    current: list[dict[str, Any]] = []
    index = 0

    def emit(buffer: list[dict[str, Any]], k: int) -> ScoredChunk:
        chunk = Chunk(
            start.rows + k * size,
            [pickle.loads(item["record"]) for item in buffer],  # our own pickles, from read_blocks
            end=ends[k],
        )
        problems = [item["problem"] for item in buffer]
        predictions = [
            None
            if item["label"] is None
            else Prediction(
                item["label"],
                {label: item[name] for label, name in zip(LABELS, SCORE_COLUMNS, strict=True)},
                item["truncated"],
            )
            for item in buffer
        ]
        return ScoredChunk(chunk, problems, predictions)

    for batch in batches:
        for item in batch.to_pylist():
            k = (item["row"] - 1 - start.rows) // size
            if k != index:
                yield emit(current, index)
                current, index = [], k
            current.append(item)
    if current:
        yield emit(current, index)
