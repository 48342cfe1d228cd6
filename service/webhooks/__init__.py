"""CRM webhook receivers: one module per provider, each with ``verify`` and ``parse``.

``verify`` checks the delivery's signature (or shared secret) on the raw bytes in
constant time and raises ``InvalidSignature``; ``parse`` turns the body into comments,
each with the idempotency key a repeated delivery of it will carry again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.errors import NotFound, WebhookNotConfigured
from service.settings import Settings
from service.storage.repository import NewComment
from service.webhooks import freshdesk, generic, hubspot, intercom, salesforce, zendesk
from service.webhooks.common import Delivery


class Provider(Protocol):
    NAME: str
    TEXT_FIELDS: str  # the default, as FEEDBACK_WEBHOOK_TEXT_FIELD_<PROVIDER> would say it
    SECRET_HELP: str  # what to set, for the error of an unconfigured provider

    def verify(self, delivery: Delivery, secret: str, settings: Settings) -> None: ...

    def parse(self, delivery: Delivery, text_fields: Sequence[str] | None) -> list[NewComment]: ...


PROVIDERS: dict[str, Provider] = {
    module.NAME: module for module in (zendesk, hubspot, intercom, salesforce, freshdesk, generic)
}


def provider(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise NotFound(
            f"no webhook provider {name!r}; the providers are {', '.join(PROVIDERS)}"
        ) from None


def secret_for(found: Provider, settings: Settings) -> str:
    """The provider's secret; unconfigured providers answer 503 so the CRM retries later."""
    secret = settings.webhook_secret(found.NAME)
    if secret is None:
        raise WebhookNotConfigured(
            f"the {found.NAME} webhook is not configured: set "
            f"FEEDBACK_WEBHOOK_SECRET_{found.NAME.upper()} ({found.SECRET_HELP})"
        )
    return secret.get_secret_value()


def text_fields(found: Provider, settings: Settings) -> list[str] | None:
    """The configured paths to the comment, or None for the provider's defaults."""
    configured = settings.webhook_text_field(found.NAME)
    if not configured:
        return None
    return [part.strip() for part in configured.split(",") if part.strip()]


__all__ = ["PROVIDERS", "Delivery", "Provider", "provider", "secret_for", "text_fields"]
