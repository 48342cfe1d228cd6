"""Freshdesk: an automation rule's "Trigger webhook" action (simple JSON content).

Freshdesk does not sign webhooks. The rule sends the shared secret either in a custom
header (``FEEDBACK_FRESHDESK_AUTH=header``, ``X-Webhook-Secret`` by default) or as the
basic-auth password (``FEEDBACK_FRESHDESK_AUTH=basic``, user ``freshdesk`` by default);
both are compared in constant time. Freshdesk sends no event id, so the key is the
ticket id and a hash of the comment: the same words on the same ticket count once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

from service.errors import InvalidSignature
from service.settings import Settings
from service.storage.repository import NewComment
from service.webhooks.common import (
    Delivery,
    Problems,
    check,
    dig,
    find_text,
    html_to_text,
    identifier,
    load_json,
    present,
)

NAME = "freshdesk"
TEXT_FIELDS = "freshdesk_webhook.ticket_latest_public_comment"
SECRET_HELP = "a random secret the automation rule sends in a header or as basic-auth password"
TICKET = "freshdesk_webhook.ticket_id"


def verify(delivery: Delivery, secret: str, settings: Settings) -> None:
    if settings.freshdesk_auth == "header":
        given = delivery.headers.get(settings.freshdesk_secret_header)
        if not given:
            raise InvalidSignature(f"the {settings.freshdesk_secret_header} header is missing")
        check(secret, given, "shared secret")
        return
    scheme, _, encoded = (delivery.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise InvalidSignature("basic authentication is missing: send 'Authorization: Basic ...'")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidSignature("the Authorization header is not valid basic auth") from None
    # Both compared, whatever the first gives, so timing says nothing about which failed.
    good_user = hmac.compare_digest(user.encode(), settings.freshdesk_username.encode())
    good_password = hmac.compare_digest(password.encode(), secret.encode())
    if not (good_user and good_password):
        raise InvalidSignature("the basic-auth user name or password is wrong")


def parse(delivery: Delivery, text_fields: Sequence[str] | None) -> list[NewComment]:
    payload = load_json(delivery.body)
    paths = list(text_fields or TEXT_FIELDS.split(","))
    problems = Problems()
    if not isinstance(payload, dict):
        problems.bad(0, "body", "expected a JSON object")
        problems.raise_any()
    ticket = identifier(dig(payload, TICKET))
    if ticket is None:
        problems.bad(0, TICKET, "missing")
    _, html = find_text(payload, paths)
    text = html_to_text(html) if html is not None else None
    if not text:
        problems.no_text(0, paths)
    problems.raise_any()
    assert ticket is not None
    assert text is not None
    webhook = payload.get("freshdesk_webhook")
    fields = webhook if isinstance(webhook, dict) else {}
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return [
        NewComment(
            provider=NAME,
            idempotency_key=f"{ticket}:{digest}",
            text=text,
            external_id=ticket,
            metadata=present(
                {k: v for k, v in fields.items() if f"freshdesk_webhook.{k}" not in paths}
            ),
        )
    ]
