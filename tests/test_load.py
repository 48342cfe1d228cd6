"""Load over loopback: a real uvicorn server, thousands of signed deliveries with duplicates
from concurrent clients. Counting rows afterwards: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.apps import make_app, rows
from tests.pgcluster import free_port
from tests.webhook_signing import signed

UNIQUE = 2000
DUPLICATES = 1000  # copies of earlier comments, resent at random points in the stream
CLIENTS = 16


@pytest.fixture
def server(storage: dict[str, object]) -> Iterator[tuple[FastAPI, str]]:
    app = make_app(storage, pending_interval_s=0.5)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    while httpx.get(f"{base}/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the app did not get ready"
        time.sleep(0.02)
    yield app, base
    server.should_exit = True
    thread.join(timeout=30)


def deliveries() -> list[tuple[str, bytes]]:
    """UNIQUE comments plus DUPLICATES resends, each a generic delivery of one comment."""
    rng = random.Random(7)
    words = ["thx, sorted", "never again", "wow, blown away", "a bit slow but fine"]
    bodies = [
        (f"load-{i}", json.dumps({"id": f"load-{i}", "text": f"{rng.choice(words)} #{i}"}).encode())
        for i in range(UNIQUE)
    ]
    stream = bodies + [rng.choice(bodies) for _ in range(DUPLICATES)]
    rng.shuffle(stream)
    return stream


async def post_all(base: str, stream: list[tuple[str, bytes]]) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in stream:
        queue.put_nowait(item)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            _, body = queue.get_nowait()
            while True:  # a CRM retries what was not accepted
                path, headers = signed("generic", body, base_url=base)
                r = await client.post(path, content=body, headers=headers)
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    results.extend(r.json()["results"])
                    break
                assert r.status_code == 503, r.text
                await asyncio.sleep(0.05)

    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(CLIENTS)))
    assert statuses[200] == len(stream), statuses
    return results


def test_thousands_of_deliveries_with_duplicates(server: tuple[FastAPI, str]) -> None:
    app, base = server
    stream = deliveries()
    began = time.perf_counter()
    results = asyncio.run(post_all(base, stream))
    seconds = time.perf_counter() - began
    assert len(results) == UNIQUE + DUPLICATES
    new = [r for r in results if not r["duplicate"]]
    assert len(new) == UNIQUE  # each comment reported new exactly once
    ids = {r["id"]: r["comment_id"] for r in new}
    assert all(ids[r["id"]] == r["comment_id"] for r in results)  # duplicates name the same row
    deadline = time.monotonic() + 30  # any left pending under load: the worker labels them
    while rows(app) != (UNIQUE, UNIQUE):
        assert time.monotonic() < deadline, rows(app)
        time.sleep(0.1)
    backend = app.state.runtime.db.url.get_backend_name()
    print(
        f"\n{backend}: {len(stream)} deliveries ({DUPLICATES} duplicates) from {CLIENTS} "
        f"clients in {seconds:.1f} s = {len(stream) / seconds:.0f}/s; "
        f"rows: {rows(app)} (comments, predictions)"
    )
