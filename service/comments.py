"""The results API's work: pages of stored comments with their labels, and one comment's history.

Pages are keyset pages over the comment id, so a page costs the same however deep it is
and comments stored meanwhile are not skipped or repeated. The cursor is opaque to
clients: base64 of the last id served.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from service.errors import InvalidRequest, NotFound
from service.schemas import CommentDetail, CommentItem, CommentPage, PredictionItem
from service.storage import repository as repo
from service.storage.database import Database

CURSOR_PREFIX = "after:"


def encode_cursor(comment_id: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{comment_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith(CURSOR_PREFIX) and raw[len(CURSOR_PREFIX) :].isdigit():
            return int(raw[len(CURSOR_PREFIX) :])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    reason = "not a cursor this API gave out; pass next_cursor from the previous page"
    raise InvalidRequest(f"cursor: {reason}", [{"field": "cursor", "reason": reason}])


def item(row: repo.CommentRow) -> CommentItem:
    latest = row.latest
    return CommentItem(
        comment_id=row.comment_id,
        provider=row.provider,
        external_id=row.external_id,
        text=row.text,
        label=latest.label if latest else None,
        scores=latest.scores if latest else None,
        model_version=latest.model_version if latest else None,
        received_at=row.received_at,
    )


async def page(
    db: Database,
    *,
    since: datetime | None,
    label: str | None,
    provider: str | None,
    cursor: str | None,
    limit: int,
) -> CommentPage:
    after = decode_cursor(cursor) if cursor else 0
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows = await db.run(
        repo.list_comments,
        after_id=after,
        limit=limit + 1,
        since=since,
        label=label,
        provider=provider,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return CommentPage(
        items=[item(row) for row in rows],
        next_cursor=encode_cursor(rows[-1].comment_id) if more else None,
    )


async def detail(db: Database, comment_id: int) -> CommentDetail:
    found = await db.run(repo.get_comment, comment_id)
    if found is None:
        raise NotFound(f"no comment {comment_id}")
    row, history = found
    return CommentDetail(
        **item(row).model_dump(),
        idempotency_key=row.idempotency_key,
        metadata=row.metadata,
        labelled_at=row.latest.created_at if row.latest else None,
        history=[
            PredictionItem(
                label=p.label,
                scores=p.scores,
                truncated=p.truncated,
                model_version=p.model_version,
                created_at=p.created_at,
            )
            for p in history
        ],
    )
