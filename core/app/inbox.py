"""Never lose what a user sent: every update a chat platform delivers is stored — encrypted, since it may carry
a token — before the platform is told it arrived, and removed once every handler of it has finished. A bot that
is killed in between replays the update on restart; handlers are idempotent on replay (feedback is keyed by the
update, so a 👍 is stored exactly once). Telegram confirms an update by the next ``getUpdates`` offset (or the
webhook's 200), Discord by the gateway's acknowledgement: both adapters call :meth:`DurableInbox.receive` before
that and :meth:`DurableInbox.done` after their handlers.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from core.secrets import SecretBox, SecretError
from core.storage import Store

log = logging.getLogger(__name__)


class DurableInbox:
    """The updates of one platform (``"telegram"``, ``"discord"``) in flight."""

    def __init__(self, store: Store, box: SecretBox, platform: str) -> None:
        self.store, self.box, self.platform = store, box, platform

    def receive(self, event_id: str | int, payload: dict[str, Any]) -> bool:
        """Store the update durably (raises when it cannot: then the platform must not be told it arrived).
        False when it was already stored (a redelivery)."""
        blob = self.box.encrypt(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
        return self.store.inbox_add(self.platform, str(event_id), blob)

    def done(self, event_id: str | int) -> None:
        self.store.inbox_done(self.platform, str(event_id))

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        """(event id, payload) of every update stored but not handled (a crash came in between), oldest first;
        unreadable ones (the key changed) are dropped with a log line."""
        out = []
        for event_id, blob in self.store.inbox_pending(self.platform):
            try:
                out.append((event_id, json.loads(self.box.decrypt(blob))))
            except (SecretError, ValueError):
                log.warning("dropping an unreadable %s update %s from the inbox", self.platform, event_id)
                self.done(event_id)
        return out
