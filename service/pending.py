"""The background worker: labels the stored comments that are still pending.

A comment is pending while it has no prediction at all: it was stored while the model
was loading, overloaded or failing. (Re-labelling history under a new model is the job of
``feedback-classifier rescore --from-db``, not of the serving process.) The worker looks once the model and the database are up (so a restart
resumes pending work), whenever a webhook leaves comments pending, and every
``FEEDBACK_PENDING_INTERVAL_S``. Busy model or database: it backs off and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from service.errors import StorageUnavailable
from service.labelling import NotLabelled, label
from service.storage import repository as repo

if TYPE_CHECKING:
    from service.runtime import Runtime

log = logging.getLogger(__name__)

# A comment the model fails on this many times is left alone until the next restart.
MAX_ATTEMPTS = 5
FIRST_BACKOFF_S = 0.5


class PendingWorker:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures: dict[int, int] = {}
        self.labelled = 0  # comments this worker labelled since start

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pending-worker")

    def notify(self) -> None:
        """Some comments were left pending: look soon."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await self.runtime.wait_model()
        if not self.runtime.ready:
            log.error("the model did not load: pending comments stay unlabelled")
            return
        await self.runtime.db.wait_open()
        interval = self.runtime.settings.pending_interval_s
        backoff = 0.0
        while True:
            self._wake.clear()
            try:
                done = await self.drain()
            except (NotLabelled, StorageUnavailable) as exc:
                backoff = min(interval, backoff * 2 or FIRST_BACKOFF_S)
                log.info("pending comments wait %.1f s more: %s", backoff, exc)
                await asyncio.sleep(backoff)
                continue
            backoff = 0.0
            if done:
                log.info("labelled %d pending comment(s)", done)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)

    async def drain(self) -> int:
        """Label every pending comment once, oldest first; how many were labelled."""
        assert self.runtime.classifier is not None
        size = self.runtime.settings.pending_batch_size
        after, done = 0, 0
        while True:
            batch = await self.runtime.db.run(repo.pending_comments, None, after, size)
            if not batch:
                return done
            after = batch[-1].comment_id
            todo = [c for c in batch if self._failures.get(c.comment_id, 0) < MAX_ATTEMPTS]
            done += await self._label(todo)

    async def _label(self, batch: Sequence[repo.PendingComment]) -> int:
        try:
            stored = await label(self.runtime, batch)
        except NotLabelled as exc:
            if exc.reason != "model_error" or not batch:
                raise
            if len(batch) > 1:  # find the comment the model fails on; label the others
                return sum([await self._label([comment]) for comment in batch])
            comment_id = batch[0].comment_id
            failures = self._failures[comment_id] = self._failures.get(comment_id, 0) + 1
            log.warning("the model failed on comment %d (attempt %d)", comment_id, failures)
            if failures == MAX_ATTEMPTS:
                log.error("comment %d stays pending until restart: %s", comment_id, exc)
            return 0
        self.labelled += len(stored)
        self.runtime.metrics.pending_labelled.inc(len(stored))
        return len(stored)
