"""One leader among the bot processes sharing a database: only it runs the scheduled jobs.

Several ``crate run`` processes (webhook workers, a second machine) share one database and one APScheduler job
store, but APScheduler 3 has no locking of its own: each process would run every due job. So each process keeps
its scheduler paused unless it holds the ``scheduler`` lease (a row in ``leases``, :mod:`core.storage.leases`),
renewed every third of ``learning.leader_ttl_s``. A leader that dies stops renewing; after the TTL another
process takes the lease over and resumes its scheduler, which runs what was due (missed runs within the
misfire grace time, as after any restart). A leader that cannot renew in time pauses itself, so two processes
never both believe they lead for longer than one renewal interval.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

log = logging.getLogger(__name__)

LEASE = "scheduler"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def holder_name() -> str:
    """This process, as the lease shows it: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Leadership:
    """Takes and renews the lease (:meth:`beat`); ``leading`` says whether this process leads now."""

    def __init__(self, store: Any, ttl_s: float = 30.0, *, name: str = LEASE, holder: str | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.ttl = timedelta(seconds=float(ttl_s))
        self.name = name
        self.holder = holder or holder_name()
        self.clock = clock or _utcnow
        self.leading = False

    @property
    def interval_s(self) -> float:
        """How often to :meth:`beat`: a third of the TTL, so two missed renewals still keep the lease."""
        return max(self.ttl.total_seconds() / 3, 0.05)

    def beat(self) -> bool:
        """Take or renew the lease; returns whether this process leads now. A database error counts as not
        leading (a leader cut off from the database must not go on running jobs)."""
        try:
            ok = bool(self.store.take_lease(self.name, self.holder, self.ttl, self.clock()))
        except Exception as exc:
            log.warning("lease %s: could not renew (%s: %s)", self.name, type(exc).__name__, exc)
            ok = False
        self.leading = ok
        return ok

    def current(self) -> str | None:
        """Who leads now, by the database."""
        return self.store.lease_holder(self.name, self.clock())

    def resign(self) -> None:
        """Give the lease up at a clean stop, so another process takes over at its next beat."""
        if self.leading:
            try:
                self.store.drop_lease(self.name, self.holder)
            except Exception as exc:
                log.warning("lease %s: could not give it up (%s)", self.name, exc)
        self.leading = False
