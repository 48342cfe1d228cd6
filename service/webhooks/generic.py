"""Any system that can sign a request: ``{"id", "text", "metadata"?}`` or a list of them.

Signed with ``X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``. The sender's
``id`` is the idempotency key: send the same id again and it is stored once.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.settings import Settings
from service.storage.repository import NewComment
from service.webhooks.common import (
    Delivery,
    Problems,
    check,
    find_text,
    header,
    hex_digest,
    identifier,
    load_json,
)

NAME = "generic"
TEXT_FIELDS = "text"
SECRET_HELP = "a random secret the sender signs each body with"
SIGNATURE = "X-Signature-256"


def verify(delivery: Delivery, secret: str, settings: Settings) -> None:
    signature = header(delivery, SIGNATURE)
    check("sha256=" + hex_digest(secret, delivery.body), signature)


def parse(delivery: Delivery, text_fields: Sequence[str] | None) -> list[NewComment]:
    payload = load_json(delivery.body)
    paths = list(text_fields or TEXT_FIELDS.split(","))
    items = payload if isinstance(payload, list) else [payload]
    problems = Problems()
    if not items:
        problems.bad(0, "body", "the list is empty; send at least one comment")
    comments = []
    for i, item in enumerate(items):
        where = f"[{i}]." if isinstance(payload, list) else ""
        if not isinstance(item, dict):
            problems.bad(i, where.rstrip(".") or "body", "expected a JSON object")
            continue
        key = identifier(item.get("id"))
        metadata = item.get("metadata", {})
        if key is None:
            problems.bad(i, f"{where}id", "missing: a string that identifies the comment")
        if not isinstance(metadata, dict):
            problems.bad(i, f"{where}metadata", "expected a JSON object")
        _, text = find_text(item, paths)
        if text is None:
            problems.no_text(i, [f"{where}{p}" for p in paths])
        if key is None or text is None or not isinstance(metadata, dict):
            continue
        comments.append(
            NewComment(
                provider=NAME, idempotency_key=key, text=text, external_id=key, metadata=metadata
            )
        )
    problems.raise_any()
    return comments
