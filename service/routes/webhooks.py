"""``POST /v1/webhooks/{provider}``: CRMs deliver comments here, signed, at least once."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service import ingest
from service.dependencies import RuntimeDep
from service.errors import PayloadTooLarge
from service.schemas import ErrorResponse, WebhookResponse, WebhookResult
from service.settings import Settings
from service.webhooks import Delivery, salesforce

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "Bad or missing signature, secret or organization, or a replayed old timestamp.",
        404: "No such provider.",
        413: "A body over FEEDBACK_WEBHOOK_MAX_BODY_BYTES, or too many comments.",
        422: "Malformed payload, or no comment text where the provider's field says.",
        503: "Storage unavailable or the provider not configured; retry (see Retry-After).",
    }.items()
}

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=ERRORS)


async def read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(
                f"the body is over {limit} bytes (FEEDBACK_WEBHOOK_MAX_BODY_BYTES)"
            )
    return bytes(body)


def public_uri(request: Request, settings: Settings) -> str:
    """The URL the CRM called (HubSpot signs it): FEEDBACK_PUBLIC_URL behind a proxy."""
    if settings.public_url is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{settings.public_url}{request.url.path}{query}"


@router.post("/{provider}", response_model=WebhookResponse)
async def receive(provider: str, request: Request, runtime: RuntimeDep) -> Response:
    """Store and label the comments a CRM delivers; a repeated delivery is stored once."""
    settings = runtime.settings
    delivery = Delivery(
        method=request.method,
        uri=public_uri(request, settings),
        headers=request.headers,
        query=request.query_params,
        body=await read_body(request, settings.webhook_max_body_bytes),
    )
    outcomes = await ingest.receive(runtime, provider, delivery)
    if provider == salesforce.NAME:
        return Response(salesforce.ACK, media_type="text/xml; charset=utf-8")
    body = WebhookResponse(
        results=[
            WebhookResult(
                id=o.id,
                comment_id=o.comment_id,
                label=o.prediction.label if o.prediction else None,
                scores=o.prediction.scores if o.prediction else None,
                duplicate=o.duplicate,
                pending=o.prediction is None,
            )
            for o in outcomes
        ]
    )
    return Response(body.model_dump_json(), media_type="application/json")
