"""Reading a linked collection from a chat, the same on every platform: one sync per collector at a time, its
progress in one message, the application's own words when it is done or stopped."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from core.app import SYNC_STOPPED, CrateApp, Refusal

from .busy import Busy
from .progress import Throttled


async def read_collection(app: CrateApp, busy: Busy, user: str, progress: Callable[[], Throttled],
                          busy_now: Callable[[str], Awaitable[object]], head: str = "") -> None:
    """Sync ``user``'s collection and learn as the application's policy says; ``progress()`` makes the message
    the steps go to, ``busy_now(job)`` says that another job of theirs is running; ``head`` leads every text."""
    with busy.job(user, "sync") as running:
        if running:
            await busy_now(running)
            return
        shown = progress()
        try:
            outcome = await asyncio.to_thread(app.accounts.sync, user, shown.say, head)
        except Refusal as exc:
            await shown.done(head + SYNC_STOPPED.format(why=exc.message))
            return
        await shown.done(outcome.summary(head))
