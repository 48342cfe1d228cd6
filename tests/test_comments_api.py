"""The results API: pages, filters, one comment's history, and its errors, on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.apps import GOOD, OUT, POOR, deliver, error, make_app, rows, started
from tests.fakes import FAKE_VERSION, FakeClassifier
from tests.webhook_signing import fixture

TEXTS = ["never again", "thx, sorted", "wow, blown away", "useless", "fine"]


@pytest.fixture
def client(storage: dict[str, object]) -> Iterator[TestClient]:
    app = make_app(storage)
    for c in started(app):
        body = json.dumps(
            [{"id": f"s-{i}", "text": t, "metadata": {"n": i}} for i, t in enumerate(TEXTS)]
        ).encode()
        assert deliver(c, "generic", body).status_code == 200
        deliver(c, "intercom", fixture("intercom"))
        yield c


def strip_times(page: dict[str, object]) -> dict[str, object]:
    for item in page["items"]:  # type: ignore[attr-defined]
        assert item.pop("received_at").endswith("Z")
    return page


def item(i: int, label: str, scores: dict[str, float]) -> dict[str, object]:
    return {
        "comment_id": i + 1,
        "provider": "generic",
        "external_id": f"s-{i}",
        "text": TEXTS[i],
        "label": label,
        "scores": scores,
        "model_version": FAKE_VERSION,
    }


def test_pages_follow_the_cursor(client: TestClient) -> None:
    first = strip_times(client.get("/v1/comments", params={"limit": 2}).json())
    assert first["items"] == [item(0, "poor", POOR), item(1, "good", GOOD)]
    cursor = first["next_cursor"]
    second = strip_times(client.get("/v1/comments", params={"limit": 2, "cursor": cursor}).json())
    assert second["items"] == [item(2, "outstanding", OUT), item(3, "poor", POOR)]
    third = client.get("/v1/comments", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [i["comment_id"] for i in third["items"]] == [5, 6]
    assert third["next_cursor"] is None


def test_filters(client: TestClient) -> None:
    def ids(**params: str) -> list[int]:
        return [i["comment_id"] for i in client.get("/v1/comments", params=params).json()["items"]]

    assert ids(label="poor") == [1, 4]
    assert ids(label="outstanding") == [3, 6]
    assert ids(provider="intercom") == [6]
    assert ids(provider="intercom", label="poor") == []
    assert ids(since="2000-01-01T00:00:00Z") == [1, 2, 3, 4, 5, 6]
    assert ids(since="2999-01-01T00:00:00") == []


def test_one_comment_with_history(client: TestClient) -> None:
    r = client.get("/v1/comments/3")
    assert r.status_code == 200
    body = r.json()
    received, labelled = body.pop("received_at"), body.pop("labelled_at")
    assert received <= labelled
    assert body.pop("history") == [
        {
            "label": "outstanding",
            "scores": OUT,
            "truncated": False,
            "model_version": FAKE_VERSION,
            "created_at": labelled,
        }
    ]
    assert body == {
        **item(2, "outstanding", OUT),
        "idempotency_key": "s-2",
        "metadata": {"n": 2},
    }


def test_unknown_comment_is_404(client: TestClient) -> None:
    r = client.get("/v1/comments/999")
    assert (r.status_code, r.json()) == (404, error("not_found", "no comment 999"))


@pytest.mark.parametrize(
    ("params", "message", "details"),
    [
        (
            {"cursor": "bm9wZQ"},
            "cursor: not a cursor this API gave out; pass next_cursor from the previous page",
            [
                {
                    "field": "cursor",
                    "reason": "not a cursor this API gave out; pass next_cursor from the "
                    "previous page",
                }
            ],
        ),
        (
            {"limit": "0"},
            "query.limit: Input should be greater than or equal to 1",
            [{"field": "query.limit", "reason": "Input should be greater than or equal to 1"}],
        ),
        (
            {"label": "great"},
            "query.label: Input should be 'poor', 'good' or 'outstanding'",
            [
                {
                    "field": "query.label",
                    "reason": "Input should be 'poor', 'good' or 'outstanding'",
                }
            ],
        ),
    ],
)
def test_bad_queries_are_422(
    client: TestClient, params: dict[str, str], message: str, details: object
) -> None:
    r = client.get("/v1/comments", params=params)
    assert r.status_code == 422
    assert r.json() == error("invalid_request", message, details)


def test_a_new_model_version_labels_new_comments_and_leaves_history(
    storage: dict[str, object],
) -> None:
    first = make_app(storage)
    for c in started(first):
        deliver(c, "generic", json.dumps({"id": "a", "text": "thx"}).encode())
    newer = FakeClassifier()
    newer.meta.version = "2026.02.02-fake0002"
    second: FastAPI = make_app(storage, newer)
    for c in started(second):
        c.portal.call(second.state.runtime.pending.drain)
        deliver(c, "generic", json.dumps({"id": "b", "text": "WOW"}).encode())
        old = c.get("/v1/comments/1").json()
        new = c.get("/v1/comments/2").json()
        assert rows(second) == (2, 2)
    # Relabelling history under the new model is rescore --from-db's job, not the server's.
    assert [h["model_version"] for h in old["history"]] == [FAKE_VERSION]
    assert (new["label"], new["model_version"]) == ("outstanding", "2026.02.02-fake0002")


def test_results_need_the_api_key_when_configured(storage: dict[str, object]) -> None:
    key = "k" * 32
    for c in started(make_app(storage, api_keys=[key])):
        assert c.get("/v1/comments").status_code == 401
        assert c.get("/v1/comments/1").status_code == 401
        ok = c.get("/v1/comments", headers={"authorization": f"Bearer {key}"})
    assert ok.json() == {"items": [], "next_cursor": None}
