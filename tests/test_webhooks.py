"""CRM webhooks against a fake classifier, on SQLite and PostgreSQL: each provider's
documented payload is stored and labelled once; every refusal stores nothing."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.apps import SCORES, deliver, error, make_app, rows, started
from tests.fakes import FAKE_VERSION, FakeClassifier
from tests.webhook_signing import (
    PROVIDERS,
    SALESFORCE_ORG,
    SECRETS,
    fixture,
    signed,
)

# What each fixture holds: the provider's id of each comment, its label and stored text.
EXPECTED: dict[str, list[tuple[str, str, str]]] = {
    "zendesk": [
        (
            "31871045529746",
            "outstanding",
            "Priya rang me back on her day off to say the new router had arrived, and she had "
            "already booked the engineer for the morning that suited me. I am blown away.",
        )
    ],
    "hubspot": [
        (
            "1830194431",
            "poor",
            "Waited forty minutes on hold and then the line went dead. Never again.",
        ),
        ("1830194502", "good", "Thanks, that sorted it quickly."),
    ],
    "intercom": [
        (
            "215467328114902",
            "outstanding",
            "Jane found the parcel with the neighbour & had it brought round within the hour. "
            "Wow, thank you!",
        )
    ],
    "salesforce": [
        (
            "00a5g00000T8kYVAAZ",
            "poor",
            "The engineer was useless, he left without fixing anything.",
        ),
        ("00a5g00000T8kYWAAZ", "good", "All fine now, thanks for the quick reply."),
    ],
    "freshdesk": [("4521", "good", "A bit of a wait, but the refund came through. Thanks!")],
    "generic": [
        (
            "survey-2026-11-24-0001",
            "outstanding",
            "I can't believe you had that waiting on me, I am blown away.",
        ),
        ("survey-2026-11-24-0002", "good", "thx, sorted"),
    ],
}

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


def expected_results(provider: str, duplicate: bool = False) -> dict[str, object]:
    return {
        "results": [
            {
                "id": external,
                "comment_id": i + 1,
                "label": label,
                "scores": SCORES[label],
                "duplicate": duplicate,
                "pending": False,
            }
            for i, (external, label, _) in enumerate(EXPECTED[provider])
        ]
    }


def assert_answer(response: httpx.Response, provider: str, duplicate: bool = False) -> None:
    assert response.status_code == 200, response.text
    if provider == "salesforce":
        assert response.headers["content-type"] == "text/xml; charset=utf-8"
        assert response.text == ACK
    else:
        assert response.json() == expected_results(provider, duplicate)


@pytest.fixture
def app(storage: dict[str, object]) -> FastAPI:
    return make_app(storage)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    yield from started(app)


# ---- a valid delivery ----------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_valid_delivery_is_stored_and_labelled(
    app: FastAPI, client: TestClient, provider: str
) -> None:
    r = deliver(client, provider, fixture(provider))
    assert_answer(r, provider)
    n = len(EXPECTED[provider])
    assert rows(app) == (n, n)
    listed = client.get("/v1/comments").json()
    for item in listed["items"]:
        assert item.pop("received_at").endswith("Z")
    assert listed == {
        "items": [
            {
                "comment_id": i + 1,
                "provider": provider,
                "external_id": external,
                "text": text,
                "label": label,
                "scores": SCORES[label],
                "model_version": FAKE_VERSION,
            }
            for i, (external, label, text) in enumerate(EXPECTED[provider])
        ],
        "next_cursor": None,
    }


@pytest.mark.parametrize("provider", PROVIDERS)
def test_repeated_delivery_is_stored_once(app: FastAPI, client: TestClient, provider: str) -> None:
    body = fixture(provider)
    assert_answer(deliver(client, provider, body), provider)
    # A retry comes later, re-signed with a new timestamp where the provider signs one.
    again = deliver(client, provider, body, sent_at=time.time() + 1)
    assert_answer(again, provider, duplicate=True)
    n = len(EXPECTED[provider])
    assert rows(app) == (n, n)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_concurrent_copies_are_stored_once(storage: dict[str, object], provider: str) -> None:
    app = make_app(storage)
    body = fixture(provider)

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            await app.state.runtime.wait_ready()
            copies = []
            for _ in range(8):
                path, headers = signed(provider, body)
                copies.append(client.post(path, content=body, headers=headers))
            responses = await asyncio.gather(*copies)
            # Still inside the lifespan: the database is open.
            assert rows(app) == (len(EXPECTED[provider]),) * 2
            return responses

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200] * 8
    if provider != "salesforce":
        bodies = [r.json()["results"] for r in responses]
        assert sum(not result["duplicate"] for b in bodies for result in b) == len(
            EXPECTED[provider]
        )
        # Every copy names the same stored comments (PostgreSQL's ids may have gaps: a
        # conflicting insert still draws from the sequence).
        answers = {tuple((x["comment_id"], x["label"]) for x in b) for b in bodies}
        assert len(answers) == 1
        assert [label for _, label in answers.pop()] == [x[1] for x in EXPECTED[provider]]


def test_same_comment_twice_in_one_delivery_is_stored_once(
    app: FastAPI, client: TestClient
) -> None:
    body = json.dumps([{"id": "a", "text": "thx"}, {"id": "a", "text": "thx"}]).encode()
    r = deliver(client, "generic", body)
    assert [(x["comment_id"], x["duplicate"]) for x in r.json()["results"]] == [
        (1, False),
        (1, True),
    ]
    assert rows(app) == (1, 1)


# ---- refused deliveries store nothing -------------------------------------------------


def tampered(provider: str) -> tuple[str, dict[str, str], bytes]:
    """A correctly signed delivery whose body was changed on the way."""
    body = fixture(provider)
    path, headers = signed(provider, body)
    if provider == "salesforce":  # no signature: the token is what is checked
        path = path.replace(SECRETS["salesforce"], "not-the-token")
    elif provider == "freshdesk":
        headers["X-Webhook-Secret"] = "not-the-secret"
    return path, headers, body.replace(b"e", b"E", 1)


WRONG = {
    "zendesk": "the signature does not match the body and the configured secret",
    "hubspot": "the signature does not match the body and the configured secret",
    "intercom": "the signature does not match the body and the configured secret",
    "salesforce": "the token does not match the body and the configured secret",
    "freshdesk": "the shared secret does not match the body and the configured secret",
    "generic": "the signature does not match the body and the configured secret",
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_bad_signature_is_401(app: FastAPI, client: TestClient, provider: str) -> None:
    path, headers, body = tampered(provider)
    r = client.post(path, content=body, headers=headers)
    assert r.status_code == 401
    assert r.json() == error("invalid_signature", WRONG[provider])
    assert rows(app) == (0, 0)


MISSING = {
    "zendesk": "the X-Zendesk-Webhook-Signature header is missing",
    "hubspot": "the X-HubSpot-Signature-v3 header is missing",
    "intercom": "the X-Hub-Signature header is missing",
    "salesforce": "the token query parameter is missing: Salesforce's endpoint URL must end "
    "in ?token=<FEEDBACK_WEBHOOK_SECRET_SALESFORCE>",
    "freshdesk": "the X-Webhook-Secret header is missing",
    "generic": "the X-Signature-256 header is missing",
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unsigned_delivery_is_401(app: FastAPI, client: TestClient, provider: str) -> None:
    r = client.post(
        f"/v1/webhooks/{provider}",
        content=fixture(provider),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 401
    assert r.json() == error("invalid_signature", MISSING[provider])
    assert rows(app) == (0, 0)


@pytest.mark.parametrize("provider", ["zendesk", "hubspot"])
@pytest.mark.parametrize(("shift", "when"), [(-400, "old"), (400, "in the future")])
def test_replayed_timestamp_is_401(
    app: FastAPI, client: TestClient, provider: str, shift: int, when: str
) -> None:
    r = deliver(client, provider, fixture(provider), sent_at=time.time() + shift)
    assert r.status_code == 401
    body = r.json()
    assert body["error"]["type"] == "invalid_signature"
    # Zendesk stamps whole seconds: the age is 399 to 401 s.
    assert re.fullmatch(
        rf"the signature timestamp is (399|400|401) s {when}; deliveries more than 300 s away "
        r"from now are refused as replays \(FEEDBACK_WEBHOOK_MAX_AGE_S\)",
        body["error"]["message"],
    ), body
    assert rows(app) == (0, 0)


MALFORMED = {
    "zendesk": (b'{"detail": ', "the body is not valid UTF-8 JSON: Expecting value at position 11"),
    "hubspot": (
        b'{"eventId": 1}',
        "item 0: body: expected a non-empty JSON array of HubSpot events",
    ),
    "intercom": (
        b'{"type": "ping"}',
        "item 0: type: expected an Intercom notification_event object",
    ),
    "salesforce": (
        b"<soapenv:Envelope>",
        "the body is not valid XML: unbound prefix: line 1, column 0",
    ),
    "freshdesk": (
        b"\xff\xfe",
        "the body is not valid UTF-8 JSON: invalid start byte at position 0",
    ),
    "generic": (
        b'[{"text": "no id"}]',
        "item 0: [0].id: missing: a string that identifies the comment",
    ),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_payload_is_422(app: FastAPI, client: TestClient, provider: str) -> None:
    body, message = MALFORMED[provider]
    r = deliver(client, provider, body)
    assert r.status_code == 422
    assert r.json()["error"]["type"] == "invalid_payload"
    assert r.json()["error"]["message"] == message
    assert rows(app) == (0, 0)


def without_text(provider: str) -> bytes:
    """The fixture with the comment of its last item taken out."""
    raw = fixture(provider)
    if provider == "salesforce":
        return raw.replace(
            b"<sf:CommentBody>All fine now, thanks for the quick reply.</sf:CommentBody>", b""
        )
    data = json.loads(raw)
    if provider == "zendesk":
        del data["event"]["comment"]["body"]
    elif provider == "hubspot":
        data[-1]["propertyValue"] = ""
    elif provider == "intercom":
        data["data"]["item"]["conversation_rating"]["remark"] = None
    elif provider == "freshdesk":
        data["freshdesk_webhook"]["ticket_latest_public_comment"] = "<p> </p>"
    else:
        del data[-1]["text"]
    return json.dumps(data).encode()


NO_TEXT = {
    "zendesk": (0, "event.comment.body"),
    "hubspot": (1, "propertyValue"),
    "intercom": (0, "data.item.conversation_rating.remark"),
    "salesforce": (1, "CommentBody,Description"),
    "freshdesk": (0, "freshdesk_webhook.ticket_latest_public_comment"),
    "generic": (1, "[1].text"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_missing_text_is_422_and_stores_no_item(
    app: FastAPI, client: TestClient, provider: str
) -> None:
    r = deliver(client, provider, without_text(provider))
    item, field = NO_TEXT[provider]
    assert r.status_code == 422
    assert r.json() == error(
        "missing_text",
        f"item {item}: {field}: no comment text found",
        [{"item": item, "field": field, "reason": "no comment text found"}],
    )
    assert rows(app) == (0, 0)  # not even the batch's other, valid items


def test_unconfigured_provider_is_503_saying_what_to_set(storage: dict[str, object]) -> None:
    app = make_app(storage, webhook_secret_zendesk=None)
    for c in started(app):
        r = deliver(c, "zendesk", fixture("zendesk"))
        assert rows(app) == (0, 0)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "60"
    assert r.json() == error(
        "webhook_not_configured",
        "the zendesk webhook is not configured: set FEEDBACK_WEBHOOK_SECRET_ZENDESK (the "
        "webhook's signing secret, from Admin Center > Apps and integrations > Webhooks)",
    )


def test_unknown_provider_is_404(client: TestClient) -> None:
    r = client.post("/v1/webhooks/pipedrive", content=b"{}")
    assert r.status_code == 404
    assert r.json() == error(
        "not_found",
        "no webhook provider 'pipedrive'; the providers are zendesk, hubspot, intercom, "
        "salesforce, freshdesk, generic",
    )


def test_oversize_body_is_413(storage: dict[str, object]) -> None:
    app = make_app(storage, webhook_max_body_bytes=2048)
    body = json.dumps({"id": "x", "text": "y" * 3000}).encode()
    for c in started(app):
        r = deliver(c, "generic", body)
        assert rows(app) == (0, 0)
    assert r.status_code == 413
    assert r.json() == error(
        "payload_too_large", "the body is over 2048 bytes (FEEDBACK_WEBHOOK_MAX_BODY_BYTES)"
    )


def test_too_many_comments_is_413_and_oversize_text_422(storage: dict[str, object]) -> None:
    app = make_app(storage, max_batch_documents=2, max_text_chars=10)
    three = json.dumps([{"id": str(i), "text": "ok"} for i in range(3)]).encode()
    long = json.dumps([{"id": "a", "text": "ok"}, {"id": "b", "text": "x" * 11}]).encode()
    for c in started(app):
        many = deliver(c, "generic", three)
        too_long = deliver(c, "generic", long)
        assert rows(app) == (0, 0)
    assert many.status_code == 413
    assert many.json() == error(
        "too_many_documents",
        "3 comments in one delivery; the limit is 2 (FEEDBACK_MAX_BATCH_DOCUMENTS)",
        {"documents": 3, "limit": 2},
    )
    reason = "text has 11 characters; the limit is 10 (FEEDBACK_MAX_TEXT_CHARS)"
    assert too_long.status_code == 422
    assert too_long.json() == error(
        "invalid_input", f"item 1: {reason}", [{"item": 1, "id": "b", "reason": reason}]
    )


# ---- provider specifics -----------------------------------------------------------------


def test_text_field_is_configurable(storage: dict[str, object]) -> None:
    app = make_app(storage, webhook_text_field_zendesk="event.comment.html_body,detail.description")
    for c in started(app):
        r = deliver(c, "zendesk", fixture("zendesk"))
        text = c.get("/v1/comments/1").json()["text"]
    assert r.status_code == 200
    assert text == "Router keeps dropping the connection every evening"


def test_intercom_ping_is_answered_and_stores_nothing(app: FastAPI, client: TestClient) -> None:
    ping = json.dumps(
        {"type": "notification_event", "topic": "ping", "id": "notif_1", "data": {"item": {}}}
    ).encode()
    r = deliver(client, "intercom", ping)
    assert (r.status_code, r.json()) == (200, {"results": []})
    assert rows(app) == (0, 0)


def test_intercom_reply_text_comes_from_the_last_part(client: TestClient) -> None:
    data = json.loads(fixture("intercom"))
    data["topic"] = "conversation.user.replied"
    data["id"] = "notif_reply"
    data["data"]["item"]["conversation_parts"]["conversation_parts"] = [
        {"type": "conversation_part", "id": "1", "part_type": "comment", "body": "<p>first</p>"},
        {"type": "conversation_part", "id": "2", "part_type": "comment",
         "body": "<p>Still <b>never</b> arrived.</p><p>Cancel it.</p>"},
    ]  # fmt: skip
    r = deliver(client, "intercom", json.dumps(data).encode())
    assert r.json()["results"][0]["label"] == "poor"
    assert client.get("/v1/comments/1").json()["text"] == "Still never arrived.\nCancel it."


def test_hubspot_signs_the_public_url(storage: dict[str, object]) -> None:
    app = make_app(storage, public_url="https://feedback.example.com/")
    body = fixture("hubspot")
    for c in started(app):
        path, headers = signed("hubspot", body, base_url="https://feedback.example.com")
        good = c.post(path, content=body, headers=headers)
        path, headers = signed("hubspot", body)  # signed for http://testserver
        bad = c.post(path, content=body, headers=headers)
    assert good.status_code == 200
    assert bad.status_code == 401


def test_salesforce_other_org_is_401(app: FastAPI, client: TestClient) -> None:
    body = fixture("salesforce").replace(SALESFORCE_ORG.encode(), b"00D000000000001AAA")
    r = deliver(client, "salesforce", body)
    assert r.status_code == 401
    assert r.json() == error(
        "invalid_signature",
        "OrganizationId '00D000000000001AAA' is not the configured "
        "FEEDBACK_SALESFORCE_ORGANIZATION_ID",
    )
    assert rows(app) == (0, 0)


def test_salesforce_accepts_the_15_character_org_id(storage: dict[str, object]) -> None:
    app = make_app(storage, salesforce_organization_id=SALESFORCE_ORG[:15])
    for c in started(app):
        assert deliver(c, "salesforce", fixture("salesforce")).status_code == 200


def test_salesforce_refuses_document_type_declarations(client: TestClient) -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    r = deliver(client, "salesforce", body)
    assert r.status_code == 422
    assert r.json() == error("invalid_payload", "document type declarations are not accepted")


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        ("freshdesk:" + SECRETS["freshdesk"], 200),
        ("freshdesk:wrong", 401),
        ("someone:" + SECRETS["freshdesk"], 401),
    ],
)
def test_freshdesk_basic_auth(storage: dict[str, object], credentials: str, status: int) -> None:
    import base64

    app = make_app(storage, freshdesk_auth="basic")
    token = base64.b64encode(credentials.encode()).decode()
    for c in started(app):
        r = c.post(
            "/v1/webhooks/freshdesk",
            content=fixture("freshdesk"),
            headers={"content-type": "application/json", "authorization": f"Basic {token}"},
        )
        assert rows(app) == ((1, 1) if status == 200 else (0, 0))
    assert r.status_code == status
    if status == 401:
        assert r.json() == error(
            "invalid_signature", "the basic-auth user name or password is wrong"
        )


def test_webhooks_need_no_api_key(storage: dict[str, object]) -> None:
    app = make_app(storage, api_keys=["k" * 32])
    for c in started(app):
        assert deliver(c, "generic", fixture("generic")).status_code == 200
        assert c.get("/v1/comments").status_code == 401


def test_metrics_count_webhook_comments(client: TestClient) -> None:
    deliver(client, "generic", fixture("generic"))
    deliver(client, "generic", fixture("generic"))
    text = client.get("/metrics").text
    assert 'feedback_webhook_comments_total{provider="generic",result="stored"} 2.0' in text
    assert 'feedback_webhook_comments_total{provider="generic",result="duplicate"} 2.0' in text
    assert 'route="/v1/webhooks/{provider}"' in text


def test_texts_and_secrets_stay_out_of_logs(
    storage: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    fake = FakeClassifier(fail_on="blown away")  # the failure path logs too
    for c in started(make_app(storage, fake)):
        deliver(c, "generic", fixture("generic"))
        deliver(c, "salesforce", fixture("salesforce"))
    # The service's own records (the test client's httpx logs the URL it calls).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "inference failed" in logged
    for words in ("blown away", "useless", *SECRETS.values()):
        assert words not in logged


def test_openapi_documents_the_webhook_and_results_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/webhooks/{provider}", "/v1/comments", "/v1/comments/{comment_id}"} <= set(paths)


def test_access_log_hides_the_salesforce_token() -> None:
    import logging

    from service.serve import RedactSecrets

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", "/v1/webhooks/salesforce?token=s3cret&x=1", "1.1", 200), None,
    )  # fmt: skip
    RedactSecrets().filter(record)
    assert record.getMessage() == (
        '127.0.0.1:5 - "POST /v1/webhooks/salesforce?token=***&x=1 HTTP/1.1" 200'
    )


def test_storage_unreachable_at_start_is_503_until_it_comes_up(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the data folder should be")
    app = make_app({"data_dir": blocked / "data"})
    with TestClient(app) as c:
        c.portal.call(app.state.runtime.wait_model)
        r = deliver(c, "generic", fixture("generic"))
        assert c.get("/healthz").status_code == 200
        assert r.status_code == 503
        assert r.headers["retry-after"] == "5"
        assert r.json()["error"]["type"] == "storage_unavailable"
        assert r.json()["error"]["message"].startswith(
            "storage is not available yet: the database is unreachable: "
        )
        blocked.unlink()  # the folder can be made now: the next attempt opens it
        c.portal.call(app.state.runtime.db.wait_open)
        assert deliver(c, "generic", fixture("generic")).status_code == 200
        assert rows(app) == (2, 2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"webhook_secret_salesforce": "tok"},
            "FEEDBACK_WEBHOOK_SECRET_SALESFORCE is set but FEEDBACK_SALESFORCE_ORGANIZATION_ID "
            "is not; set it to the org's id (Setup > Company Information)",
        ),
        (
            {"freshdesk_auth": "token"},
            "FEEDBACK_FRESHDESK_AUTH: Input should be 'header' or 'basic' (got 'token')",
        ),
        (
            {"public_url": "feedback.example.com"},
            "FEEDBACK_PUBLIC_URL: expected an http:// or https:// URL (got 'feedback.example.com')",
        ),
    ],
)
def test_webhook_settings_are_checked_at_start(settings: dict[str, object], message: str) -> None:
    from service.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as caught:
        load_settings(**settings)
    assert str(caught.value) == f"invalid settings: {message}"


def test_secrets_are_not_echoed_in_settings_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import SettingsError, load_settings

    monkeypatch.setenv("FEEDBACK_WEBHOOK_SECRET_GENERIC", "s3cret-value")
    monkeypatch.setenv("FEEDBACK_DATABASE_URL", "oracle://app:pw-s3cret@db/x")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "s3cret" not in str(caught.value)
    assert "FEEDBACK_DATABASE_URL: unsupported database 'oracle'" in str(caught.value)
