"""Alembic environment: runs on the connection :mod:`core.storage.migrate` hands over (never a URL of its own)."""
from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import core.storage.schema  # noqa: F401  (the tables register on SQLModel.metadata)
from core.storage.migrate import include_object

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through core.storage.migrate (crate db upgrade), not the alembic command")

context.configure(connection=connection, target_metadata=SQLModel.metadata, include_object=include_object,
                  render_as_batch=connection.dialect.name == "sqlite",   # SQLite alters tables by copying them
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
