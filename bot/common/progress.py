"""Progress: one message edited as long work goes on."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)


class Throttled:
    """Edits of one message, at least ``min_interval`` seconds apart. :meth:`say` may be called from any thread
    (a core progress callback); :meth:`done` waits for the edits already sent, then always shows the final text.
    ``edit(text, **extra)`` is the platform's coroutine that changes the message (and never raises)."""

    def __init__(self, edit: Callable[..., Coroutine[Any, Any, None]], loop: asyncio.AbstractEventLoop,
                 min_interval: float = 1.0, shown: str = "") -> None:
        self.edit, self.loop, self.min_interval = edit, loop, min_interval
        self._shown = shown
        self._last = float("-inf")   # time.monotonic() may be < min_interval just after boot
        self._pending: list[Future[Any]] = []
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._lock:
            now = time.monotonic()
            if text == self._shown or now - self._last < self.min_interval:
                return
            self._last, self._shown = now, text
            self._pending.append(asyncio.run_coroutine_threadsafe(self.edit(text), self.loop))

    async def settle(self) -> None:
        """Wait for the edits already sent (so that a final edit is not overtaken by one of them)."""
        for fut in list(self._pending):
            try:
                await asyncio.wrap_future(fut)
            except Exception:   # the edit logs its own failure
                log.debug("a progress edit failed", exc_info=True)

    async def done(self, text: str, **extra: Any) -> None:
        await self.settle()
        with self._lock:
            self._shown = text
        await self.edit(text, **extra)
