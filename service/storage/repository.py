"""What the service does with the database, as plain functions on a connection in a transaction.

Storing is idempotent on ``(provider, idempotency_key)``: ``INSERT ... ON CONFLICT DO
NOTHING`` and, when nothing was inserted, a read of the row that was. Two copies of one
delivery arriving together store one row in SQLite (writers take turns) and in
PostgreSQL (the second insert waits on the unique index until the first commits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite

from service.storage.models import comments, predictions

MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class NewComment:
    """A comment as a webhook parsed it, before it is stored."""

    provider: str
    idempotency_key: str
    text: str
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredComment:
    comment_id: int
    text: str  # the stored text: a duplicate answers with what its first delivery stored
    duplicate: bool


@dataclass(frozen=True)
class NewPrediction:
    comment_id: int
    label: str
    scores: dict[str, float]
    truncated: bool
    model_version: str


@dataclass(frozen=True)
class PredictionRow:
    comment_id: int
    label: str
    scores: dict[str, float]
    truncated: bool
    model_version: str
    created_at: datetime


@dataclass(frozen=True)
class CommentRow:
    comment_id: int
    provider: str
    idempotency_key: str
    external_id: str | None
    text: str
    metadata: dict[str, Any]
    received_at: datetime
    latest: PredictionRow | None


@dataclass(frozen=True)
class PendingComment:
    """A stored comment to label, with what a callback says about it."""

    comment_id: int
    text: str
    provider: str
    external_id: str | None


def storage_key(key: str) -> str:
    """The key as stored: keys longer than the column become their SHA-256."""
    if len(key) <= MAX_KEY_CHARS:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _insert(conn: Connection) -> Callable[..., Any]:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def store_comments(
    conn: Connection, items: Sequence[NewComment], now: datetime
) -> list[StoredComment]:
    """Store each comment once; a repeated key returns the first row, marked ``duplicate``.

    Results come back in the order of ``items``. Rows are written in key order, so two
    copies of one batch lock the same keys in the same order and cannot deadlock.
    """
    insert = _insert(conn)
    found: dict[tuple[str, str], StoredComment] = {}
    for item in sorted(items, key=lambda i: (i.provider, storage_key(i.idempotency_key))):
        key = (item.provider, storage_key(item.idempotency_key))
        if key in found:  # the same comment twice in one delivery: stored once, below
            continue
        statement = (
            insert(comments)
            .values(
                provider=item.provider,
                idempotency_key=key[1],
                external_id=item.external_id,
                text=item.text,
                metadata=item.metadata,
                received_at=now,
            )
            .on_conflict_do_nothing(index_elements=["provider", "idempotency_key"])
            .returning(comments.c.id)
        )
        new_id = conn.execute(statement).scalar_one_or_none()
        if new_id is not None:
            found[key] = StoredComment(new_id, item.text, duplicate=False)
            continue
        row = conn.execute(
            select(comments.c.id, comments.c.text).where(
                comments.c.provider == key[0], comments.c.idempotency_key == key[1]
            )
        ).one()
        found[key] = StoredComment(row.id, row.text, duplicate=True)
    results = []
    seen: set[tuple[str, str]] = set()
    for item in items:
        key = (item.provider, storage_key(item.idempotency_key))
        stored = found[key]
        if key in seen:  # a later copy within the delivery
            stored = StoredComment(stored.comment_id, stored.text, duplicate=True)
        results.append(stored)
        seen.add(key)
    return results


def add_predictions(conn: Connection, rows: Sequence[NewPrediction], now: datetime) -> set[int]:
    """Store predictions; a comment already labelled by this model version keeps its row.

    Returns the ids of the comments that got a new prediction.
    """
    insert = _insert(conn)
    added = set()
    for row in rows:
        statement = (
            insert(predictions)
            .values(
                comment_id=row.comment_id,
                label=row.label,
                scores=row.scores,
                truncated=row.truncated,
                model_version=row.model_version,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["comment_id", "model_version"])
            .returning(predictions.c.comment_id)
        )
        if conn.execute(statement).scalar_one_or_none() is not None:
            added.add(row.comment_id)
    return added


def _prediction(row: Any) -> PredictionRow:
    return PredictionRow(
        comment_id=row.comment_id,
        label=row.label,
        scores=dict(row.scores),
        truncated=row.truncated,
        model_version=row.model_version,
        created_at=row.created_at,
    )


def latest_predictions(conn: Connection, comment_ids: Sequence[int]) -> dict[int, PredictionRow]:
    """Each comment's newest prediction (comments without one are left out)."""
    if not comment_ids:
        return {}
    newest = (
        select(func.max(predictions.c.id))
        .where(predictions.c.comment_id.in_(set(comment_ids)))
        .group_by(predictions.c.comment_id)
    )
    rows = conn.execute(select(predictions).where(predictions.c.id.in_(newest)))
    return {row.comment_id: _prediction(row) for row in rows}


def pending_comments(
    conn: Connection, model_version: str | None, after_id: int = 0, limit: int = 32
) -> list[PendingComment]:
    """Comments after ``after_id`` without a prediction (from ``model_version``, when given).

    Oldest first. ``None``: comments never labelled at all (the service's pending work);
    a version: what ``rescore --from-db --only-missing`` still has to do for that model.
    """
    labelled = exists().where(predictions.c.comment_id == comments.c.id)
    if model_version is not None:
        labelled = labelled.where(predictions.c.model_version == model_version)
    rows = conn.execute(
        select(comments.c.id, comments.c.text, comments.c.provider, comments.c.external_id)
        .where(comments.c.id > after_id, ~labelled)
        .order_by(comments.c.id)
        .limit(limit)
    )
    return [PendingComment(row.id, row.text, row.provider, row.external_id) for row in rows]


def comments_to_rescore(
    conn: Connection, after_id: int, limit: int, skip_version: str | None = None
) -> list[PendingComment]:
    """Comments after ``after_id``, oldest first; with ``skip_version``, only those that
    have no prediction from that model version yet (``rescore --only-missing``)."""
    query = select(comments.c.id, comments.c.text, comments.c.provider, comments.c.external_id)
    if skip_version is not None:
        query = query.where(
            ~exists().where(
                predictions.c.comment_id == comments.c.id,
                predictions.c.model_version == skip_version,
            )
        )
    rows = conn.execute(query.where(comments.c.id > after_id).order_by(comments.c.id).limit(limit))
    return [PendingComment(row.id, row.text, row.provider, row.external_id) for row in rows]


def count_to_rescore(conn: Connection, skip_version: str | None = None) -> int:
    """How many comments :func:`comments_to_rescore` will yield in all."""
    query = select(func.count()).select_from(comments)
    if skip_version is not None:
        query = query.where(
            ~exists().where(
                predictions.c.comment_id == comments.c.id,
                predictions.c.model_version == skip_version,
            )
        )
    return int(conn.execute(query).scalar_one())


def _with_latest() -> Select[Any]:
    newest = (
        select(func.max(predictions.c.id))
        .where(predictions.c.comment_id == comments.c.id)
        .correlate(comments)
        .scalar_subquery()
    )
    return select(
        comments,
        predictions.c.comment_id.label("p_comment_id"),
        predictions.c.label,
        predictions.c.scores,
        predictions.c.truncated,
        predictions.c.model_version,
        predictions.c.created_at,
    ).select_from(comments.outerjoin(predictions, predictions.c.id == newest))


def _comment(row: Any) -> CommentRow:
    latest = None
    if row.p_comment_id is not None:
        latest = PredictionRow(
            comment_id=row.id,
            label=row.label,
            scores=dict(row.scores),
            truncated=row.truncated,
            model_version=row.model_version,
            created_at=row.created_at,
        )
    return CommentRow(
        comment_id=row.id,
        provider=row.provider,
        idempotency_key=row.idempotency_key,
        external_id=row.external_id,
        text=row.text,
        metadata=dict(row.metadata),
        received_at=row.received_at,
        latest=latest,
    )


def list_comments(
    conn: Connection,
    *,
    after_id: int = 0,
    limit: int = 50,
    since: datetime | None = None,
    label: str | None = None,
    provider: str | None = None,
) -> list[CommentRow]:
    """Comments after ``after_id`` in id order (a keyset page), with their latest prediction."""
    query = _with_latest().where(comments.c.id > after_id)
    if since is not None:
        query = query.where(comments.c.received_at >= since)
    if label is not None:
        query = query.where(predictions.c.label == label)
    if provider is not None:
        query = query.where(comments.c.provider == provider)
    rows = conn.execute(query.order_by(comments.c.id).limit(limit))
    return [_comment(row) for row in rows]


def get_comment(conn: Connection, comment_id: int) -> tuple[CommentRow, list[PredictionRow]] | None:
    """A comment with its latest prediction, and every prediction of it, newest first."""
    row = conn.execute(_with_latest().where(comments.c.id == comment_id)).one_or_none()
    if row is None:
        return None
    history = conn.execute(
        select(predictions)
        .where(predictions.c.comment_id == comment_id)
        .order_by(predictions.c.id.desc())
    )
    return _comment(row), [_prediction(p) for p in history]


def count_rows(conn: Connection) -> tuple[int, int]:
    """How many comments and predictions are stored (for tests and operators)."""
    n_comments = conn.execute(select(func.count()).select_from(comments)).scalar_one()
    n_predictions = conn.execute(select(func.count()).select_from(predictions)).scalar_one()
    return n_comments, n_predictions
