"""Intercom: conversation topics of an app's webhooks (a rating's remark, a customer's reply).

Signed with ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>``, keyed with the
app's client secret. One notification per delivery, keyed by its id (``notif_...``),
which Intercom's retry repeats. Bodies are HTML; the stored text is their words.
Intercom's ``ping`` (sent when the webhook is saved) is answered 200 and stores nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from service.settings import Settings
from service.storage.repository import NewComment
from service.webhooks.common import (
    Delivery,
    Problems,
    check,
    dig,
    find_text,
    header,
    hex_digest,
    html_to_text,
    identifier,
    load_json,
    present,
)

NAME = "intercom"
# Where each topic has the customer's words; other topics try all three.
BY_TOPIC = {
    "conversation.rating.added": "data.item.conversation_rating.remark",
    "conversation.user.created": "data.item.source.body",
    "conversation.user.replied": "data.item.conversation_parts.conversation_parts.-1.body",
}
TEXT_FIELDS = ",".join(BY_TOPIC.values())
SECRET_HELP = "the app's client secret, from the Developer Hub > Basic information"
SIGNATURE = "X-Hub-Signature"


def verify(delivery: Delivery, secret: str, settings: Settings) -> None:
    signature = header(delivery, SIGNATURE)
    check("sha1=" + hex_digest(secret, delivery.body, hashlib.sha1), signature)


def parse(delivery: Delivery, text_fields: Sequence[str] | None) -> list[NewComment]:
    note = load_json(delivery.body)
    problems = Problems()
    if not isinstance(note, dict) or note.get("type") != "notification_event":
        problems.bad(0, "type", "expected an Intercom notification_event object")
        problems.raise_any()
    topic = note.get("topic")
    if topic == "ping":
        return []
    default = BY_TOPIC.get(topic, TEXT_FIELDS) if isinstance(topic, str) else TEXT_FIELDS
    paths = list(text_fields or default.split(","))
    notification_id = identifier(note.get("id"))
    if notification_id is None:
        problems.bad(0, "id", "missing")
    path, html = find_text(note, paths)
    text = html_to_text(html) if html is not None else None
    if not text:
        problems.no_text(0, paths)
    problems.raise_any()
    assert notification_id is not None
    assert text is not None
    rating = dig(note, "data.item.conversation_rating.rating")
    return [
        NewComment(
            provider=NAME,
            idempotency_key=notification_id,
            text=text,
            external_id=identifier(dig(note, "data.item.id")),
            metadata=present(
                {
                    "notification_id": notification_id,
                    "topic": topic,
                    "app_id": note.get("app_id"),
                    "conversation_id": identifier(dig(note, "data.item.id")),
                    "rating": rating,
                    "text_field": path,
                    "created_at": note.get("created_at"),
                }
            ),
        )
    ]
