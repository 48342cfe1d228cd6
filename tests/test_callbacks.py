"""Outbound callbacks through ``httpx.MockTransport``: signed, retried with capped
exponential backoff, never blocking the webhook's answer."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import httpx
import pytest

from service.callbacks import CallbackSender
from service.metrics import Metrics
from service.settings import Settings
from service.storage.repository import PendingComment, PredictionRow
from tests.apps import GOOD, OUT, deliver, make_app, started, wait_until
from tests.fakes import FAKE_VERSION
from tests.webhook_signing import fixture

URL = "https://crm.example.com/hooks/feedback"
SECRET = "callback-secret-9Xw2mQ7r"


def callback_settings(**extra: object) -> dict[str, object]:
    return {"callback_url": URL, "callback_secret": SECRET, "callback_backoff_s": 0.01, **extra}


def test_each_new_result_is_posted_signed(storage: dict[str, object]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    app = make_app(storage, transport=httpx.MockTransport(handler), **callback_settings())
    for c in started(app):
        deliver(c, "generic", fixture("generic"))
        deliver(c, "generic", fixture("generic"))  # a duplicate: no new result, no callback
        wait_until(lambda: len(seen) == 2)
        time.sleep(0.1)
    assert len(seen) == 2
    bodies = sorted((json.loads(r.content) for r in seen), key=lambda b: b["comment_id"])
    for request in seen:
        assert str(request.url) == URL
        expected = hmac.new(SECRET.encode(), request.content, hashlib.sha256).hexdigest()
        assert request.headers["x-signature-256"] == f"sha256={expected}"
        assert request.headers["content-type"] == "application/json"
    for body in bodies:
        assert body.pop("labelled_at").endswith("+00:00")
    assert bodies == [
        {
            "event": "comment.labelled",
            "delivery_id": f"1:{FAKE_VERSION}",
            "comment_id": 1,
            "provider": "generic",
            "external_id": "survey-2026-11-24-0001",
            "label": "outstanding",
            "scores": OUT,
            "model_version": FAKE_VERSION,
        },
        {
            "event": "comment.labelled",
            "delivery_id": f"2:{FAKE_VERSION}",
            "comment_id": 2,
            "provider": "generic",
            "external_id": "survey-2026-11-24-0002",
            "label": "good",
            "scores": GOOD,
            "model_version": FAKE_VERSION,
        },
    ]


def test_a_stalled_receiver_does_not_hold_up_the_webhook(storage: dict[str, object]) -> None:
    release = asyncio.Event()
    calls: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        await release.wait()
        return httpx.Response(200)

    app = make_app(storage, transport=httpx.MockTransport(handler), **callback_settings())
    for c in started(app):
        began = time.monotonic()
        r = deliver(c, "zendesk", fixture("zendesk"))
        answered = time.monotonic() - began
        wait_until(lambda: len(calls) == 1)
        c.portal.call(release.set)
    assert r.status_code == 200
    assert answered < 1.0


def sender(transport: httpx.MockTransport, **extra: object) -> tuple[CallbackSender, Metrics]:
    settings = Settings(**callback_settings(**extra))  # type: ignore[arg-type]
    metrics = Metrics()
    return CallbackSender(settings, metrics, transport), metrics


def result() -> tuple[PendingComment, PredictionRow]:
    return (
        PendingComment(7, "thx", "generic", "s-7"),
        PredictionRow(7, "good", GOOD, False, FAKE_VERSION, datetime(2026, 11, 24, tzinfo=UTC)),
    )


def send_one(callbacks: CallbackSender) -> None:
    async def scenario() -> None:
        callbacks.start()
        callbacks.submit(*result())
        await callbacks.close()

    asyncio.run(scenario())


def counted(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value("feedback_callbacks_total", {"outcome": outcome})
    return value or 0.0


def test_failures_are_retried_until_accepted() -> None:
    answers = iter([httpx.Response(503), httpx.Response(429), httpx.Response(200)])
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return next(answers)

    callbacks, metrics = sender(httpx.MockTransport(handler))
    send_one(callbacks)
    assert len(attempts) == 4
    assert len({a.headers["x-signature-256"] for a in attempts}) == 1  # the same delivery
    assert (counted(metrics, "retried"), counted(metrics, "delivered")) == (3, 1)


def test_gives_up_after_the_last_attempt() -> None:
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(500)

    callbacks, metrics = sender(httpx.MockTransport(handler), callback_max_attempts=3)
    send_one(callbacks)
    assert len(attempts) == 3
    assert counted(metrics, "failed") == 1


def test_a_refusal_is_not_retried() -> None:
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(400)

    callbacks, metrics = sender(httpx.MockTransport(handler))
    send_one(callbacks)
    assert len(attempts) == 1
    assert counted(metrics, "rejected") == 1


def test_backoff_doubles_up_to_the_cap() -> None:
    callbacks, _ = sender(
        httpx.MockTransport(lambda r: httpx.Response(200)),
        callback_backoff_s=1,
        callback_backoff_max_s=10,
    )
    assert [callbacks.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_a_full_queue_drops_and_counts() -> None:
    callbacks, metrics = sender(
        httpx.MockTransport(lambda r: httpx.Response(200)), callback_queue_max=1
    )
    callbacks.submit(*result())  # not started: nothing takes it off the queue
    callbacks.submit(*result())
    assert counted(metrics, "dropped") == 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"callback_url": URL},
            "FEEDBACK_CALLBACK_URL needs FEEDBACK_CALLBACK_SECRET to sign what it sends; "
            "set one of 16+ characters",
        ),
        (
            {"callback_url": URL, "callback_secret": "short"},
            "FEEDBACK_CALLBACK_SECRET needs at least 16 characters",
        ),
        (
            {"callback_url": "ftp://crm.example.com"},
            "FEEDBACK_CALLBACK_URL: expected an http:// or https:// URL (got 'ftp://crm.example.com')",
        ),
    ],
)
def test_callback_settings_are_checked(settings: dict[str, object], message: str) -> None:
    from service.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as caught:
        load_settings(**settings)
    assert str(caught.value) == f"invalid settings: {message}"
