"""Schemathesis against the OpenAPI schema: generated requests to every operation.

Every default check runs (no 5xx, documented status codes, content types and response
bodies that match the schema, schema-valid requests accepted and invalid ones rejected),
on the app with the fake classifier, its lifespan started and the model ready: once
without API keys, and once with them, where the generated requests carry no key and must
get a documented 401, never a server error. Hypothesis is derandomised, so a run is
repeatable, and keeps no example database.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.app import create_app
from service.settings import Settings
from tests.fakes import FakeClassifier

KEY = "k" * 32
# Never need a key (the webhooks are signed by the CRM instead).
OPEN_ROUTES = ("/healthz", "/readyz", "/metrics", "/v1/webhooks/{provider}")
EXAMPLES = settings(max_examples=100, deadline=None, database=None, derandomize=True)


def app_schema(app: FastAPI) -> schemathesis.BaseSchema:
    """The app's own OpenAPI schema, its cases sent to the app in-process."""
    schema = schemathesis.openapi.from_dict(app.openapi())  # builds the schema, starts nothing
    schema.app = app
    return schema


# The apps store what the webhooks receive: in a private folder, never ./data.
DATA = Path(tempfile.mkdtemp(prefix="feedback-schema-"))
open_app = create_app(
    Settings(data_dir=DATA / "open"),
    loader=lambda s: FakeClassifier(),  # type: ignore[arg-type]
)
keyed_app = create_app(
    Settings(data_dir=DATA / "keyed", api_keys=[KEY]),
    loader=lambda s: FakeClassifier(),  # type: ignore[arg-type]
)
open_schema = app_schema(open_app)
keyed_schema = app_schema(keyed_app)


@pytest.fixture(autouse=True)
def _started() -> Iterator[None]:
    """Start both apps (schemathesis runs their lifespans, and ends them after each test)
    and wait until they are ready."""
    for app in (open_app, keyed_app):
        with asgi.get_client(app) as client:
            deadline = time.monotonic() + 10
            while client.get(f"http://{asgi.HOST}/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the app did not become ready in 10 s"
                time.sleep(0.01)
    yield
    asgi.shutdown_lifespans()


def teardown_module() -> None:
    shutil.rmtree(DATA, ignore_errors=True)


@open_schema.parametrize()
@EXAMPLES
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    # A page cursor is opaque: any string fits its schema, but only one the API gave out is
    # accepted (422 otherwise), so "schema-valid data is accepted" cannot hold for it.
    opaque = case.path == "/v1/comments" and (case.query or {}).get("cursor") is not None
    case.call_and_validate(excluded_checks=[positive_data_acceptance] if opaque else None)


@keyed_schema.parametrize()
@EXAMPLES
def test_api_with_keys_answers_401_never_5xx(case: schemathesis.Case) -> None:
    response = case.call_and_validate()
    # Cases with another method than the route's get 405 from routing, before any key check;
    # a body that is not JSON at all gets 422 from FastAPI's parsing, also before the check.
    if case.path not in OPEN_ROUTES and case.method.upper() == case.operation.method.upper():
        assert response.status_code == 401 or response.json()["error"]["type"] == "invalid_json"
