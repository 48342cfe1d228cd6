"""Request and response bodies of the classify API (their docstrings become OpenAPI text)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

EXAMPLE_SCORES = {"poor": 0.01, "good": 0.08, "outstanding": 0.91}

# Declared in the schema only: the service checks these itself (``service/validation.py``),
# so that a blank text gets the ``invalid_input`` error that names it, not pydantic's.
NON_BLANK: dict[str, Any] = {"minLength": 1, "pattern": r"\S"}
TEXT_HELP = "Not blank; at most FEEDBACK_MAX_TEXT_CHARS characters (20,000 by default)."


class ClassifyRequest(BaseModel):
    """One comment to label."""

    model_config = ConfigDict(extra="forbid")
    text: StrictStr = Field(
        description=TEXT_HELP,
        examples=["I can't believe you had that waiting on me, I am blown away."],
        json_schema_extra=NON_BLANK,
    )


class Document(BaseModel):
    """A comment in a batch, with an optional id of the caller's that is echoed back."""

    model_config = ConfigDict(extra="forbid")
    id: StrictStr | None = Field(None, examples=["zd-48213"])
    text: StrictStr = Field(description=TEXT_HELP, json_schema_extra=NON_BLANK)


class BatchRequest(BaseModel):
    """Several comments to label in one request."""

    model_config = ConfigDict(extra="forbid")
    documents: list[Document] = Field(
        description="At least one; at most FEEDBACK_MAX_BATCH_DOCUMENTS (256 by default).",
        json_schema_extra={"minItems": 1},
    )


class ClassifyResponse(BaseModel):
    """A comment's label, the calibrated probability of each label, and whether it was cut."""

    label: str = Field(examples=["outstanding"])
    scores: dict[str, float] = Field(examples=[EXAMPLE_SCORES])
    truncated: bool
    model_version: str


class BatchResult(BaseModel):
    id: str | None
    label: str
    scores: dict[str, float]
    truncated: bool


class ModelBlock(BaseModel):
    id: str
    version: str


class BatchResponse(BaseModel):
    """Results in request order, and the model that produced them."""

    results: list[BatchResult]
    model: ModelBlock


class Health(BaseModel):
    status: str


class Info(BaseModel):
    """What is serving: the model, its labels and recorded metrics, the request limits, the
    database and the enabled webhooks."""

    model: dict[str, Any]
    labels: list[str]
    metrics: dict[str, Any]
    limits: dict[str, int]
    storage: dict[str, Any]
    webhooks: list[str]


class WebhookResult(BaseModel):
    """One comment of a delivery: stored (``comment_id``), and labelled unless ``pending``."""

    id: str | None = Field(description="The provider's id of the comment.")
    comment_id: int
    label: str | None
    scores: dict[str, float] | None
    duplicate: bool = Field(description="Delivered before: nothing new was stored.")
    pending: bool = Field(description="Stored; the background worker labels it soon.")


class WebhookResponse(BaseModel):
    """What became of each comment of the delivery, in delivery order."""

    results: list[WebhookResult]


class CommentItem(BaseModel):
    """A stored comment and its latest label (null while pending)."""

    comment_id: int
    provider: str
    external_id: str | None
    text: str
    label: str | None
    scores: dict[str, float] | None
    model_version: str | None
    received_at: datetime


class CommentPage(BaseModel):
    """Comments in the order they were stored; pass ``next_cursor`` back for the next page."""

    items: list[CommentItem]
    next_cursor: str | None


class PredictionItem(BaseModel):
    label: str
    scores: dict[str, float]
    truncated: bool
    model_version: str
    created_at: datetime


class CommentDetail(CommentItem):
    """A comment with its metadata, its latest prediction and every prediction (newest first)."""

    idempotency_key: str
    metadata: dict[str, Any]
    labelled_at: datetime | None
    history: list[PredictionItem]


class ErrorDetail(BaseModel):
    type: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The one error shape of every route."""

    error: ErrorDetail
