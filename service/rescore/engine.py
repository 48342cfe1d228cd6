"""The local engine: one model in this process, reading and tokenising overlapped with inference.

A reader thread reads the next chunk and tokenises it while the main thread runs the
current one through ONNX Runtime (which releases the GIL while it computes), so the cores
spend their time on the model. At most two chunks are in memory at once, whatever the
size of the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from model.classifier import Classifier, Prediction
from service.rescore.scoring import Prepared, prepare, score, text_problem
from service.rescore.sources import Chunk, Position, RowSource


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk with each row's problem (None if scored) and prediction (None if rejected)."""

    chunk: Chunk
    problems: list[str | None]
    predictions: list[Prediction | None]


def check_chunk(chunk: Chunk, text_column: str) -> tuple[list[object], list[str | None]]:
    """The text of each row and why it cannot be scored (None where it can)."""
    texts = [row.get(text_column) for row in chunk.rows]
    problems = [
        text_problem(row, text_column, chunk.broken.get(i)) for i, row in enumerate(chunk.rows)
    ]
    return texts, problems


def score_locally(
    source: RowSource, start: Position, size: int, classifier: Classifier, text_column: str
) -> Iterator[ScoredChunk]:
    """Scored chunks of ``source`` from ``start`` on, in input order."""
    chunks = source.chunks(size, start)

    def read_next() -> tuple[Chunk, Prepared] | None:
        # Runs in the reader thread; one worker, so the chunk iterator is never shared.
        chunk = next(chunks, None)
        if chunk is None:
            return None
        texts, problems = check_chunk(chunk, text_column)
        return chunk, prepare(texts, problems, classifier.encoder)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rescore-reader") as reader:
        pending = reader.submit(read_next)
        while (ready := pending.result()) is not None:
            pending = reader.submit(read_next)
            chunk, prepared = ready
            yield ScoredChunk(chunk, prepared.problems, score(prepared, classifier))
