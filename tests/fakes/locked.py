"""The error SQLite really raises when another writer holds the database past the busy timeout."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy


def locked_error(folder: Path) -> sqlalchemy.exc.OperationalError:
    """A real "database is locked" OperationalError (no waiting: both connections have a zero timeout)."""
    path = folder / "locked.db"
    holder = sqlalchemy.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    waiter = sqlalchemy.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with holder.connect() as c:
        c.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x)")
        c.commit()
    try:
        with holder.connect() as c, waiter.connect() as w:
            c.exec_driver_sql("BEGIN EXCLUSIVE")
            try:
                w.exec_driver_sql("INSERT INTO t VALUES (1)")
            except sqlalchemy.exc.OperationalError as exc:
                return exc
        raise AssertionError("the database was not locked")
    finally:
        holder.dispose()
        waiter.dispose()
