"""The FastAPI app factory. Importing this module loads nothing; the lifespan loads the model.

uvicorn --factory service.app:create_app
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from service import __version__
from service.errors import error_response, install_error_handlers
from service.metrics import RequestMetricsMiddleware
from service.routes import classify, health
from service.runtime import Loader, Runtime, load_classifier
from service.settings import Settings, load_settings

log = logging.getLogger(__name__)

DESCRIPTION = """Labels customer comments as **poor**, **good** or **outstanding** service
(worse than, as, or better than the customer expected), with calibrated scores.

When API keys are configured, send `Authorization: Bearer <key>` to every route except
`/healthz`, `/readyz` and `/metrics`. Every error has the shape
`{"error": {"type": ..., "message": ..., "details": ...}}`."""


def create_app(settings: Settings | None = None, loader: Loader = load_classifier) -> FastAPI:
    """A new app. ``loader`` builds the classifier from settings (tests pass a fake)."""
    settings = settings or load_settings()
    runtime = Runtime(settings, loader)

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
    app.add_middleware(RequestMetricsMiddleware, metrics=runtime.metrics)
    return app
