"""The database a test runs on: SQLite by default, a fresh PostgreSQL database when ``CRATE_TEST_POSTGRES`` is set.

``.ci/run`` starts a throw-away PostgreSQL server (``scripts/pg``) and runs the storage, learning and bot tests a
second time with ``CRATE_TEST_POSTGRES=postgresql+psycopg://crate@127.0.0.1:PORT/postgres``; each test then gets a
database of its own (``CREATE DATABASE``), so tests share no state on PostgreSQL either.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url

ENV = "CRATE_TEST_POSTGRES"
_admin: dict[str, Engine] = {}
_made: dict[tuple[str, str], str] = {}


def on_postgres() -> bool:
    """Whether this run's databases are PostgreSQL ones."""
    return bool(os.environ.get(ENV))


def database_url(tmp_path: Path, name: str = "crate") -> str:
    """A database URL of this test's own: ``sqlite:///TMP/NAME.db``, or a new PostgreSQL database (same name and
    folder → the same database within a test)."""
    server = os.environ.get(ENV)
    if not server:
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    key = (str(tmp_path), name)
    if key not in _made:
        db = f"t_{name}_{uuid.uuid4().hex[:12]}".lower()
        eng = _admin.get(server) or create_engine(server, isolation_level="AUTOCOMMIT")
        _admin[server] = eng
        with eng.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{db}"')
        _made[key] = make_url(server).set(database=db).render_as_string(hide_password=False)
    return _made[key]


sqlite_only = pytest.mark.skipif(on_postgres(), reason="about SQLite's own files and pragmas")


def copy_database(src_url: str, dst_url: str) -> None:
    """Copy every row of the store's tables from one database into another (its schema made first), keeping ids:
    how a module's copy of the shared trained SQLite template becomes a PostgreSQL database."""
    from sqlmodel import SQLModel

    from core.storage import Store

    Store(dst_url).close()     # the schema, at head
    src, dst = create_engine(src_url), create_engine(dst_url)
    try:
        with src.connect() as a, dst.begin() as b:
            for table in SQLModel.metadata.sorted_tables:
                rows = [dict(r) for r in a.execute(table.select()).mappings()]
                if rows:
                    b.execute(table.insert(), rows)
                pk = [c for c in table.primary_key.columns if c.autoincrement is True or (
                    c.autoincrement == "auto" and c.type.python_type is int)]
                if dst.dialect.name == "postgresql" and len(pk) == 1 and rows:
                    b.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                                      f"(SELECT max({pk[0].name}) FROM {table.name}))")
    finally:
        src.dispose()
        dst.dispose()
