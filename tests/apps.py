"""Apps with storage and every webhook enabled, for the webhook, results and worker tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from service.storage import repository as repo
from tests.fakes import FakeClassifier
from tests.webhook_signing import secret_settings, signed

OUT = {"poor": 0.01, "good": 0.08, "outstanding": 0.91}
GOOD = {"poor": 0.1, "good": 0.7, "outstanding": 0.2}
POOR = {"poor": 0.8, "good": 0.15, "outstanding": 0.05}
SCORES = {"outstanding": OUT, "good": GOOD, "poor": POOR}


def error(type_: str, message: str, details: object = None) -> dict[str, object]:
    return {"error": {"type": type_, "message": message, "details": details}}


def make_app(
    storage: dict[str, object],
    fake: FakeClassifier | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **settings: object,
) -> FastAPI:
    fake = fake or FakeClassifier()
    merged = {**secret_settings(), **storage, **settings}
    return create_app(
        Settings(**merged),  # type: ignore[arg-type]
        loader=lambda s: fake,  # type: ignore[arg-type,return-value]
        callback_transport=transport,
    )


def started(app: FastAPI, wait: bool = True) -> Iterator[TestClient]:
    with TestClient(app) as client:
        runtime = app.state.runtime
        client.portal.call(runtime.wait_ready if wait else runtime.db.wait_open)
        yield client


def rows(app: FastAPI) -> tuple[int, int]:
    """(comments, predictions) stored."""
    result: tuple[int, int] = app.state.runtime.db.run_sync(repo.count_rows)
    return result


def deliver(client: TestClient, provider: str, body: bytes, **sign: Any) -> httpx.Response:
    path, headers = signed(provider, body, **sign)
    return client.post(path, content=body, headers=headers)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.02)
