"""``/v1/comments``: what the webhooks stored, with labels, for reports and CRMs to fetch."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from service import comments
from service.dependencies import Authenticated, RuntimeDep
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


@router.get("/comments", response_model=CommentPage)
async def list_comments(
    runtime: RuntimeDep,
    since: Annotated[datetime | None, Query(description="Received at or after (ISO 8601).")] = None,
    label: Literal["poor", "good", "outstanding"] | None = None,
    provider: str | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CommentPage:
    """Stored comments, oldest first, with their latest label; filter and page through them."""
    return await comments.page(
        runtime.db, since=since, label=label, provider=provider, cursor=cursor, limit=limit
    )


@router.get(
    "/comments/{comment_id}",
    response_model=CommentDetail,
    responses={404: {"model": ErrorResponse, "description": "No such comment."}},
)
async def get_comment(comment_id: int, runtime: RuntimeDep) -> CommentDetail:
    """One comment with its metadata, its latest prediction and every prediction before it."""
    return await comments.detail(runtime.db, comment_id)
