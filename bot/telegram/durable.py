"""Telegram's side of :mod:`core.app.inbox`: an update is stored before Telegram learns it arrived, and removed
after its handlers finished.

Telegram confirms an update when the bot asks ``getUpdates`` with a higher offset (python-telegram-bot does so on
its next poll, while the handlers may still run) or when the webhook answers 200. Both paths first put the update
in the application's update queue, so the queue stores it (:class:`JournalQueue`); :class:`DurableApplication`
removes it once ``process_update`` is over. If storing fails (the database is locked past its timeout), ``put``
raises: the poll is retried with the same offset, so Telegram delivers the update again.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update
from telegram.ext import Application

from core.app import DurableInbox

log = logging.getLogger(__name__)


class JournalQueue(asyncio.Queue[Any]):
    """The application's update queue, storing every update before it is queued."""

    def __init__(self, inbox: DurableInbox | None = None) -> None:
        super().__init__()
        self.inbox = inbox

    async def put(self, item: Any) -> None:
        if isinstance(item, Update) and self.inbox is not None:
            await asyncio.to_thread(self.inbox.receive, item.update_id, item.to_dict())
        await super().put(item)


class DurableApplication(Application):
    """An Application that removes an update from the inbox once its handlers are done (errors included: the
    error handler has answered; replaying it would only repeat the error)."""

    inbox: DurableInbox | None = None

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)
        finally:
            if isinstance(update, Update) and self.inbox is not None:
                try:
                    await asyncio.to_thread(self.inbox.done, update.update_id)
                except Exception:   # never fatal: a leftover row only means one idempotent replay
                    log.warning("could not clear update %s from the inbox", update.update_id, exc_info=True)

    async def replay_pending(self) -> int:
        """Queue every update stored but never finished (the bot was killed in between); returns how many."""
        if self.inbox is None:
            return 0
        pending = await asyncio.to_thread(self.inbox.pending)
        for _, payload in pending:
            await self.update_queue.put(Update.de_json(payload, self.bot))
        if pending:
            log.info("replaying %d update(s) delivered before the last stop", len(pending))
        return len(pending)
