"""How each CRM signs a delivery, written out independently of ``service.webhooks``.

Tests sign their requests with these; ``docs/webhooks.md`` shows the same recipes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
PROVIDERS = ["zendesk", "hubspot", "intercom", "salesforce", "freshdesk", "generic"]
SECRETS = {name: f"{name}-secret-4Kq9zT2xWb7" for name in PROVIDERS}
SALESFORCE_ORG = "00D5g000004Fq2bEAC"
BASE_URL = "http://testserver"


def fixture(provider: str) -> bytes:
    suffix = "xml" if provider == "salesforce" else "json"
    return (FIXTURES / f"{provider}.{suffix}").read_bytes()


def secret_settings() -> dict[str, object]:
    """Settings that enable every provider with the test secrets."""
    settings: dict[str, object] = {f"webhook_secret_{p}": s for p, s in SECRETS.items()}
    settings["salesforce_organization_id"] = SALESFORCE_ORG
    return settings


def signed(
    provider: str,
    body: bytes,
    *,
    sent_at: float | None = None,
    secret: str | None = None,
    base_url: str = BASE_URL,
) -> tuple[str, dict[str, str]]:
    """The path and headers of a delivery of ``body`` as ``provider`` would send it."""
    key = (secret or SECRETS[provider]).encode()
    sent_at = time.time() if sent_at is None else sent_at
    path = f"/v1/webhooks/{provider}"
    if provider == "zendesk":
        stamp = datetime.fromtimestamp(sent_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        mac = hmac.new(key, stamp.encode() + body, hashlib.sha256).digest()
        return path, {
            "content-type": "application/json",
            "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        }
    if provider == "hubspot":
        stamp = str(int(sent_at * 1000))
        message = b"POST" + f"{base_url}{path}".encode() + body + stamp.encode()
        mac = hmac.new(key, message, hashlib.sha256).digest()
        return path, {
            "content-type": "application/json",
            "X-HubSpot-Signature-v3": base64.b64encode(mac).decode(),
            "X-HubSpot-Request-Timestamp": stamp,
        }
    if provider == "intercom":
        digest = hmac.new(key, body, hashlib.sha1).hexdigest()
        return path, {"content-type": "application/json", "X-Hub-Signature": f"sha1={digest}"}
    if provider == "salesforce":
        return f"{path}?token={key.decode()}", {
            "content-type": "text/xml; charset=utf-8",
            "SOAPAction": '""',
        }
    if provider == "freshdesk":
        return path, {"content-type": "application/json", "X-Webhook-Secret": key.decode()}
    digest = hmac.new(key, body, hashlib.sha256).hexdigest()
    return path, {"content-type": "application/json", "X-Signature-256": f"sha256={digest}"}
