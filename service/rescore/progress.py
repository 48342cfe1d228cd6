"""Progress of a run: a tqdm bar (rows/s, ETA) on a terminal, a log line now and then otherwise.

The total is exact for Parquet; for CSV and JSON Lines files it is estimated from the bytes
read so far, and unknown for stdin (then there is a rate but no ETA).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import IO, Any

log = logging.getLogger("service.rescore")

LOG_EVERY_S = 30.0


class Progress:
    """Call :meth:`advance` after each committed chunk and :meth:`close` at the end."""

    def __init__(
        self,
        stream: IO[str],
        done: int = 0,
        rejected: int = 0,
        total_rows: int | None = None,
        size_bytes: int | None = None,
        log_every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rows = done
        self.rejected = rejected
        self._first = done
        self._total = total_rows
        self._size = size_bytes
        self._clock = clock
        self._start = self._last_log = clock()
        self._log_every = log_every_s
        self._bar: Any = None
        if stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total_rows,
                initial=done,
                unit=" rows",
                unit_scale=True,
                dynamic_ncols=True,
                smoothing=0.1,
                file=stream,
            )

    def total(self, offset: int | None) -> int | None:
        """Rows in the input: known, or estimated from the byte ``offset`` reached."""
        if self._total is not None:
            return self._total
        if self._size and offset:
            return max(self.rows, round(self.rows * self._size / offset))
        return None

    def advance(self, rows: int, rejected: int, offset: int | None = None) -> None:
        self.rows += rows
        self.rejected += rejected
        total = self.total(offset)
        if self._bar is not None:
            if total is not None and self._total is None:
                self._bar.total = total
            self._bar.set_postfix(rejected=self.rejected, refresh=False)
            self._bar.update(rows)
            return
        now = self._clock()
        if now - self._last_log >= self._log_every:
            self._last_log = now
            log.info("%s", self.line(total, now))

    def line(self, total: int | None, now: float) -> str:
        """``1,200 rows (12.0%), 1,043 rows/s, ETA 0:00:08, 3 rejected``"""
        rate = (self.rows - self._first) / max(now - self._start, 1e-9)
        text = f"{self.rows:,} rows"
        if total:
            text += f" ({100 * self.rows / total:.1f}%)"
        text += f", {rate:,.0f} rows/s"
        if total and rate > 0:
            text += f", ETA {timedelta(seconds=round(max(total - self.rows, 0) / rate))}"
        return text + f", {self.rejected:,} rejected"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
