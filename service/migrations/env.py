"""Alembic's environment: migrations run on the connection ``service.storage.migrate`` passes."""

from __future__ import annotations

from alembic import context

from service.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run the migrations through service.storage.migrate.upgrade(engine); "
        "there is no alembic.ini"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite alters tables by copying them; batch mode does that for it.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
