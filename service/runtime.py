"""What a running app holds: settings, metrics, the classifier and its micro-batcher, the
database, the pending-comment worker and the outbound callbacks.

The classifier loads in the background once the app starts, so ``/healthz`` answers at
once and ``/readyz`` says 503 until the model is loaded and warm. The database is
migrated in the background too; until it is, storage routes answer 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx
import numpy as np

from model.artifact import ArtifactMeta
from model.bucketing import CALL_COST_TOKENS
from model.classifier import Classifier, to_prediction
from model.labels import LABELS
from service.batching import BatchStats, MicroBatcher
from service.callbacks import CallbackSender
from service.errors import NotReady
from service.metrics import Metrics
from service.pending import PendingWorker
from service.settings import Settings
from service.storage.database import Database
from service.webhooks import PROVIDERS

log = logging.getLogger(__name__)

# A few comments of typical lengths: the first runs allocate ONNX Runtime's buffers.
WARMUP_TEXTS = (
    "ok",
    "Thanks, sorted quickly.",
    "Waited forty minutes on hold and then the line went dead. Nobody called back.",
    "She rang me on her day off to tell me the part had come in, and had already booked "
    "the fitting for the morning that suited me. I did not expect any of that.",
)


class Scorer(Protocol):
    """The part of ``model.Classifier`` the service uses (tests pass a small fake)."""

    meta: ArtifactMeta

    @property
    def version(self) -> str: ...

    def predict_scores(
        self,
        texts: Sequence[str],
        batch_size: int = ...,
        batch_tokens: int = ...,
        call_cost: int | None = ...,
    ) -> tuple[np.ndarray, list[bool]]: ...


Loader = Callable[[Settings], Scorer]


def load_classifier(settings: Settings) -> Scorer:
    return Classifier.load(settings.model_path, backend=settings.backend, threads=settings.threads)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        loader: Loader,
        callback_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self._loader = loader
        self.classifier: Scorer | None = None
        self.batcher: MicroBatcher | None = None
        self.load_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._db_task: asyncio.Task[None] | None = None
        self._callback_transport = callback_transport
        self._fresh_workers()

    def _fresh_workers(self) -> None:
        """The database, pending worker and callback sender of one start-stop cycle."""
        self.db = Database(self.settings)
        self.pending = PendingWorker(self)
        self.callbacks = (
            CallbackSender(self.settings, self.metrics, self._callback_transport)
            if self.settings.callback_url
            else None
        )
        self._closed = False

    @property
    def ready(self) -> bool:
        return self.batcher is not None

    def start(self) -> None:
        # An app whose lifespan ran before (test harnesses restart them) gets new workers:
        # the old ones' threads and connections were shut down with it.
        if self._closed:
            self._fresh_workers()
        self._task = asyncio.create_task(self._load(), name="load-model")
        self._db_task = asyncio.create_task(self.db.open(), name="open-database")
        self.pending.start()
        if self.callbacks is not None:
            self.callbacks.start()

    async def _load(self) -> None:
        started = time.perf_counter()
        try:
            classifier = await asyncio.to_thread(self._loader, self.settings)
            await asyncio.to_thread(classifier.predict_scores, list(WARMUP_TEXTS))
        except Exception as exc:  # noqa: BLE001 - reported on /readyz and in the log
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.error("the model failed to load: %s", self.load_error)
            return
        stats = BatchStats(
            on_batch=self.metrics.observe_batch, on_queue=self.metrics.queue_depth.set
        )
        batcher = MicroBatcher(
            # Each run holds whatever requests were waiting, of any lengths: cut it into
            # batches of similar length (a third less work for 32 typical comments).
            lambda texts: classifier.predict_scores(
                texts,
                self.settings.batch_max_size,
                self.settings.batch_max_tokens,
                call_cost=CALL_COST_TOKENS,
            ),
            max_size=self.settings.batch_max_size,
            max_wait_ms=self.settings.batch_max_wait_ms,
            max_queue=self.settings.queue_max_texts,
            stats=stats,
        )
        batcher.start()
        self.classifier, self.batcher = classifier, batcher
        self.metrics.ready.set(1)
        log.info(
            "model %s %s ready in %.2f s (backend %s)",
            classifier.meta.model_id,
            classifier.version,
            time.perf_counter() - started,
            self.settings.backend,
        )

    async def wait_model(self) -> None:
        """Until the model has loaded or failed to."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def wait_ready(self) -> None:
        """Until the model has loaded (or failed to) and the database is migrated."""
        await self.wait_model()
        if self._db_task is not None:
            await asyncio.shield(self._db_task)

    async def close(self) -> None:
        for task in (self._task, self._db_task):
            if task is not None and not task.done():
                task.cancel()
        await self.pending.close()
        if self.batcher is not None:
            await self.batcher.close()
        if self.callbacks is not None:
            await self.callbacks.close()
        await self.db.close()
        self.classifier, self.batcher, self._closed = None, None, True
        self.metrics.ready.set(0)

    async def classify(self, texts: Sequence[str]) -> tuple[list[dict[str, Any]], str]:
        """Label ``texts`` (already validated) through the micro-batcher."""
        if self.batcher is None or self.classifier is None:
            raise NotReady(self.not_ready_message())
        probs, truncated = await self.batcher.submit(texts)
        version = self.classifier.version
        results = []
        for row, cut in zip(probs, truncated, strict=True):
            prediction = to_prediction(row, cut)
            self.metrics.predictions.labels(prediction.label, version).inc()
            results.append(
                {"label": prediction.label, "scores": prediction.scores, "truncated": cut}
            )
        return results, version

    def not_ready_message(self) -> str:
        if self.load_error:
            return f"the model failed to load: {self.load_error}"
        return "the model is still loading"

    def info(self) -> dict[str, Any]:
        if self.classifier is None:
            raise NotReady(self.not_ready_message())
        meta = self.classifier.meta
        return {
            "model": {
                "id": meta.model_id,
                "version": meta.version,
                "created_at": meta.created_at,
                "base_model": meta.base_model.get("name"),
                "backend": self.settings.backend,
                "max_length": meta.max_length,
                "temperature": meta.temperature,
                "bias": meta.bias,
            },
            "labels": list(LABELS),
            "metrics": meta.metrics,
            "limits": {
                "max_batch_documents": self.settings.max_batch_documents,
                "max_text_chars": self.settings.max_text_chars,
                "batch_max_size": self.settings.batch_max_size,
                "queue_max_texts": self.settings.queue_max_texts,
            },
            "storage": {"backend": self.db.url.get_backend_name(), "ready": self.db.ready},
            "webhooks": [name for name in PROVIDERS if self.settings.webhook_secret(name)],
        }
