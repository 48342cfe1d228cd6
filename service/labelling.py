"""Label stored comments and store the predictions: shared by the webhooks and the worker.

A comment has at most one prediction per model version, so labelling twice (a webhook
and the worker, two replicas) stores one row; both get the stored one back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from service.errors import NotReady, Overloaded
from service.storage import repository as repo

if TYPE_CHECKING:
    from service.runtime import Runtime

log = logging.getLogger(__name__)


class NotLabelled(Exception):
    """The model gave no labels; the comments stay pending for the worker.

    ``reason`` is ``overloaded``, ``not_ready``, ``timeout`` or ``model_error``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def now() -> datetime:
    return datetime.now(UTC)


async def label(
    runtime: Runtime, comments: Sequence[repo.PendingComment], timeout: float | None = None
) -> dict[int, repo.PredictionRow]:
    """Classify ``comments``, store the predictions, queue callbacks; the stored rows by id.

    Raises ``NotLabelled`` when the model cannot label them (nothing is stored) and
    ``StorageUnavailable`` when the predictions cannot be stored.
    """
    if not comments:
        return {}
    texts = [c.text for c in comments]
    try:
        results, version = await asyncio.wait_for(runtime.classify(texts), timeout)
    except Overloaded as exc:
        raise NotLabelled("overloaded", exc.message) from exc
    except NotReady as exc:
        raise NotLabelled("not_ready", exc.message) from exc
    except TimeoutError as exc:
        raise NotLabelled("timeout", f"no labels within {timeout} s") from exc
    except Exception as exc:  # any model failure leaves the comments pending
        raise NotLabelled("model_error", f"the model failed: {type(exc).__name__}") from exc
    rows = [
        repo.NewPrediction(c.comment_id, r["label"], r["scores"], r["truncated"], version)
        for c, r in zip(comments, results, strict=True)
    ]
    at = now()
    added = await runtime.db.run(repo.add_predictions, rows, at)
    stored = {
        row.comment_id: repo.PredictionRow(
            row.comment_id, row.label, row.scores, row.truncated, row.model_version, at
        )
        for row in rows
        if row.comment_id in added
    }
    others = [row.comment_id for row in rows if row.comment_id not in added]
    if others:  # labelled meanwhile by someone else: answer with what is stored
        stored |= await runtime.db.run(repo.latest_predictions, others)
    if runtime.callbacks is not None:
        for comment in comments:
            if comment.comment_id in added:
                runtime.callbacks.submit(comment, stored[comment.comment_id])
    return stored
