"""``/v1/classify`` and ``/v1/classify/batch``."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from service.dependencies import Authenticated, RuntimeDep
from service.schemas import (
    BatchRequest,
    BatchResponse,
    BatchResult,
    ClassifyRequest,
    ClassifyResponse,
    ErrorResponse,
    ModelBlock,
)
from service.validation import check_count, check_texts

log = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "Missing or wrong API key (when keys are configured).",
        413: "More documents than FEEDBACK_MAX_BATCH_DOCUMENTS.",
        422: "Malformed JSON, wrong types, or an empty or oversize text.",
        503: "The model is loading or its queue is full; see Retry-After.",
    }.items()
}

router = APIRouter(prefix="/v1", tags=["classify"], dependencies=[Authenticated], responses=ERRORS)


@router.post("/classify", response_model=ClassifyResponse)
async def classify(body: ClassifyRequest, runtime: RuntimeDep) -> ClassifyResponse:
    """Label one comment as poor, good or outstanding service, with calibrated scores."""
    check_texts([body.text], runtime.settings)
    if runtime.settings.log_texts:
        log.debug("classify text=%r", body.text)
    (result,), version = await runtime.classify([body.text])
    return ClassifyResponse(**result, model_version=version)


@router.post("/classify/batch", response_model=BatchResponse)
async def classify_batch(body: BatchRequest, runtime: RuntimeDep) -> BatchResponse:
    """Label several comments; results come back in request order with their ids."""
    check_count(len(body.documents), runtime.settings)
    texts = [doc.text for doc in body.documents]
    ids = [doc.id for doc in body.documents]
    check_texts(texts, runtime.settings, ids)
    if runtime.settings.log_texts:
        log.debug("classify batch texts=%r", texts)
    results, version = await runtime.classify(texts)
    assert runtime.classifier is not None  # classify() succeeded, so the model is loaded
    return BatchResponse(
        results=[BatchResult(id=i, **r) for i, r in zip(ids, results, strict=True)],
        model=ModelBlock(id=runtime.classifier.meta.model_id, version=version),
    )
