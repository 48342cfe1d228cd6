"""``/v1/comments``: what the webhooks stored, with labels, for reports and CRMs to fetch."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from service import comments
from service.dependencies import Authenticated, RuntimeDep
from service.errors import InvalidInput
from service.schemas import CommentDetail, CommentPage, ErrorResponse

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "Missing or wrong API key (when keys are configured).",
        422: "A bad query parameter or cursor.",
        503: "Storage unavailable; see Retry-After.",
    }.items()
}

router = APIRouter(prefix="/v1", tags=["comments"], dependencies=[Authenticated], responses=ERRORS)


def parse_since(value: str | None) -> datetime | None:
    """ISO 8601 only: pydantic would also take a number as a Unix time, which is not the API."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        reason = "expected an ISO 8601 date-time such as 2026-11-24T09:00:00Z"
        raise InvalidInput(f"since: {reason}", [{"field": "since", "reason": reason}]) from None


@router.get("/comments", response_model=CommentPage)
async def list_comments(
    runtime: RuntimeDep,
    since: Annotated[
        str | None,
        Query(
            description="Received at or after (ISO 8601, e.g. 2026-11-24T09:00:00Z).",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    label: Literal["poor", "good", "outstanding"] | None = None,
    provider: str | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CommentPage:
    """Stored comments, oldest first, with their latest label; filter and page through them."""
    return await comments.page(
        runtime.db,
        since=parse_since(since),
        label=label,
        provider=provider,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/comments/{comment_id}",
    response_model=CommentDetail,
    responses={404: {"model": ErrorResponse, "description": "No such comment."}},
)
async def get_comment(
    comment_id: Annotated[int, Path(ge=1, le=2**63 - 1)], runtime: RuntimeDep
) -> CommentDetail:
    """One comment with its metadata, its latest prediction and every prediction before it."""
    return await comments.detail(runtime.db, comment_id)
