"""What the providers share: the delivery, signatures, JSON, paths to the comment, HTML."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from service.errors import InvalidPayload, InvalidSignature, MissingText


@dataclass(frozen=True)
class Delivery:
    """One webhook request as it arrived: the raw body, before anything was decoded."""

    method: str
    uri: str  # as the CRM called it: FEEDBACK_PUBLIC_URL (or the request's) + path + query
    headers: Mapping[str, str]  # case-insensitive
    query: Mapping[str, str]
    body: bytes


def digest(secret: str, message: bytes, algorithm: Callable[..., Any] = hashlib.sha256) -> bytes:
    return hmac.new(secret.encode(), message, algorithm).digest()


def hex_digest(secret: str, message: bytes, algorithm: Callable[..., Any] = hashlib.sha256) -> str:
    return digest(secret, message, algorithm).hex()


def b64_digest(secret: str, message: bytes) -> str:
    return base64.b64encode(digest(secret, message)).decode()


def header(delivery: Delivery, name: str) -> str:
    value = delivery.headers.get(name)
    if not value:
        raise InvalidSignature(f"the {name} header is missing")
    return value


def check(expected: str, given: str, what: str = "signature") -> None:
    """Compare in constant time (on bytes: a non-ASCII header cannot raise)."""
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise InvalidSignature(f"the {what} does not match the body and the configured secret")


def check_age(sent_at: float, max_age_s: int, now: float | None = None) -> None:
    """Refuse a timestamp (epoch seconds) outside ``max_age_s`` of now: a replay."""
    age = (time.time() if now is None else now) - sent_at
    if abs(age) > max_age_s:
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
        raise InvalidSignature(
            f"the signature timestamp is {when}; deliveries more than {max_age_s} s away "
            "from now are refused as replays (FEEDBACK_WEBHOOK_MAX_AGE_S)"
        )


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidPayload(
            f"the body is not valid UTF-8 JSON: {exc.reason} at position {exc.start}"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidPayload(
            f"the body is not valid UTF-8 JSON: {exc.msg} at position {exc.pos}"
        ) from None


MISSING = object()


def dig(data: Any, path: str) -> Any:
    """``data`` at a dotted path (``event.comment.body``; list indexes, ``-1`` the last)."""
    for part in path.split("."):
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif (
            isinstance(data, list)
            and part.lstrip("-").isdigit()
            and -len(data) <= int(part) < len(data)
        ):
            data = data[int(part)]
        else:
            return MISSING
    return data


def present(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the absent ones: metadata keeps what the payload had."""
    return {k: v for k, v in values.items() if v is not None and v is not MISSING}


def find_text(data: Any, paths: Sequence[str]) -> tuple[str, str | None]:
    """The first path holding a non-blank string, and it; else the first path and None."""
    for path in paths:
        value = dig(data, path)
        if isinstance(value, str) and value.strip():
            return path, value
    return paths[0], None


def identifier(value: Any) -> str | None:
    """An id as text (CRMs send ids as strings or numbers); None when absent or blank."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None


class Problems:
    """Problems found in a delivery's items, raised together so nothing is stored."""

    def __init__(self) -> None:
        self.payload: list[dict[str, Any]] = []
        self.text: list[dict[str, Any]] = []

    def bad(self, item: int, field: str, reason: str) -> None:
        self.payload.append({"item": item, "field": field, "reason": reason})

    def no_text(self, item: int, paths: Sequence[str]) -> None:
        self.text.append(
            {"item": item, "field": ",".join(paths), "reason": "no comment text found"}
        )

    def raise_any(self) -> None:
        for found, error in ((self.payload, InvalidPayload), (self.text, MissingText)):
            if found:
                first = found[0]
                more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
                raise error(
                    f"item {first['item']}: {first['field']}: {first['reason']}{more}", found
                )


class _Text(HTMLParser):
    BREAKS = frozenset({"br", "p", "div", "li", "tr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Intercom and Freshdesk send comments as HTML: the words, one line per paragraph."""
    if "<" not in html and "&" not in html:
        return html.strip()
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
