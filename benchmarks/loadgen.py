"""A small closed-loop HTTP/1.1 load generator on asyncio streams, with no dependencies.

Each of ``concurrency`` keep-alive connections sends a request, waits for the whole
response, and sends the next one at once, until the time is up. Requests are encoded to
bytes before the run and responses are parsed only as far as the status line and
``Content-Length``, so the generator itself stays cheap: it shares the machine's cores
with the server it measures (its own CPU use is reported beside the results).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def post_request(path: str, body: object, host: str = "127.0.0.1") -> bytes:
    """A complete ``POST`` with a JSON body, ready to write to a socket."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


@dataclass
class LoadResult:
    concurrency: int
    seconds: float  # the measured window, after the warm-up
    latencies: list[float] = field(default_factory=list)  # seconds, of 200 responses
    errors: int = 0  # non-200 answers and failed connections inside the window
    statuses: dict[int, int] = field(default_factory=dict)
    # CPU seconds used during the window, by whatever ``snapshot`` measured (see run_load)
    cpu: dict[str, float] = field(default_factory=dict)
    bad_body: str | None = None  # the first 200 body that did not look like an answer

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, int(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    body = await reader.readexactly(length) if length else b""
    return status, body, close


async def _connection(
    host: str,
    port: int,
    requests: Sequence[bytes],
    offset: int,
    window: tuple[float, float],
    result: LoadResult,
    check: str,
) -> None:
    start, end = window
    cycle = itertools.cycle(itertools.chain(requests[offset:], requests[:offset]))
    checked = False
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < end:
        sent = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(next(cycle))
            status, body, close = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            status, body, close = 0, b"", True
            await asyncio.sleep(0.01)  # the server is gone or refusing: do not spin
        done = time.perf_counter()
        if close and writer is not None:
            writer.close()
            writer = None
        if not start <= done < end:
            continue
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status != 200:
            result.errors += 1
            continue
        result.latencies.append(done - sent)
        if not checked:  # one body per connection: the answer has the expected shape
            checked = True
            if check.encode() not in body and result.bad_body is None:
                result.bad_body = body[:200].decode("utf-8", "replace")
    if writer is not None:
        writer.close()


async def run_load(
    host: str,
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    seconds: float,
    warmup: float = 2.0,
    check: str = '"label"',
    snapshot: Callable[[], dict[str, float]] | None = None,
) -> LoadResult:
    """Keep ``concurrency`` requests in flight for ``warmup + seconds``; measure the last part.

    A response counts when it completes inside the measured window; its latency is from
    the write of its request to the last byte of its body. ``snapshot`` (CPU counters,
    say) is read at both ends of the window and the differences land in ``result.cpu``.
    """
    now = time.perf_counter()
    window = (now + warmup, now + warmup + seconds)
    result = LoadResult(concurrency, seconds)
    step = max(1, len(requests) // concurrency)
    tasks = [
        asyncio.create_task(
            _connection(host, port, requests, (i * step) % len(requests), window, result, check)
        )
        for i in range(concurrency)
    ]
    await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
    before = snapshot() if snapshot else {}
    await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
    after = snapshot() if snapshot else {}
    result.cpu = {key: after[key] - before[key] for key in before}
    await asyncio.gather(*tasks)
    return result
