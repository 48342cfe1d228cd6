"""The FastAPI app factory. Importing this module loads nothing; the lifespan loads the model.

uvicorn --factory service.app:create_app
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from service import __version__
from service.errors import error_response, install_error_handlers
from service.metrics import RequestMetricsMiddleware
from service.routes import classify, comments, health, webhooks
from service.runtime import Loader, Runtime, load_classifier
from service.settings import Settings, load_settings

log = logging.getLogger(__name__)

DESCRIPTION = """Labels customer comments as **poor**, **good** or **outstanding** service
(worse than, as, or better than the customer expected), with calibrated scores.

CRMs post comments to `/v1/webhooks/{provider}` (signed per provider; stored durably and
once per delivery); `/v1/comments` lists what they stored, with labels.

When API keys are configured, send `Authorization: Bearer <key>` to every route except
`/healthz`, `/readyz`, `/metrics` and the webhooks (which CRMs sign instead). Every error
has the shape `{"error": {"type": ..., "message": ..., "details": ...}}`."""


def create_app(
    settings: Settings | None = None,
    loader: Loader = load_classifier,
    callback_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """A new app. ``loader`` builds the classifier from settings (tests pass a fake), and
    ``callback_transport`` carries outbound callbacks (tests pass ``httpx.MockTransport``)."""
    settings = settings or load_settings()
    runtime = Runtime(settings, loader, callback_transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            # Requests still in flight hold futures on the batcher: let them finish.
            await runtime.close()

    app = FastAPI(
        title="Customer feedback classifier",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unhandled %s on %s %s",
            type(exc).__name__,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        return error_response(500, "internal_error", "an unexpected error occurred")

    app.include_router(health.router)
    app.include_router(classify.router)
    app.include_router(webhooks.router)
    app.include_router(comments.router)
    app.add_middleware(RequestMetricsMiddleware, metrics=runtime.metrics)
    return app
