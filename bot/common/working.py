"""A "working on it" sign while a card is computed: the platform's indicator (Telegram's "typing…", Discord's
"thinking…"), shown at once and renewed until the work is done."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def while_working(show: Callable[[], Awaitable[object]], work: Awaitable[T], every: float = 4.5, *,
                        slow: Callable[[], Awaitable[object]] | None = None, slow_after: float = 2.5,
                        tidy: Callable[[object], Awaitable[object]] | None = None) -> T:
    """Await ``work`` while ``show()`` keeps the sign up (Telegram's chat action lasts 5 s; ``every`` renews it).
    A sign that cannot be shown never holds the work up. ``slow``: said once when the work takes longer than
    ``slow_after`` seconds (every message is answered within 3 s: "⏳ One moment…"), and ``tidy`` takes it away
    when the answer is there."""
    async def keep_showing() -> None:
        while True:
            try:
                await show()
            except Exception as exc:   # a sign is a courtesy, never a failure
                log.debug("working sign not shown: %s", exc)
            await asyncio.sleep(every)

    sending = False

    async def say_slow() -> object:
        nonlocal sending
        await asyncio.sleep(slow_after)
        sending = True
        assert slow is not None
        return await slow()

    sign = asyncio.create_task(keep_showing())
    notice = asyncio.create_task(say_slow()) if slow is not None else None
    try:
        return await work
    finally:
        sign.cancel()
        if notice is not None:
            if not sending:
                notice.cancel()
            else:
                try:
                    sent = await notice
                    if tidy is not None:
                        await tidy(sent)
                except Exception as exc:   # a courtesy too
                    log.debug("'one moment' not sent or not taken away: %s", exc)
