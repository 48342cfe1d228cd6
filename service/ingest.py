"""A webhook delivery, from raw bytes to answer.

verify the signature -> parse -> store the comments (committed: durable before any 2xx)
-> label them within ``FEEDBACK_WEBHOOK_CLASSIFY_TIMEOUT_S`` -> store the predictions.
A model that is busy, loading or failing leaves stored comments pending, for the
background worker; the answer is still 2xx, because the comment is safe. A database
fault before the commit is a 503 (the CRM retries); after it, the comment stays pending.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service import webhooks
from service.errors import InvalidInput, StorageUnavailable, TooManyDocuments
from service.labelling import NotLabelled, label, now
from service.settings import Settings
from service.storage import repository as repo
from service.webhooks import Delivery

if TYPE_CHECKING:
    from service.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of one comment of a delivery."""

    id: str | None  # the provider's id of the comment
    comment_id: int
    duplicate: bool
    prediction: repo.PredictionRow | None  # None: stored, label pending


def check_items(items: Sequence[repo.NewComment], settings: Settings) -> None:
    if len(items) > settings.max_batch_documents:
        raise TooManyDocuments(
            f"{len(items)} comments in one delivery; the limit is "
            f"{settings.max_batch_documents} (FEEDBACK_MAX_BATCH_DOCUMENTS)",
            details={"documents": len(items), "limit": settings.max_batch_documents},
        )
    problems = [
        {
            "item": i,
            "id": item.external_id,
            "reason": f"text has {len(item.text)} characters; the limit is "
            f"{settings.max_text_chars} (FEEDBACK_MAX_TEXT_CHARS)",
        }
        for i, item in enumerate(items)
        if len(item.text) > settings.max_text_chars
    ]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidInput(f"item {problems[0]['item']}: {problems[0]['reason']}{more}", problems)


async def receive(runtime: Runtime, provider: str, delivery: Delivery) -> list[Outcome]:
    """Store and label what ``delivery`` carries; raises an ``ApiError`` for what is refused."""
    settings = runtime.settings
    found = webhooks.provider(provider)
    found.verify(delivery, webhooks.secret_for(found, settings), settings)
    items = found.parse(delivery, webhooks.text_fields(found, settings))
    check_items(items, settings)
    if not items:  # e.g. Intercom's ping
        return []
    if settings.log_texts:
        log.debug("%s webhook texts=%r", provider, [item.text for item in items])
    stored = await runtime.db.run(repo.store_comments, items, now())
    for item in stored:
        result = "duplicate" if item.duplicate else "stored"
        runtime.metrics.webhook_comments.labels(provider, result).inc()
    predictions = await _labels(runtime, items, stored)
    return [
        Outcome(item.external_id, s.comment_id, s.duplicate, predictions.get(s.comment_id))
        for item, s in zip(items, stored, strict=True)
    ]


async def _labels(
    runtime: Runtime, items: Sequence[repo.NewComment], stored: Sequence[repo.StoredComment]
) -> dict[int, repo.PredictionRow]:
    """The prediction of each stored comment: the original one for a duplicate, else new."""
    first: dict[int, tuple[repo.NewComment, repo.StoredComment]] = {}
    for item, s in zip(items, stored, strict=True):
        first.setdefault(s.comment_id, (item, s))
    repeated = [cid for cid, (_, s) in first.items() if s.duplicate]
    known: dict[int, repo.PredictionRow] = {}
    try:
        if repeated:
            known = await runtime.db.run(repo.latest_predictions, repeated)
        todo = [
            repo.PendingComment(cid, s.text, item.provider, item.external_id)
            for cid, (item, s) in first.items()
            if cid not in known
        ]
        return known | await label(runtime, todo, runtime.settings.webhook_classify_timeout_s)
    except NotLabelled as exc:
        reason, message = exc.reason, str(exc)
    except StorageUnavailable as exc:  # the comments are committed; only their labels wait
        reason, message = "storage", exc.message
    waiting = len(first) - len(known)
    log.info("%d comment(s) stored, label pending: %s", waiting, message)
    runtime.metrics.labelling_deferred.labels(reason).inc(waiting)
    runtime.pending.notify()
    return known
