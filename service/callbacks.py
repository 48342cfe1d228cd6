"""Outbound callbacks: each new result POSTed to ``FEEDBACK_CALLBACK_URL``, signed.

The body is JSON; ``X-Signature-256: sha256=<hex HMAC-SHA256 of the body>`` is keyed
with ``FEEDBACK_CALLBACK_SECRET``. Sending never blocks a webhook's answer: results wait
on a bounded queue, a few senders POST them, and a failure (network error, 408, 429,
5xx) is retried after 1, 2, 4, ... seconds (``FEEDBACK_CALLBACK_BACKOFF_S``, doubling up
to ``FEEDBACK_CALLBACK_BACKOFF_MAX_S``) for ``FEEDBACK_CALLBACK_MAX_ATTEMPTS`` attempts.
Other 4xx answers are not retried. ``delivery_id`` is the same on every attempt, so the
receiver can drop repeats. Results waiting at shutdown are not sent; the results API
(``GET /v1/comments``) has every result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import httpx

from service import __version__
from service.metrics import Metrics
from service.settings import Settings
from service.storage.repository import PendingComment, PredictionRow
from service.webhooks.common import hex_digest

log = logging.getLogger(__name__)

SENDERS = 4
RETRY_STATUSES = frozenset({408, 425, 429})
SHUTDOWN_GRACE_S = 5.0


def payload(comment: PendingComment, prediction: PredictionRow) -> dict[str, Any]:
    return {
        "event": "comment.labelled",
        "delivery_id": f"{comment.comment_id}:{prediction.model_version}",
        "comment_id": comment.comment_id,
        "provider": comment.provider,
        "external_id": comment.external_id,
        "label": prediction.label,
        "scores": prediction.scores,
        "model_version": prediction.model_version,
        "labelled_at": prediction.created_at.isoformat(),
    }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hex_digest(secret, body)


class CallbackSender:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        assert settings.callback_url is not None
        assert settings.callback_secret is not None
        self.url = settings.callback_url
        self.secret = settings.callback_secret.get_secret_value()
        self.settings = settings
        self.metrics = metrics
        self._transport = transport
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(settings.callback_queue_max)
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self._client = httpx.AsyncClient(
            transport=self._transport,
            timeout=self.settings.callback_timeout_s,
            headers={"User-Agent": f"feedback-classifier/{__version__}"},
        )
        self._tasks = [
            asyncio.create_task(self._send_forever(), name=f"callback-{i}") for i in range(SENDERS)
        ]

    def submit(self, comment: PendingComment, prediction: PredictionRow) -> None:
        """Queue a result for sending (returns at once; a full queue drops it, logged)."""
        try:
            self._queue.put_nowait(payload(comment, prediction))
        except asyncio.QueueFull:
            self.metrics.callbacks.labels("dropped").inc()
            log.error(
                "callback queue full (%d): result of comment %d not sent",
                self._queue.maxsize,
                comment.comment_id,
            )

    async def _send_forever(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await self.deliver(body)
            finally:
                self._queue.task_done()

    def delay(self, attempt: int) -> float:
        """Seconds before retry ``attempt`` (1-based): doubling, capped."""
        return float(
            min(
                self.settings.callback_backoff_max_s,
                self.settings.callback_backoff_s * 2 ** (attempt - 1),
            )
        )

    async def deliver(self, data: dict[str, Any]) -> bool:
        """POST one result until it is accepted or the attempts run out."""
        assert self._client is not None
        body = json.dumps(data, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Signature-256": sign(self.secret, body)}
        attempts = self.settings.callback_max_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = await self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}"
            else:
                if response.is_success:
                    self.metrics.callbacks.labels("delivered").inc()
                    return True
                problem = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in RETRY_STATUSES:
                    self.metrics.callbacks.labels("rejected").inc()
                    log.warning("callback %s refused: %s", data["delivery_id"], problem)
                    return False
            if attempt == attempts:
                break
            self.metrics.callbacks.labels("retried").inc()
            await asyncio.sleep(self.delay(attempt))
        self.metrics.callbacks.labels("failed").inc()
        log.error(
            "callback %s not delivered after %d attempts (last: %s)",
            data["delivery_id"],
            attempts,
            problem,
        )
        return False

    async def close(self) -> None:
        """Give queued results a moment to go out, then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), SHUTDOWN_GRACE_S)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
