"""Request limits: documents per request and characters per text, checked before any work."""

from __future__ import annotations

from collections.abc import Sequence

from service.errors import InvalidInput, TooManyDocuments
from service.settings import Settings


def check_count(count: int, settings: Settings) -> None:
    if count > settings.max_batch_documents:
        raise TooManyDocuments(
            f"{count} documents in one request; the limit is {settings.max_batch_documents} "
            "(FEEDBACK_MAX_BATCH_DOCUMENTS)",
            details={"documents": count, "limit": settings.max_batch_documents},
        )
    if count == 0:
        raise InvalidInput("documents is empty; send at least one", details=[])


def check_texts(
    texts: Sequence[str], settings: Settings, ids: Sequence[str | None] | None = None
) -> None:
    """Every text non-blank and within the character limit; the error lists each bad one."""
    problems = []
    for i, text in enumerate(texts):
        if not text.strip():
            reason = "text is empty"
        elif len(text) > settings.max_text_chars:
            reason = (
                f"text has {len(text)} characters; the limit is {settings.max_text_chars} "
                "(FEEDBACK_MAX_TEXT_CHARS)"
            )
        else:
            continue
        problem: dict[str, object] = {"field": "text", "reason": reason}
        if ids is not None:
            problem = {
                "field": f"documents[{i}].text",
                "document": i,
                "id": ids[i],
                "reason": reason,
            }
        problems.append(problem)
    if problems:
        first = problems[0]
        where = f"document {first['document']}: " if ids is not None else ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidInput(f"{where}{first['reason']}{more}", details=problems)
