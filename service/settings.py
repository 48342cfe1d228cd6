"""The service's settings: one object, read from ``FEEDBACK_*`` environment variables.

Nothing else in the service reads ``os.environ``. Tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

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
        shown = "" if "API_KEYS" in name or isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{name}: {message}{shown}" if error["loc"] else message)
    return "invalid settings: " + "; ".join(lines)
