"""A "working on it" sign while a card is computed: the platform's indicator (Telegram's "typing…", Discord's
"thinking…"), shown at once and renewed until the work is done."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def while_working(show: Callable[[], Awaitable[object]], work: Awaitable[T], every: float = 4.5) -> T:
    """Await ``work`` while ``show()`` keeps the sign up (Telegram's chat action lasts 5 s; ``every`` renews it).
    A sign that cannot be shown never holds the work up."""
    async def keep_showing() -> None:
        while True:
            try:
                await show()
            except Exception as exc:   # a sign is a courtesy, never a failure
                log.debug("working sign not shown: %s", exc)
            await asyncio.sleep(every)

    sign = asyncio.create_task(keep_showing())
    try:
        return await work
    finally:
        sign.cancel()
