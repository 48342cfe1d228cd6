"""HubSpot: webhook events of a public or private app, delivered in batches (a JSON array).

Signed with ``X-HubSpot-Signature-v3`` = base64 HMAC-SHA256 of method + URI + body +
``X-HubSpot-Request-Timestamp`` (epoch milliseconds), keyed with the app's client
secret; timestamps older than 5 minutes are refused. HubSpot drops deliveries answered
4xx and retries 5xx, so only a bad signature or a malformed batch gets a 4xx here.
The comment is the changed property's value (subscribe to e.g.
``ticket.propertyChange`` of the property that holds it).
"""

from __future__ import annotations

from collections.abc import Sequence

from service.errors import InvalidSignature
from service.settings import Settings
from service.storage.repository import NewComment
from service.webhooks.common import (
    Delivery,
    Problems,
    b64_digest,
    check,
    check_age,
    find_text,
    header,
    identifier,
    load_json,
    present,
)

NAME = "hubspot"
TEXT_FIELDS = "propertyValue"
SECRET_HELP = "the app's client secret, from the app's Auth settings"
SIGNATURE = "X-HubSpot-Signature-v3"
TIMESTAMP = "X-HubSpot-Request-Timestamp"
# HubSpot signs the URI with these characters decoded (its v3 signature documentation).
DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip


def signed_uri(uri: str) -> str:
    for encoded, char in DECODED.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


def verify(delivery: Delivery, secret: str, settings: Settings) -> None:
    signature = header(delivery, SIGNATURE)
    timestamp = header(delivery, TIMESTAMP)
    message = (
        delivery.method.upper().encode()
        + signed_uri(delivery.uri).encode()
        + delivery.body
        + timestamp.encode()
    )
    check(b64_digest(secret, message), signature)
    try:
        sent_ms = int(timestamp)
    except ValueError:
        raise InvalidSignature(f"the {TIMESTAMP} header is not epoch milliseconds") from None
    check_age(sent_ms / 1000, settings.webhook_max_age_s)


def parse(delivery: Delivery, text_fields: Sequence[str] | None) -> list[NewComment]:
    events = load_json(delivery.body)
    paths = list(text_fields or TEXT_FIELDS.split(","))
    problems = Problems()
    if not isinstance(events, list) or not events:
        problems.bad(0, "body", "expected a non-empty JSON array of HubSpot events")
        problems.raise_any()
    comments = []
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            problems.bad(i, f"[{i}]", "expected a JSON object (a HubSpot event)")
            continue
        event_id = identifier(event.get("eventId"))
        if event_id is None:
            problems.bad(i, f"[{i}].eventId", "missing")
            continue
        _, text = find_text(event, paths)
        if text is None:
            problems.no_text(i, paths)
            continue
        # HubSpot says eventId alone "is not guaranteed to be unique": a retry repeats every
        # one of these, two different events share none of them.
        key = ":".join(
            str(identifier(event.get(name)) or "")
            for name in ("portalId", "subscriptionId", "objectId")
        )
        comments.append(
            NewComment(
                provider=NAME,
                idempotency_key=f"{key}:{event_id}",
                text=text,
                external_id=identifier(event.get("objectId")),
                metadata=present(
                    {
                        name: event.get(name)
                        for name in (
                            "eventId",
                            "subscriptionId",
                            "subscriptionType",
                            "portalId",
                            "appId",
                            "objectId",
                            "propertyName",
                            "occurredAt",
                            "changeSource",
                        )
                    }
                ),
            )
        )
    problems.raise_any()
    return comments
