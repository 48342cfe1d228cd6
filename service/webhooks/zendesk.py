"""Zendesk: a ticket's comment, from an event-subscribed webhook (``ticket.comment_added``).

Signed with ``X-Zendesk-Webhook-Signature`` = base64 HMAC-SHA256 of
``X-Zendesk-Webhook-Signature-Timestamp`` + the raw body, keyed with the webhook's
signing secret. One event per delivery; its key is ticket id, comment id and event time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from service.errors import InvalidSignature
from service.settings import Settings
from service.storage.repository import NewComment
from service.webhooks.common import (
    Delivery,
    Problems,
    b64_digest,
    check,
    check_age,
    dig,
    find_text,
    header,
    identifier,
    load_json,
    present,
)

NAME = "zendesk"
TEXT_FIELDS = "event.comment.body"
SECRET_HELP = "the webhook's signing secret, from Admin Center > Apps and integrations > Webhooks"
SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"


def verify(delivery: Delivery, secret: str, settings: Settings) -> None:
    signature = header(delivery, SIGNATURE)
    timestamp = header(delivery, TIMESTAMP)
    check(b64_digest(secret, timestamp.encode() + delivery.body), signature)
    try:
        sent = datetime.fromisoformat(timestamp)
    except ValueError:
        raise InvalidSignature(f"the {TIMESTAMP} header is not an ISO 8601 time") from None
    if sent.tzinfo is None:
        raise InvalidSignature(f"the {TIMESTAMP} header has no time zone")
    check_age(sent.timestamp(), settings.webhook_max_age_s)


def parse(delivery: Delivery, text_fields: Sequence[str] | None) -> list[NewComment]:
    event = load_json(delivery.body)
    paths = list(text_fields or TEXT_FIELDS.split(","))
    problems = Problems()
    if not isinstance(event, dict):
        problems.bad(0, "body", "expected a JSON object (one Zendesk event)")
        problems.raise_any()
    ticket = identifier(dig(event, "detail.id"))
    comment = identifier(dig(event, "event.comment.id"))
    when = identifier(dig(event, "time"))
    event_id = identifier(dig(event, "id"))
    if ticket and comment and when:
        key = f"{ticket}:{comment}:{when}"
    elif event_id:
        key = event_id
    else:
        problems.bad(0, "id", "no event id, nor detail.id + event.comment.id + time, to key it by")
    _, text = find_text(event, paths)
    if text is None:
        problems.no_text(0, paths)
    problems.raise_any()
    assert text is not None
    author = dig(event, "event.comment.author")
    metadata = {
        "event_id": event_id,
        "event_type": dig(event, "type"),
        "ticket_id": ticket,
        "comment_id": comment,
        "is_public": dig(event, "event.comment.is_public"),
        "author_id": identifier(author.get("id")) if isinstance(author, dict) else None,
        "author_is_staff": author.get("is_staff") if isinstance(author, dict) else None,
        "occurred_at": when,
    }
    return [
        NewComment(
            provider=NAME,
            idempotency_key=key,
            text=text,
            external_id=comment or ticket or event_id,
            metadata=present(metadata),
        )
    ]
