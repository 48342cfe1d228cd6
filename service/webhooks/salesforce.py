"""Salesforce: Outbound Messaging, a SOAP ``notifications`` message of up to 100 ``Notification``s.

Outbound messages carry no HMAC. The endpoint URL carries the shared secret instead
(``.../v1/webhooks/salesforce?token=<FEEDBACK_WEBHOOK_SECRET_SALESFORCE>``, compared in
constant time), and the message's ``OrganizationId`` must be the configured org's.
Each notification is keyed by its ``Notification/Id``, which Salesforce repeats when it
retries. The answer is the SOAP ``<Ack>true</Ack>``; anything else makes Salesforce retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree as ET

from service.errors import InvalidPayload, InvalidSignature
from service.settings import Settings
from service.storage.repository import NewComment
from service.webhooks.common import Delivery, Problems, check, present

NAME = "salesforce"
# CaseComment.CommentBody; a Case's Description; custom survey objects: set your field.
TEXT_FIELDS = "CommentBody,Description"
SECRET_HELP = (
    "a random token that Salesforce sends in the endpoint URL as ?token=..., and "
    "FEEDBACK_SALESFORCE_ORGANIZATION_ID"
)
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack>"
    "</notificationsResponse>"
    "</soapenv:Body>"
    "</soapenv:Envelope>"
)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.text is None or not element.text.strip():
        return None
    return element.text.strip()


def notifications(body: bytes) -> ET.Element:
    """The ``notifications`` element of a SOAP outbound message."""
    head = body[:2048].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise InvalidPayload("document type declarations are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise InvalidPayload(f"the body is not valid XML: {exc}") from None
    found = next((e for e in root.iter() if _local(e.tag) == "notifications"), None)
    if found is None:
        raise InvalidPayload(
            "no <notifications> element: expected a Salesforce outbound message (SOAP)"
        )
    return found


def same_org(given: str, configured: str) -> bool:
    """Org ids come as 15 (case-sensitive) or 18 characters (the 15 plus a checksum)."""
    return len(given) in (15, 18) and given[:15] == configured.strip()[:15]


def verify(delivery: Delivery, secret: str, settings: Settings) -> None:
    token = delivery.query.get("token")
    if not token:
        raise InvalidSignature(
            "the token query parameter is missing: Salesforce's endpoint URL must end in "
            "?token=<FEEDBACK_WEBHOOK_SECRET_SALESFORCE>"
        )
    check(secret, token, "token")
    org = _text(_child(notifications(delivery.body), "OrganizationId"))
    configured = settings.salesforce_organization_id or ""
    if org is None or not same_org(org, configured):
        raise InvalidSignature(
            f"OrganizationId {org!r} is not the configured FEEDBACK_SALESFORCE_ORGANIZATION_ID"
        )


def parse(delivery: Delivery, text_fields: Sequence[str] | None) -> list[NewComment]:
    root = notifications(delivery.body)
    paths = list(text_fields or TEXT_FIELDS.split(","))
    problems = Problems()
    items = [e for e in root if _local(e.tag) == "Notification"]
    if not items:
        problems.bad(0, "Notification", "no Notification elements")
    comments = []
    for i, item in enumerate(items):
        notification_id = _text(_child(item, "Id"))
        sobject = _child(item, "sObject")
        if notification_id is None:
            problems.bad(i, f"Notification[{i}].Id", "missing")
            continue
        if sobject is None:
            problems.bad(i, f"Notification[{i}].sObject", "missing")
            continue
        fields = {_local(c.tag): _text(c) for c in sobject}
        text = next((fields[p] for p in paths if fields.get(p)), None)
        if text is None:
            problems.no_text(i, paths)
            continue
        comments.append(
            NewComment(
                provider=NAME,
                idempotency_key=notification_id,
                text=text,
                external_id=fields.get("Id"),
                metadata=present(
                    {
                        "notification_id": notification_id,
                        "organization_id": _text(_child(root, "OrganizationId")),
                        "action_id": _text(_child(root, "ActionId")),
                        "object_type": sobject.get(XSI_TYPE, "").split(":")[-1] or None,
                        "fields": {k: v for k, v in fields.items() if k not in paths and v},
                    }
                ),
            )
        )
    problems.raise_any()
    return comments
