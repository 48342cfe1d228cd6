"""The database goes away mid-stream: deliveries get 503 with Retry-After (never a 4xx),
and once it is back, every delivered comment is stored exactly once and labelled.

SQLite: another process holds an exclusive lock for a second. PostgreSQL: a server of
the test's own is stopped (``pg_ctl stop -m fast``) and started again.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from service.storage import repository as repo
from tests.apps import make_app, rows
from tests.pgcluster import PgCluster, bindir
from tests.webhook_signing import signed

TOTAL = 200
OUTAGE_AFTER = 40  # accepted deliveries before the database goes away
OUTAGE_S = 1.0
CLIENTS = 4


async def stream(app: FastAPI, outage: Callable[[], None]) -> Counter[int]:
    """Deliver TOTAL comments like a CRM: 4 at a time, each retried on 503 until accepted."""
    statuses: Counter[int] = Counter()
    accepted = 0
    outage_thread = threading.Thread(target=outage)
    gate = asyncio.Semaphore(CLIENTS)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        await app.state.runtime.wait_ready()

        async def deliver(i: int) -> None:
            nonlocal accepted
            body = json.dumps({"id": f"c-{i}", "text": f"comment {i}, thanks"}).encode()
            deadline = time.monotonic() + 60
            async with gate:
                while True:
                    path, headers = signed("generic", body)
                    r = await client.post(path, content=body, headers=headers)
                    statuses[r.status_code] += 1
                    if r.status_code == 200:
                        accepted += 1
                        if accepted == OUTAGE_AFTER:
                            outage_thread.start()
                        return
                    assert r.status_code == 503, r.text
                    assert r.json()["error"]["type"] == "storage_unavailable"
                    assert r.headers["retry-after"] == "5"
                    assert time.monotonic() < deadline, "the database did not come back"
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(deliver(i) for i in range(TOTAL)))
        await asyncio.to_thread(outage_thread.join)
        # Comments stored while predictions could not be: the worker labels them.
        deadline = time.monotonic() + 30
        while await asyncio.to_thread(rows, app) != (TOTAL, TOTAL):
            assert time.monotonic() < deadline, rows(app)
            await asyncio.sleep(0.1)
        stored = await app.state.runtime.db.run(repo.list_comments, limit=TOTAL + 1)
    assert sorted(c.external_id for c in stored) == sorted(f"c-{i}" for i in range(TOTAL))
    return statuses


def test_sqlite_locked_mid_stream(tmp_path: Path) -> None:
    import sqlite3

    app = make_app({"data_dir": tmp_path}, database_timeout_s=0.2, pending_interval_s=0.5)

    def outage() -> None:
        blocker = sqlite3.connect(tmp_path / "feedback.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        time.sleep(OUTAGE_S)
        blocker.execute("ROLLBACK")
        blocker.close()

    statuses = asyncio.run(stream(app, outage))
    print(f"sqlite locked {OUTAGE_S} s: {dict(statuses)} answers for {TOTAL} comments")
    assert set(statuses) == {200, 503}
    assert statuses[200] == TOTAL


@pytest.fixture
def own_postgres() -> Iterator[PgCluster]:
    """A PostgreSQL server this test may stop (not the suite's shared one)."""
    if bindir() is None:
        message = "PostgreSQL's initdb is not installed (apt-get install postgresql)"
        if os.environ.get("FEEDBACK_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    cluster = PgCluster.create()
    yield cluster
    cluster.destroy()


def test_postgres_stopped_mid_stream(own_postgres: PgCluster) -> None:
    app = make_app({"database_url": own_postgres.url}, database_timeout_s=1, pending_interval_s=0.5)

    def outage() -> None:
        own_postgres.stop()
        time.sleep(OUTAGE_S)
        own_postgres.start()

    statuses = asyncio.run(stream(app, outage))
    print(f"postgres stopped {OUTAGE_S} s: {dict(statuses)} answers for {TOTAL} comments")
    assert set(statuses) == {200, 503}
    assert statuses[200] == TOTAL
