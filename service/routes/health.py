"""Liveness, readiness, model information and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.dependencies import Authenticated, RuntimeDep
from service.errors import NotReady
from service.schemas import ErrorResponse, Health, Info

router = APIRouter(tags=["operations"])

NOT_READY = {"model": ErrorResponse, "description": "Still loading, or failed to load."}
UNAUTHORIZED = {
    "model": ErrorResponse,
    "description": "Missing or wrong API key (when keys are configured).",
}


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive (it may still be loading the model)."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: NOT_READY},
)
async def readyz(runtime: RuntimeDep) -> Health:
    """The model is loaded and warm, and storage has been opened once: send traffic."""
    if not runtime.ready:
        raise NotReady(runtime.not_ready_message())
    if not runtime.db.ready:
        # Only at start: a database lost later answers 503 on the storage routes alone,
        # so that classification keeps its replicas in the load balancer.
        raise NotReady("storage is not open yet (connecting or migrating)")
    return Health(status="ready")


@router.get(
    "/info",
    response_model=Info,
    dependencies=[Authenticated],
    responses={401: UNAUTHORIZED, 503: NOT_READY},
)
async def info(runtime: RuntimeDep) -> Info:
    """The serving model (id, version, labels, recorded metrics) and the request limits."""
    return Info(**runtime.info())


@router.get("/metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")
