"""Dynamic micro-batching: concurrent requests share model runs.

Requests put their texts on a bounded queue and await a future. One worker task takes
everything waiting (up to ``max_size`` texts, after at most ``max_wait`` for company when
the queue was empty), runs the model on a dedicated thread so the event loop stays free,
and hands each request its rows. Inside a run the classifier splits the texts into
length-bucketed batches under a padded-token budget, so one long comment does not pad a
batch of short ones. When the queue is full, ``submit`` raises ``Overloaded`` at once
instead of letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from service.errors import Overloaded

log = logging.getLogger(__name__)

ScoreFn = Callable[[Sequence[str]], tuple[np.ndarray, list[bool]]]


@dataclass
class _Job:
    texts: Sequence[str]
    future: asyncio.Future[tuple[np.ndarray, list[bool]]]
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    """Hooks the metrics module fills in; plain callables keep this module free of it."""

    on_batch: Callable[[int, float], None] = lambda size, seconds: None
    on_queue: Callable[[int], None] = lambda depth: None


class MicroBatcher:
    def __init__(
        self,
        score: ScoreFn,
        max_size: int = 64,
        max_wait_ms: float = 2.0,
        max_queue: int = 2048,
        stats: BatchStats | None = None,
    ) -> None:
        self._score = score
        self.max_size = max_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.stats = stats or BatchStats()
        self._jobs: deque[_Job] = deque()
        self._queued = 0  # texts waiting, not yet taken by the worker
        self._wakeup = asyncio.Event()
        self._closing = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._worker: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return self._queued

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="micro-batcher")

    async def submit(self, texts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        """Calibrated scores and truncation flags for ``texts``, computed with other requests'."""
        if self._closing:
            raise Overloaded("the service is shutting down; retry on another replica")
        if self._queued + len(texts) > self.max_queue:
            raise Overloaded(
                f"the model queue is full ({self._queued} texts waiting); retry shortly"
            )
        job = _Job(texts, asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        self._queued += len(texts)
        self.stats.on_queue(self._queued)
        self._wakeup.set()
        return await job.future

    def _take(self) -> list[_Job]:
        taken: list[_Job] = []
        size = 0
        while self._jobs and (not taken or size + len(self._jobs[0].texts) <= self.max_size):
            job = self._jobs.popleft()
            if job.future.cancelled():  # the client went away while it waited
                self._queued -= len(job.texts)
                continue
            taken.append(job)
            size += len(job.texts)
        self._queued -= size
        self.stats.on_queue(self._queued)
        return taken

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._jobs:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                # Idle until now: give concurrent requests a moment to arrive and share the
                # run. When busy, requests pile up during the previous run instead.
                if self.max_wait and self._queued < self.max_size and not self._closing:
                    await asyncio.sleep(self.max_wait)
                continue
            jobs = self._take()
            if not jobs:
                continue
            texts = [text for job in jobs for text in job.texts]
            started = time.perf_counter()
            try:
                probs, truncated = await loop.run_in_executor(self._executor, self._score, texts)
            except Exception as exc:  # handed to every waiting request, which answers 500
                log.exception("inference failed for a batch of %d texts", len(texts))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.stats.on_batch(len(texts), time.perf_counter() - started)
            start = 0
            for job in jobs:
                end = start + len(job.texts)
                if not job.future.done():
                    job.future.set_result((probs[start:end], truncated[start:end]))
                start = end

    async def close(self) -> None:
        """Finish every queued job, then stop the worker and its thread."""
        self._closing = True
        self._wakeup.set()
        if self._worker is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._executor.shutdown(wait=True)
