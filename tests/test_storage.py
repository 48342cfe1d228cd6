"""The storage layer on SQLite and PostgreSQL: migrations, idempotent stores (also from
concurrent threads), prediction history, the pending queue and keyset pages."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from service.errors import StorageUnavailable
from service.settings import SettingsError, load_settings
from service.storage import repository as repo
from service.storage.database import Database, database_url, shown
from service.storage.migrate import downgrade, upgrade
from service.storage.models import Base

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def db(storage: dict[str, object]) -> Iterator[Database]:
    database = Database(load_settings(**storage))
    database.open_sync()
    yield database
    assert database.engine is not None
    database.engine.dispose()


def comment(key: str, text: str = "thx", provider: str = "generic") -> repo.NewComment:
    return repo.NewComment(provider, key, text, external_id=key, metadata={"k": key})


def store(db: Database, *items: repo.NewComment, at: datetime = T0) -> list[repo.StoredComment]:
    return db.run_sync(lambda c: repo.store_comments(c, items, at))


def predict(db: Database, comment_id: int, label: str, version: str = "v1") -> set[int]:
    row = repo.NewPrediction(comment_id, label, {label: 0.9}, False, version)
    return db.run_sync(lambda c: repo.add_predictions(c, [row], T0))


# ---- migrations ----------------------------------------------------------------------


def test_migrations_create_the_schema_the_models_describe(db: Database) -> None:
    assert db.engine is not None
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == "0001"
        assert compare_metadata(context, Base.metadata) == []


def test_migrations_run_again_change_nothing_and_downgrade_cleanly(db: Database) -> None:
    assert db.engine is not None
    store(db, comment("a"))
    upgrade(db.engine)  # a restart: already at head
    assert db.run_sync(repo.count_rows) == (1, 0)
    downgrade(db.engine, "base")
    assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
    upgrade(db.engine)
    assert db.run_sync(repo.count_rows) == (0, 0)


def test_sqlite_is_a_wal_file_in_the_data_dir(tmp_path: Path) -> None:
    database = Database(load_settings(data_dir=tmp_path / "nested" / "data"))
    database.open_sync()
    path = tmp_path / "nested" / "data" / "feedback.db"
    assert path.exists()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert database.engine is not None
    database.engine.dispose()


# ---- storing once -------------------------------------------------------------------------


def test_a_repeated_key_returns_the_first_row(db: Database) -> None:
    first = store(db, comment("a", "first words"), comment("b"))
    again = store(db, comment("a", "other words"))
    assert [(s.comment_id, s.duplicate) for s in first] == [(1, False), (2, False)]
    assert again == [repo.StoredComment(1, "first words", duplicate=True)]
    assert db.run_sync(repo.count_rows) == (2, 0)


def test_keys_are_per_provider(db: Database) -> None:
    stored = store(db, comment("42", provider="zendesk"), comment("42", provider="hubspot"))
    assert [s.duplicate for s in stored] == [False, False]


def test_long_keys_are_stored_as_their_hash(db: Database) -> None:
    key = "x" * 300
    assert store(db, comment(key))[0].duplicate is False
    assert store(db, comment(key))[0].duplicate is True
    found = db.run_sync(lambda c: repo.get_comment(c, 1))
    assert found is not None
    assert found[0].idempotency_key.startswith("sha256:")


def test_concurrent_threads_store_each_key_once(db: Database) -> None:
    keys = [f"k{i}" for i in range(40)]
    seen: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        order = keys[:]
        random.Random(seed).shuffle(order)
        try:
            for chunk in (order[:20], order[20:]):
                stored = store(db, *(comment(k) for k in chunk))
                seen.append({k: s.comment_id for k, s in zip(chunk, stored, strict=True)})
        except Exception as exc:  # noqa: BLE001 - surfaced below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.run_sync(repo.count_rows) == (40, 0)
    ids: dict[str, set[int]] = {}
    for mapping in seen:
        for k, cid in mapping.items():
            ids.setdefault(k, set()).add(cid)
    assert all(len(found) == 1 for found in ids.values())  # every thread got the same row


# ---- predictions, history and the pending queue ------------------------------------------


def test_one_prediction_per_model_version_and_history_kept(db: Database) -> None:
    store(db, comment("a"))
    assert predict(db, 1, "good", "v1") == {1}
    assert predict(db, 1, "poor", "v1") == set()  # already labelled by v1: kept as it was
    assert predict(db, 1, "outstanding", "v2") == {1}
    found = db.run_sync(lambda c: repo.get_comment(c, 1))
    assert found is not None
    row, history = found
    assert row.latest is not None
    assert (row.latest.label, row.latest.model_version) == ("outstanding", "v2")
    assert [(p.label, p.model_version) for p in history] == [("outstanding", "v2"), ("good", "v1")]
    assert db.run_sync(repo.count_rows) == (1, 2)


def test_pending_means_no_prediction_from_this_version(db: Database) -> None:
    store(db, comment("a"), comment("b"), comment("c"))
    predict(db, 2, "good", "v1")
    pending = db.run_sync(lambda c: repo.pending_comments(c, "v1"))
    assert [(p.comment_id, p.provider, p.external_id) for p in pending] == [
        (1, "generic", "a"),
        (3, "generic", "c"),
    ]
    assert [p.comment_id for p in db.run_sync(lambda c: repo.pending_comments(c, "v1", 1))] == [3]
    assert len(db.run_sync(lambda c: repo.pending_comments(c, "v2"))) == 3
    # Without a version: only comments never labelled by any model.
    assert [p.comment_id for p in db.run_sync(lambda c: repo.pending_comments(c, None))] == [1, 3]


def test_times_come_back_in_utc(db: Database) -> None:
    local = datetime(2026, 11, 24, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    store(db, comment("a"), at=local)
    found = db.run_sync(lambda c: repo.get_comment(c, 1))
    assert found is not None
    assert found[0].received_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert found[0].received_at.tzinfo == UTC


# ---- pages ------------------------------------------------------------------------------------


def test_keyset_pages_and_filters(db: Database) -> None:
    for i in range(5):
        provider = "zendesk" if i % 2 else "generic"
        store(db, comment(f"c{i}", provider=provider), at=T0 + timedelta(minutes=i))
    predict(db, 1, "good")
    predict(db, 2, "poor")
    predict(db, 4, "poor")

    def ids(**kw: object) -> list[int]:
        return [r.comment_id for r in db.run_sync(lambda c: repo.list_comments(c, **kw))]

    assert ids(limit=2) == [1, 2]
    assert ids(after_id=2, limit=2) == [3, 4]
    assert ids(after_id=4, limit=2) == [5]
    assert ids(label="poor") == [2, 4]
    assert ids(provider="zendesk") == [2, 4]
    assert ids(since=T0 + timedelta(minutes=3)) == [4, 5]
    assert ids(label="good", provider="zendesk") == []


def test_latest_predictions_only_for_labelled_comments(db: Database) -> None:
    store(db, comment("a"), comment("b"))
    predict(db, 1, "good", "v1")
    predict(db, 1, "poor", "v2")
    latest = db.run_sync(lambda c: repo.latest_predictions(c, [1, 2]))
    assert list(latest) == [1]
    assert latest[1].label == "poor"


# ---- faults and settings ---------------------------------------------------------------------


def test_a_locked_sqlite_database_is_storage_unavailable(tmp_path: Path) -> None:
    database = Database(load_settings(data_dir=tmp_path, database_timeout_s=0.2))
    asyncio.run(database.open())
    blocker = sqlite3.connect(tmp_path / "feedback.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")

    async def attempt() -> None:
        await database.run(repo.store_comments, [comment("a")], T0)

    with pytest.raises(StorageUnavailable) as caught:
        asyncio.run(attempt())
    assert caught.value.headers == {"Retry-After": "5"}
    blocker.execute("ROLLBACK")
    asyncio.run(attempt())
    assert database.run_sync(repo.count_rows) == (1, 0)


def test_not_yet_open_is_storage_unavailable(tmp_path: Path) -> None:
    database = Database(load_settings(data_dir=tmp_path))
    with pytest.raises(StorageUnavailable, match="storage is not available yet"):
        asyncio.run(database.run(repo.count_rows))


def test_database_urls() -> None:
    url = database_url(load_settings(database_url="postgres://app:s3cret@db:5432/feedback"))
    assert url.drivername == "postgresql+psycopg"
    assert shown(url) == "postgresql+psycopg://app:***@db:5432/feedback"
    sqlite_url = database_url(load_settings(data_dir="/var/lib/feedback"))
    assert str(sqlite_url) == "sqlite+pysqlite:////var/lib/feedback/feedback.db"


def test_unsupported_database_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(database_url="mysql://app:s3cret@db/feedback")
    assert str(caught.value) == (
        "invalid settings: FEEDBACK_DATABASE_URL: unsupported database 'mysql'; use "
        "postgresql://user:password@host:5432/db or sqlite:///path/to/file.db (or leave it "
        "unset for SQLite in FEEDBACK_DATA_DIR)"
    )
