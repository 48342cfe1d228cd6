"""The REST API against a fake classifier: every route, every error path, exact bodies."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.fakes import FAKE_METRICS, FAKE_VERSION, SCORES, FakeClassifier

KEY = "k" * 32
OTHER_KEY = "o" * 32
OUT = {"poor": 0.01, "good": 0.08, "outstanding": 0.91}
GOOD = {"poor": 0.1, "good": 0.7, "outstanding": 0.2}
POOR = {"poor": 0.8, "good": 0.15, "outstanding": 0.05}


def make_app(fake: FakeClassifier | None = None, **settings: object) -> FastAPI:
    fake = fake or FakeClassifier()
    return create_app(Settings(**settings), loader=lambda s: fake)  # type: ignore[arg-type]


def started(app: FastAPI, raise_server_exceptions: bool = True) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        client.portal.call(app.state.runtime.wait_ready)  # type: ignore[union-attr]
        yield client


@pytest.fixture
def client() -> Iterator[TestClient]:
    yield from started(make_app())


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    yield from started(make_app(api_keys=[KEY, OTHER_KEY]))


def error(type_: str, message: str, details: object = None) -> dict[str, object]:
    return {"error": {"type": type_, "message": message, "details": details}}


# ---- classify ------------------------------------------------------------------------


def test_classify_returns_label_scores_and_version(client: TestClient) -> None:
    r = client.post("/v1/classify", json={"text": "I can't believe it, I am blown away"})
    assert r.status_code == 200
    assert r.json() == {
        "label": "outstanding",
        "scores": OUT,
        "truncated": False,
        "model_version": FAKE_VERSION,
    }


def test_classify_flags_truncated_text(client: TestClient) -> None:
    r = client.post("/v1/classify", json={"text": "useless " * 40})
    assert r.json() == {
        "label": "poor",
        "scores": POOR,
        "truncated": True,
        "model_version": FAKE_VERSION,
    }


def test_batch_keeps_request_order_and_ids(client: TestClient) -> None:
    docs = [
        {"id": "zd-48213", "text": "never again"},
        {"text": "thanks, sorted"},
        {"id": "zd-3", "text": "WOW"},
    ]
    r = client.post("/v1/classify/batch", json={"documents": docs})
    assert r.status_code == 200
    assert r.json() == {
        "results": [
            {"id": "zd-48213", "label": "poor", "scores": POOR, "truncated": False},
            {"id": None, "label": "good", "scores": GOOD, "truncated": False},
            {"id": "zd-3", "label": "outstanding", "scores": OUT, "truncated": False},
        ],
        "model": {"id": "fake-classifier", "version": FAKE_VERSION},
    }


# ---- input errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message", "details"),
    [
        (
            {"text": 5},
            "text: Input should be a valid string",
            [{"field": "text", "reason": "Input should be a valid string"}],
        ),
        ({}, "text: Field required", [{"field": "text", "reason": "Field required"}]),
        (
            {"text": "hi", "lang": "en"},
            "lang: Extra inputs are not permitted",
            [{"field": "lang", "reason": "Extra inputs are not permitted"}],
        ),
        (
            ["hi"],
            "body: Input should be a valid dictionary or object to extract fields from",
            [
                {
                    "field": "body",
                    "reason": "Input should be a valid dictionary or object to extract fields from",
                }
            ],
        ),
    ],
)
def test_classify_rejects_wrong_types(
    client: TestClient, body: object, message: str, details: object
) -> None:
    r = client.post("/v1/classify", json=body)
    assert r.status_code == 422
    assert r.json() == error("invalid_request", message, details)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_classify_rejects_empty_text(client: TestClient, text: str) -> None:
    r = client.post("/v1/classify", json={"text": text})
    assert r.status_code == 422
    assert r.json() == error(
        "invalid_input", "text is empty", [{"field": "text", "reason": "text is empty"}]
    )


def test_classify_rejects_oversize_text() -> None:
    for c in started(make_app(max_text_chars=10)):
        r = c.post("/v1/classify", json={"text": "x" * 11})
    reason = "text has 11 characters; the limit is 10 (FEEDBACK_MAX_TEXT_CHARS)"
    assert r.status_code == 422
    assert r.json() == error("invalid_input", reason, [{"field": "text", "reason": reason}])


def test_batch_error_names_each_bad_document() -> None:
    docs = [{"id": "a", "text": "fine"}, {"id": "b", "text": " "}, {"text": "y" * 11}]
    for c in started(make_app(max_text_chars=10)):
        r = c.post("/v1/classify/batch", json={"documents": docs})
    long = "text has 11 characters; the limit is 10 (FEEDBACK_MAX_TEXT_CHARS)"
    assert r.status_code == 422
    assert r.json() == error(
        "invalid_input",
        "document 1: text is empty (and 1 more)",
        [
            {"field": "documents[1].text", "document": 1, "id": "b", "reason": "text is empty"},
            {"field": "documents[2].text", "document": 2, "id": None, "reason": long},
        ],
    )


def test_batch_wrong_type_names_the_document(client: TestClient) -> None:
    r = client.post("/v1/classify/batch", json={"documents": [{"text": "ok"}, {"text": None}]})
    assert r.status_code == 422
    assert r.json() == error(
        "invalid_request",
        "documents[1].text: Input should be a valid string",
        [{"field": "documents[1].text", "reason": "Input should be a valid string", "document": 1}],
    )


def test_batch_too_many_documents_is_413() -> None:
    for c in started(make_app(max_batch_documents=2)):
        r = c.post("/v1/classify/batch", json={"documents": [{"text": "a"}] * 3})
    assert r.status_code == 413
    assert r.json() == error(
        "too_many_documents",
        "3 documents in one request; the limit is 2 (FEEDBACK_MAX_BATCH_DOCUMENTS)",
        {"documents": 3, "limit": 2},
    )


def test_batch_with_no_documents_is_422(client: TestClient) -> None:
    r = client.post("/v1/classify/batch", json={"documents": []})
    assert r.status_code == 422
    assert r.json() == error("invalid_input", "documents is empty; send at least one", [])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"text": "caf\xe9"}', "invalid continuation byte at position 13"),
        (b'{"text": ', "Expecting value at position 9"),
    ],
)
def test_malformed_body_is_422(client: TestClient, raw: bytes, reason: str) -> None:
    r = client.post("/v1/classify", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json() == error("invalid_json", f"the request body is not valid UTF-8 JSON: {reason}")


def test_missing_body_is_422(client: TestClient) -> None:
    r = client.post("/v1/classify", content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json() == error(
        "invalid_request", "body: Field required", [{"field": "body", "reason": "Field required"}]
    )


def test_unknown_route_uses_the_error_shape(client: TestClient) -> None:
    r = client.get("/v2/nothing")
    assert r.status_code == 404
    assert r.json() == error("not_found", "no such route")


def test_wrong_method_uses_the_error_shape(client: TestClient) -> None:
    r = client.get("/v1/classify")
    assert r.status_code == 405
    assert r.json() == error("method_not_allowed", "Method Not Allowed")
    assert r.headers["allow"] == "POST"


# ---- health, readiness, info, metrics --------------------------------------------------


def test_health_ready_and_info(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ready"})
    info = client.get("/info").json()
    assert info["model"]["id"] == "fake-classifier"
    assert info["model"]["version"] == FAKE_VERSION
    assert (info["model"]["temperature"], info["model"]["bias"]) == (1.0, [0.0, 0.0, 0.0])
    assert info["labels"] == ["poor", "good", "outstanding"]
    assert info["metrics"] == FAKE_METRICS
    assert info["limits"] == {
        "max_batch_documents": 256,
        "max_text_chars": 20_000,
        "batch_max_size": 64,
        "queue_max_texts": 2048,
    }


def test_not_ready_until_the_model_is_loaded() -> None:
    fake = FakeClassifier()
    fake.release.clear()  # warm-up blocks until released
    app = make_app(fake)
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert r.json() == error("not_ready", "the model is still loading")
        r = c.post("/v1/classify", json={"text": "hi"})
        assert (r.status_code, r.json()["error"]["type"]) == (503, "not_ready")
        assert c.get("/metrics").text.count("feedback_ready 0.0") == 1
        fake.release.set()
        c.portal.call(app.state.runtime.wait_ready)
        assert c.get("/readyz").status_code == 200
        assert "feedback_ready 1.0" in c.get("/metrics").text


def test_failed_load_is_reported_on_readyz() -> None:
    def broken(settings: Settings) -> FakeClassifier:
        raise FileNotFoundError("model/none/artifact.json")

    app = create_app(Settings(), loader=broken)  # type: ignore[arg-type]
    with TestClient(app) as c:
        c.portal.call(app.state.runtime.wait_ready)
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json() == error(
        "not_ready", "the model failed to load: FileNotFoundError: model/none/artifact.json"
    )


def test_metrics_count_requests_and_predictions(client: TestClient) -> None:
    client.post("/v1/classify", json={"text": "blown away"})
    client.post("/v1/classify", json={"text": ""})
    text = client.get("/metrics").text
    assert (
        'feedback_http_requests_total{method="POST",route="/v1/classify",status="200"} 1.0' in text
    )
    assert (
        'feedback_http_requests_total{method="POST",route="/v1/classify",status="422"} 1.0' in text
    )
    assert (
        f'feedback_predictions_total{{label="outstanding",model_version="{FAKE_VERSION}"}} 1.0'
        in text
    )
    assert (
        'feedback_http_request_duration_seconds_count{method="POST",route="/v1/classify"}' in text
    )
    assert "feedback_batch_size_count" in text
    assert "feedback_queue_depth 0.0" in text


def test_metrics_use_route_templates_not_raw_paths(client: TestClient) -> None:
    client.get("/no/such/path/123")
    text = client.get("/metrics").text
    assert 'route="unmatched"' in text
    assert "/no/such/path" not in text


def test_openapi_documents_the_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/v1/classify", "/v1/classify/batch", "/healthz", "/readyz", "/info"} <= set(
        schema["paths"]
    )
    assert client.get("/docs").status_code == 200


# ---- API keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "this route needs an API key: send 'Authorization: Bearer <key>'"),
        ("Bearer wrong-key-wrong-key-wrong", "the API key is not valid"),
        (f"Basic {KEY}", "the Authorization header must be 'Bearer <key>'"),
        ("Bearer ", "the Authorization header must be 'Bearer <key>'"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/classify"), ("POST", "/v1/classify/batch"), ("GET", "/info")]
)
def test_keys_required_when_configured(
    keyed: TestClient, header: str | None, message: str, method: str, path: str
) -> None:
    headers = {"authorization": header} if header is not None else {}
    r = keyed.request(method, path, json={"text": "hi"}, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == error("unauthorized", message)


@pytest.mark.parametrize("key", [KEY, OTHER_KEY])
def test_any_configured_key_is_accepted(keyed: TestClient, key: str) -> None:
    r = keyed.post("/v1/classify", json={"text": "ok"}, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_operations_routes_need_no_key(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_keys_and_texts_stay_out_of_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for c in started(make_app(api_keys=[KEY])):
        c.post("/v1/classify", json={"text": "secret comment"}, headers={"authorization": "x"})
        c.post(
            "/v1/classify",
            json={"text": "secret comment"},
            headers={"authorization": f"Bearer {KEY}"},
        )
    assert "secret comment" not in caplog.text
    assert KEY not in caplog.text


def test_texts_logged_only_when_enabled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="service")
    for c in started(make_app(log_texts=True)):
        c.post("/v1/classify", json={"text": "secret comment"})
    assert "secret comment" in caplog.text


# ---- micro-batching and backpressure -----------------------------------------------------


async def _concurrent(app: FastAPI, texts: list[str]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        await app.state.runtime.wait_ready()
        return await asyncio.gather(*(client.post("/v1/classify", json={"text": t}) for t in texts))


def test_concurrent_requests_share_model_runs() -> None:
    fake = FakeClassifier(delay=0.05)
    app = make_app(fake, batch_max_wait_ms=20)
    texts = [f"request {i} blown away" if i % 2 else f"request {i}" for i in range(24)]
    responses = asyncio.run(_concurrent(app, texts))
    assert [r.json()["label"] for r in responses] == [
        "outstanding" if i % 2 else "good" for i in range(24)
    ]
    model_runs = fake.calls[1:]  # the first call is the warm-up
    assert sum(model_runs) == 24
    assert max(model_runs) > 1
    assert len(model_runs) < 24


def test_batch_size_metric_shows_coalescing() -> None:
    fake = FakeClassifier(delay=0.05)
    app = make_app(fake, batch_max_wait_ms=20)
    asyncio.run(_concurrent(app, [f"t{i}" for i in range(16)]))
    text = app.state.runtime.metrics.render().decode()
    (count,) = [line for line in text.splitlines() if line.startswith("feedback_batch_size_count")]
    (total,) = [line for line in text.splitlines() if line.startswith("feedback_batch_size_sum")]
    assert float(total.split()[1]) == 16
    assert float(count.split()[1]) < 16


def test_full_queue_answers_503_with_retry_after() -> None:
    fake = FakeClassifier()
    app = make_app(fake, queue_max_texts=4, batch_max_size=1, batch_max_wait_ms=0)

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            await app.state.runtime.wait_ready()
            fake.release.clear()  # the model stalls: requests pile up
            fake.entered.clear()

            def post(i: int) -> asyncio.Task[httpx.Response]:
                return asyncio.create_task(client.post("/v1/classify", json={"text": f"t{i}"}))

            tasks = [post(0)]
            await asyncio.to_thread(fake.entered.wait, 5)  # the model has t0, and stalls
            tasks += [post(i) for i in range(1, 8)]
            await asyncio.sleep(0.3)
            fake.release.set()
            return await asyncio.gather(*tasks)

    responses = asyncio.run(scenario())
    statuses = sorted(r.status_code for r in responses)
    # One text runs (stalled), four wait in the queue, three are turned away.
    assert statuses == [200] * 5 + [503] * 3
    rejected = [r for r in responses if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" for r in rejected)
    assert rejected[0].json()["error"]["type"] == "overloaded"


def test_model_failure_is_500_with_the_error_shape() -> None:
    for c in started(make_app(FakeClassifier(fail_on="boom")), raise_server_exceptions=False):
        r = c.post("/v1/classify", json={"text": "boom"})
        ok = c.post("/v1/classify", json={"text": "fine"})
    assert r.status_code == 500
    assert r.json() == error("internal_error", "an unexpected error occurred")
    assert ok.status_code == 200


def test_shutdown_finishes_requests_in_flight() -> None:
    fake = FakeClassifier(delay=0.2)
    app = make_app(fake)

    async def scenario() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            async with app.router.lifespan_context(app):
                await app.state.runtime.wait_ready()
                pending = asyncio.create_task(client.post("/v1/classify", json={"text": "x"}))
                await asyncio.sleep(0.05)
            return await pending

    assert asyncio.run(scenario()).status_code == 200


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_API_KEYS", f"{KEY}, {OTHER_KEY}")
    monkeypatch.setenv("FEEDBACK_MAX_BATCH_DOCUMENTS", "7")
    settings = Settings()
    assert [k.get_secret_value() for k in settings.api_keys] == [KEY, OTHER_KEY]
    assert settings.max_batch_documents == 7
    assert KEY not in repr(settings)


def test_scores_match_the_fake(client: TestClient) -> None:
    r = client.post("/v1/classify", json={"text": "meh"})
    assert list(r.json()["scores"].values()) == pytest.approx(SCORES["good"])
    assert json.loads(r.text)["label"] == "good"
