"""The inbox: updates a chat platform delivered and the bot has not finished handling (see :mod:`core.app.inbox`)."""
from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from core.storage.database import Database
from core.storage.schema import InboxEvent

log = logging.getLogger("core.storage")


class Inbox(Database):
    """Updates in flight, one row each, deleted once handled. Payloads are stored as given (the caller encrypts)."""

    def inbox_add(self, platform: str, event_id: str, payload_enc: str) -> bool:
        """Keep an update until :meth:`inbox_done`; False when it is already kept (a redelivery). Committed
        before returning: only then may the platform be told the update arrived."""
        try:
            with self._session() as s, s.begin():
                if s.exec(select(InboxEvent.id).where(col(InboxEvent.platform) == platform,
                                                      col(InboxEvent.event_id) == event_id)).first() is not None:
                    return False
                s.add(InboxEvent(platform=platform, event_id=event_id, payload_enc=payload_enc))
            return True
        except IntegrityError:   # the same update added concurrently
            return False

    def inbox_done(self, platform: str, event_id: str) -> None:
        with self._session() as s, s.begin():
            s.exec(delete(InboxEvent).where(col(InboxEvent.platform) == platform,
                                            col(InboxEvent.event_id) == event_id))

    def inbox_pending(self, platform: str) -> list[tuple[str, str]]:
        """(event id, payload) of every update not yet handled, oldest first."""
        with self._session() as s:
            rows = s.exec(select(InboxEvent).where(col(InboxEvent.platform) == platform)
                          .order_by(col(InboxEvent.id))).all()
            return [(r.event_id, r.payload_enc) for r in rows]
