"""The database a running service writes to: engine, migrations at start, calls off the loop.

SQLite (the default) is a file in ``FEEDBACK_DATA_DIR`` in WAL mode with full sync, so a
commit is on disk before the service answers. PostgreSQL is used when
``FEEDBACK_DATABASE_URL`` says so. Calls run on a small thread pool of their own; a
database that is down, locked or unreachable raises ``StorageUnavailable`` (503 with
``Retry-After``), which CRMs retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.errors import StorageUnavailable
from service.settings import Settings
from service.storage.migrate import upgrade

log = logging.getLogger(__name__)

T = TypeVar("T")

POOL_SIZE = 8
SQLITE_FILE = "feedback.db"
# Retrying a database that is down at start: first wait, longest wait (seconds).
OPEN_RETRY = (0.5, 30.0)


def database_url(settings: Settings) -> URL:
    """The SQLAlchemy URL: the configured one (PostgreSQL through psycopg 3), else SQLite."""
    if settings.database_url is None:
        path = (settings.data_dir / SQLITE_FILE).absolute()
        return URL.create("sqlite+pysqlite", database=str(path))
    url = make_url(settings.database_url.get_secret_value())
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def shown(url: URL) -> str:
    """The URL for logs and messages, without its password."""
    return url.render_as_string(hide_password=True)


def is_transient(exc: BaseException) -> bool:
    """A fault of the database or the way to it, which a later retry may not meet."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def make_engine(url: URL, timeout_s: float) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": timeout_s, "check_same_thread": False},
            pool_size=POOL_SIZE,
            max_overflow=0,
            pool_timeout=timeout_s,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL: readers never block the writer. FULL: the WAL is synced at each commit,
            # so a comment the service acknowledged survives a power cut.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            cursor.close()

        return engine
    return create_engine(
        url,
        connect_args={
            "connect_timeout": max(1, math.ceil(timeout_s)),
            "application_name": "feedback-classifier",
        },
        pool_size=POOL_SIZE,
        max_overflow=0,
        pool_timeout=timeout_s,
        # A restarted server leaves dead connections in the pool: test each before use.
        pool_pre_ping=True,
    )


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = database_url(settings)
        self.engine: Engine | None = None
        self.error: str | None = None  # why the database is not open yet
        self._executor = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="db")
        self._opened = asyncio.Event()

    @property
    def ready(self) -> bool:
        return self._opened.is_set()

    def open_sync(self) -> None:
        """Create the engine (and the SQLite folder) and bring the schema to the newest version."""
        if self.url.get_backend_name() == "sqlite" and self.url.database:
            from pathlib import Path

            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = self.engine or make_engine(self.url, self.settings.database_timeout_s)
        self.engine = engine
        upgrade(engine)

    async def open(self) -> None:
        """Open the database, retrying while it is unreachable (requests get 503 meanwhile)."""
        delay = OPEN_RETRY[0]
        while True:
            try:
                await asyncio.get_running_loop().run_in_executor(self._executor, self.open_sync)
            except (OSError, DBAPIError, PoolTimeout) as exc:
                if not (isinstance(exc, OSError) or is_transient(exc)):
                    self.error = f"{type(exc).__name__}: {exc}"
                    log.error("the database %s cannot be migrated: %s", shown(self.url), exc)
                    return
                self.error = f"the database is unreachable: {type(exc).__name__}"
                log.warning(
                    "the database %s is not available (%s); retrying in %.1f s",
                    shown(self.url),
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, OPEN_RETRY[1])
                continue
            self.error = None
            self._opened.set()
            log.info("storage ready: %s", shown(self.url))
            return

    async def wait_open(self) -> None:
        await self._opened.wait()

    def _transaction(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        assert self.engine is not None
        with self.engine.begin() as conn:
            return fn(conn, *args, **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(connection, *args)`` in one transaction on the database's threads.

        Committed when it returns; a database fault rolls back and raises
        ``StorageUnavailable``.
        """
        if not self.ready:
            reason = self.error or "the database is being migrated"
            raise StorageUnavailable(f"storage is not available yet: {reason}")
        loop = asyncio.get_running_loop()
        call = partial(self._transaction, fn, *args, **kwargs)
        try:
            return await loop.run_in_executor(self._executor, call)
        except (DBAPIError, PoolTimeout) as exc:
            if not is_transient(exc):
                raise
            first = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            log.warning("database call failed: %s: %s", type(exc).__name__, first)
            raise StorageUnavailable(
                "the database is unavailable; the delivery was not stored, retry later"
            ) from exc

    def run_sync(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` in a transaction on the calling thread (tests and tools)."""
        return self._transaction(fn)

    async def close(self) -> None:
        """Let calls in flight finish (a cancelled caller's thread still runs), then close."""
        await asyncio.to_thread(self._executor.shutdown, True)
        await asyncio.to_thread(self._dispose)

    def _dispose(self) -> None:
        if self.engine is not None:
            with contextlib.suppress(DBAPIError):
                self.engine.dispose()
