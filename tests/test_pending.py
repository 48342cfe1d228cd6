"""Stored first, labelled later: a busy, loading or failing model leaves comments pending
(the delivery still gets 2xx) and the background worker labels them, also after a restart."""

from __future__ import annotations

import json

from tests.apps import GOOD, deliver, make_app, rows, started, wait_until
from tests.fakes import FakeClassifier
from tests.webhook_signing import fixture

PENDING = {"label": None, "scores": None, "duplicate": False, "pending": True}


def test_a_stalled_model_leaves_the_comment_pending_then_the_worker_labels_it(
    storage: dict[str, object],
) -> None:
    fake = FakeClassifier()
    app = make_app(storage, fake, webhook_classify_timeout_s=0.2)
    for c in started(app):
        fake.release.clear()  # the model stalls
        r = deliver(c, "generic", json.dumps({"id": "a", "text": "thx"}).encode())
        assert r.status_code == 200
        assert r.json() == {"results": [{"id": "a", "comment_id": 1, **PENDING}]}
        assert rows(app) == (1, 0)
        assert c.get("/v1/comments/1").json()["label"] is None
        fake.release.set()
        wait_until(lambda: rows(app) == (1, 1))
        body = c.get("/v1/comments/1").json()
        metrics = c.get("/metrics").text
    assert (body["label"], body["scores"]) == ("good", GOOD)
    assert 'feedback_labelling_deferred_total{reason="timeout"} 1.0' in metrics
    assert "feedback_pending_labelled_total 1.0" in metrics


def test_an_overloaded_model_leaves_the_delivery_pending(storage: dict[str, object]) -> None:
    # Two comments never fit a queue of one: the webhook is turned away by the batcher,
    # the worker then labels one comment at a time.
    app = make_app(storage, queue_max_texts=1, pending_batch_size=1)
    for c in started(app):
        r = deliver(c, "generic", fixture("generic"))
        assert [x["pending"] for x in r.json()["results"]] == [True, True]
        wait_until(lambda: rows(app) == (2, 2))
        labels = [i["label"] for i in c.get("/v1/comments").json()["items"]]
    assert labels == ["outstanding", "good"]


def test_comments_arriving_while_the_model_loads_are_labelled_once_it_is_ready(
    storage: dict[str, object],
) -> None:
    fake = FakeClassifier()
    fake.release.clear()  # the warm-up blocks: the model is "loading"
    app = make_app(storage, fake)
    for c in started(app, wait=False):
        r = deliver(c, "zendesk", fixture("zendesk"))
        assert r.json()["results"][0]["pending"] is True
        assert rows(app) == (1, 0)
        fake.release.set()
        wait_until(lambda: rows(app) == (1, 1))
        assert c.get("/v1/comments/1").json()["label"] == "outstanding"


def test_the_worker_labels_around_a_comment_the_model_fails_on(
    storage: dict[str, object],
) -> None:
    fake = FakeClassifier(fail_on="boom")
    app = make_app(storage, fake)
    body = json.dumps([{"id": "1", "text": "boom"}, {"id": "2", "text": "fine"}]).encode()
    for c in started(app):
        r = deliver(c, "generic", body)
        assert [x["pending"] for x in r.json()["results"]] == [True, True]
        wait_until(lambda: rows(app) == (2, 1))
        labels = [i["label"] for i in c.get("/v1/comments").json()["items"]]
    assert labels == [None, "good"]


def test_a_restart_resumes_pending_work(storage: dict[str, object]) -> None:
    broken = make_app(storage, FakeClassifier(fail_on=""))  # fails on every text
    for c in started(broken):
        r = deliver(c, "hubspot", fixture("hubspot"))
        assert [x["pending"] for x in r.json()["results"]] == [True, True]
        assert rows(broken) == (2, 0)
    fixed = make_app(storage)
    for c in started(fixed):
        wait_until(lambda: rows(fixed) == (2, 2))
        labels = [i["label"] for i in c.get("/v1/comments").json()["items"]]
    assert labels == ["poor", "good"]


def test_a_duplicate_of_a_pending_comment_gets_labelled(storage: dict[str, object]) -> None:
    fake = FakeClassifier()
    app = make_app(storage, fake, webhook_classify_timeout_s=0.2, pending_interval_s=60)
    body = json.dumps({"id": "a", "text": "wow"}).encode()
    for c in started(app):
        fake.release.clear()
        assert deliver(c, "generic", body).json()["results"][0]["pending"] is True
        fake.release.set()
        again = deliver(c, "generic", body).json()["results"][0]
        wait_until(lambda: rows(app) == (1, 1))
    # Whoever labels first stores the prediction; the retry answers with the label either way.
    assert (again["duplicate"], again["label"]) == (True, "outstanding")
