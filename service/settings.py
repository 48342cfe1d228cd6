"""The service's settings: one object, read from ``FEEDBACK_*`` environment variables.

Nothing else in the service reads ``os.environ``. Tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from model.artifact import DEFAULT_ARTIFACT
from model.backends import BACKENDS
from model.errors import FeedbackError


class SettingsError(FeedbackError):
    """A setting has a value the service cannot start with."""


class Settings(BaseSettings):
    """Everything an operator can set, with the embedded defaults the service starts on."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACK_", extra="ignore", frozen=True)

    # The model
    model_path: Path = Field(DEFAULT_ARTIFACT, description="Model artifact folder.")
    backend: str = Field("onnx", description=f"Inference backend: {', '.join(BACKENDS)}.")
    threads: int | None = Field(
        None, ge=1, description="Inference threads; default: the cores this process may use."
    )

    # Request limits
    max_batch_documents: int = Field(256, ge=1, description="Documents per batch request.")
    max_text_chars: int = Field(20_000, ge=1, description="Characters per text.")

    # Micro-batching and backpressure
    batch_max_size: int = Field(64, ge=1, description="Most texts coalesced into one model run.")
    batch_max_wait_ms: float = Field(
        2.0, ge=0, description="How long an idle batcher waits for company before running."
    )
    batch_max_tokens: int = Field(
        4096, ge=64, description="Padded tokens per model call (one long text pads no others)."
    )
    queue_max_texts: int = Field(
        2048, ge=1, description="Texts waiting for the model before requests get 503."
    )

    # Security and privacy
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated bearer keys; when set, every route but health, "
        "readiness and metrics needs one.",
    )
    log_texts: bool = Field(False, description="Write comment texts to debug logs.")
    environment: Literal["development", "production"] = "development"

    # Storage
    data_dir: Path = Field(
        Path("data"), description="Folder of the SQLite database when no database URL is set."
    )
    database_url: SecretStr | None = Field(
        None,
        description="postgresql://user:password@host:5432/db, or sqlite:///path/to/file.db; "
        "default: SQLite in the data folder.",
    )
    database_timeout_s: float = Field(
        5.0,
        gt=0,
        description="How long a database call waits for a lock or a connection before the "
        "request gets 503.",
    )

    # CRM webhooks: a provider is enabled by its secret (Salesforce also needs its org id).
    webhook_secret_zendesk: SecretStr | None = None
    webhook_secret_hubspot: SecretStr | None = None
    webhook_secret_intercom: SecretStr | None = None
    webhook_secret_salesforce: SecretStr | None = None
    webhook_secret_freshdesk: SecretStr | None = None
    webhook_secret_generic: SecretStr | None = None
    # Where each provider's payload holds the comment: comma-separated paths, first found wins.
    webhook_text_field_zendesk: str | None = None
    webhook_text_field_hubspot: str | None = None
    webhook_text_field_intercom: str | None = None
    webhook_text_field_salesforce: str | None = None
    webhook_text_field_freshdesk: str | None = None
    webhook_text_field_generic: str | None = None
    webhook_max_age_s: int = Field(
        300, ge=1, description="Oldest signature timestamp accepted (Zendesk, HubSpot)."
    )
    webhook_max_body_bytes: int = Field(
        5_000_000, ge=1024, description="Largest webhook body accepted."
    )
    webhook_classify_timeout_s: float = Field(
        2.0,
        gt=0,
        # HubSpot gives up on an answer after 5 s; a pending label is better than a retry.
        description="How long a webhook waits for its label before answering with it pending.",
    )
    public_url: str | None = Field(
        None,
        description="The service's URL as CRMs call it (https://feedback.example.com), for "
        "HubSpot's signature over the URI; default: the URL of the request.",
    )
    salesforce_organization_id: str | None = Field(
        None, description="The Salesforce org whose outbound messages are accepted."
    )
    freshdesk_auth: Literal["header", "basic"] = "header"
    freshdesk_secret_header: str = Field(
        "X-Webhook-Secret", description="Header carrying the Freshdesk secret (header mode)."
    )
    freshdesk_username: str = Field(
        "freshdesk", description="Basic-auth user name of Freshdesk's requests (basic mode)."
    )

    # Labelling what the webhooks stored while the model was busy, failing or loading
    pending_interval_s: float = Field(
        30.0, gt=0, description="How often the background worker looks for unlabelled comments."
    )
    pending_batch_size: int = Field(32, ge=1, description="Comments the worker labels at once.")

    # Outbound callback of each new result
    callback_url: str | None = Field(None, description="POST each new result here (optional).")
    callback_secret: SecretStr | None = None
    callback_timeout_s: float = Field(10.0, gt=0)
    callback_max_attempts: int = Field(8, ge=1)
    callback_backoff_s: float = Field(1.0, ge=0, description="First retry delay; doubles.")
    callback_backoff_max_s: float = Field(300.0, ge=0, description="Longest retry delay.")
    callback_queue_max: int = Field(10_000, ge=1, description="Results waiting to be sent.")

    def webhook_secret(self, provider: str) -> SecretStr | None:
        secret: SecretStr | None = getattr(self, f"webhook_secret_{provider}")
        return secret if secret is not None and secret.get_secret_value() else None

    def webhook_text_field(self, provider: str) -> str | None:
        field: str | None = getattr(self, f"webhook_text_field_{provider}")
        return field

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"unknown backend {value!r}; choose one of {', '.join(BACKENDS)}")
        return value

    @field_validator("api_keys")
    @classmethod
    def _strong_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            if len(key.get_secret_value()) < 16:
                raise ValueError(
                    "every API key needs at least 16 characters; generate one with "
                    "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
                )
        return keys

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = urlsplit(value.get_secret_value()).scheme.split("+")[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                f"unsupported database {scheme or 'URL'!r}; use postgresql://user:password@"
                "host:5432/db or sqlite:///path/to/file.db (or leave it unset for SQLite in "
                "FEEDBACK_DATA_DIR)"
            )
        return value

    @field_validator("callback_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _webhooks_complete(self) -> Settings:
        if self.callback_url and self.callback_secret is None:
            raise ValueError(
                "FEEDBACK_CALLBACK_URL needs FEEDBACK_CALLBACK_SECRET to sign what it sends; "
                "set one of 16+ characters"
            )
        if self.callback_secret is not None and len(self.callback_secret.get_secret_value()) < 16:
            raise ValueError("FEEDBACK_CALLBACK_SECRET needs at least 16 characters")
        if self.webhook_secret("salesforce") and not self.salesforce_organization_id:
            raise ValueError(
                "FEEDBACK_WEBHOOK_SECRET_SALESFORCE is set but FEEDBACK_SALESFORCE_ORGANIZATION_ID "
                "is not; set it to the org's id (Setup > Company Information)"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_keys(self) -> Settings:
        if self.environment == "production" and not self.api_keys:
            raise ValueError(
                "FEEDBACK_ENVIRONMENT=production refuses to serve without FEEDBACK_API_KEYS; "
                "set one or more comma-separated keys"
            )
        return self


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment plus ``overrides``; bad values become one clear error."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from exc


def describe_settings_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = "FEEDBACK_" + "_".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        secret = any(word in name for word in ("API_KEYS", "SECRET", "DATABASE_URL"))
        shown = "" if secret or isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{name}: {message}{shown}" if error["loc"] else message)
    return "invalid settings: " + "; ".join(lines)
