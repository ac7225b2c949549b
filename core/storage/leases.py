"""Leases: a named role held by one process at a time, for a while, renewed while it lives (see
:mod:`core.learning.leader`). Portable SQL: a conditional UPDATE, else an INSERT that only one writer wins."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from core.storage.database import Database
from core.storage.schema import Lease

log = logging.getLogger("core.storage")


class Leases(Database):
    """Who holds which lease. Times are the caller's clock (aware UTC); every holder must use the same clock."""

    def take_lease(self, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
        """Take or renew ``name`` for ``holder`` until ``now + ttl``: True when ``holder`` holds it now. It is
        taken over only once its holder let it expire (a dead process renews nothing)."""
        table = Lease.__table__  # type: ignore[attr-defined]
        until = now + ttl
        with self._session() as s, s.begin():
            conn = s.connection()
            if conn.execute(update(table).where(table.c.name == name, table.c.holder == holder)
                            .values(expires_at=until)).rowcount:
                return True    # renewed (also after it ran out, if nobody took it meanwhile)
            if conn.execute(update(table).where(table.c.name == name, table.c.expires_at <= now)
                            .values(holder=holder, acquired_at=now, expires_at=until)).rowcount:
                log.info("lease %s taken over by %s", name, holder)
                return True
            if s.get(Lease, name) is not None:
                return False   # held, and not run out
        try:
            with self._session() as s, s.begin():
                s.add(Lease(name=name, holder=holder, acquired_at=now, expires_at=until))
            return True
        except IntegrityError:   # another process inserted it first
            return False

    def lease_holder(self, name: str, now: datetime) -> str | None:
        """Who holds ``name`` now (None when nobody, or the lease ran out)."""
        with self._session() as s:
            row = s.get(Lease, name)
            return row.holder if row is not None and row.expires_at > now else None

    def drop_lease(self, name: str, holder: str) -> bool:
        """Give ``name`` up (only its holder can): another process may take it at once."""
        with self._session() as s, s.begin():
            res = s.exec(delete(Lease).where(col(Lease.name) == name, col(Lease.holder) == holder))
            return bool(res.rowcount)

    def leases(self) -> list[Lease]:
        with self._session() as s:
            return list(s.exec(select(Lease).order_by(col(Lease.name))).all())
