"""One error shape for every failure: ``{"error": {"type", "message", "details"}}``.

Domain code raises ``ApiError`` subclasses (or the library's own errors); the handlers
installed by ``install_error_handlers`` are the only place that turns them into HTTP.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from model.errors import InputError

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 500
    type = "internal_error"

    def __init__(
        self, message: str, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class Unauthorized(ApiError):
    status = 401
    type = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class TooManyDocuments(ApiError):
    status = 413
    type = "too_many_documents"


class InvalidInput(ApiError):
    status = 422
    type = "invalid_input"


class Overloaded(ApiError):
    status = 503
    type = "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class NotReady(ApiError):
    status = 503
    type = "not_ready"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class NotFound(ApiError):
    status = 404
    type = "not_found"


class InvalidRequest(ApiError):
    status = 422
    type = "invalid_request"


class InvalidSignature(ApiError):
    """A webhook whose signature, secret or timestamp does not check out (nothing is stored)."""

    status = 401
    type = "invalid_signature"


class InvalidPayload(ApiError):
    status = 422
    type = "invalid_payload"


class MissingText(ApiError):
    status = 422
    type = "missing_text"


class PayloadTooLarge(ApiError):
    status = 413
    type = "payload_too_large"


class WebhookNotConfigured(ApiError):
    """503, not 404: a CRM retries, so nothing it sent before the secret was set is lost."""

    status = 503
    type = "webhook_not_configured"

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class StorageUnavailable(ApiError):
    """The database cannot take the request now; CRMs retry a 503 (never a 4xx: HubSpot drops those)."""

    status = 503
    type = "storage_unavailable"

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


def error_body(type_: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "details": details}}


def error_response(
    status: int,
    type_: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(type_, message, details), status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    """``("body", "documents", 2, "text")`` -> ``documents[2].text``."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def validation_details(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors as ``{"field", "document"?, "reason"}``, without echoing input."""
    details = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        item: dict[str, Any] = {"field": _field(loc), "reason": error.get("msg", "")}
        body = loc[1:] if loc and loc[0] == "body" else loc
        if len(body) >= 2 and body[0] == "documents" and isinstance(body[1], int):
            item["document"] = body[1]
        details.append(item)
    return details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.type, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            error = next(e for e in errors if e.get("type") == "json_invalid")
            reason = (error.get("ctx") or {}).get("error", "invalid JSON")
            where = error["loc"][-1] if error.get("loc") else "?"
            return error_response(
                422,
                "invalid_json",
                f"the request body is not valid UTF-8 JSON: {reason} at position {where}",
            )
        details = validation_details(errors)
        first = details[0]
        return error_response(
            422, "invalid_request", f"{first['field']}: {first['reason']}", details
        )

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        return error_response(422, "invalid_input", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            return error_response(
                422,
                "invalid_json",
                f"the request body is not valid UTF-8 JSON: {exc.__cause__.reason} "
                f"at position {exc.__cause__.start}",
            )
        types = {404: "not_found", 405: "method_not_allowed"}
        message = "no such route" if exc.status_code == 404 else str(exc.detail)
        return error_response(
            exc.status_code,
            types.get(exc.status_code, "http_error"),
            message,
            headers=getattr(exc, "headers", None),
        )
