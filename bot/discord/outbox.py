"""Replies to messages, paced per channel: Discord lets a bot post 5 messages per 5 seconds in one channel and
answers more with 429. A burst of messages from one collector used to end in dropped replies (discord.py gives up
after five 429s in a row); here every reply waits its turn in its channel's queue, sent no faster than the limit,
and a 429 or a Discord-side error is retried after the time Discord asks for — a reply is never dropped."""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

import discord

log = logging.getLogger(__name__)

PER_CHANNEL = 5          # messages…
WINDOW_S = 5.0           # …per this many seconds in one channel (Discord's limit)
ATTEMPTS = 8             # tries of one message through 429s and Discord's own errors


class ChannelOutbox:
    """One queue and one sender per channel, on the bot's event loop."""

    def __init__(self, per_channel: int = PER_CHANNEL, window_s: float = WINDOW_S) -> None:
        self.per_channel, self.window_s = per_channel, window_s
        self._queues: dict[int, asyncio.Queue[tuple[Any, dict[str, Any], asyncio.Future[Any]]]] = {}
        self._sent: dict[int, collections.deque[float]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}

    async def send(self, channel: Any, **kwargs: Any) -> Any:
        """Post ``kwargs`` (content, embed, view, reference…) to ``channel`` in turn; the sent message."""
        cid = int(channel.id)
        q = self._queues.get(cid)
        if q is None:
            q = self._queues[cid] = asyncio.Queue()
            self._sent[cid] = collections.deque(maxlen=self.per_channel)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await q.put((channel, kwargs, fut))
        task = self._tasks.get(cid)
        if task is None or task.done():
            self._tasks[cid] = asyncio.create_task(self._drain(cid), name=f"outbox-{cid}")
        return await fut

    async def _drain(self, cid: int) -> None:
        q, sent = self._queues[cid], self._sent[cid]
        while not q.empty():
            channel, kwargs, fut = q.get_nowait()
            if len(sent) == self.per_channel:   # the window is full: wait for its oldest send to leave it
                wait = sent[0] + self.window_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                msg = await self._send_one(channel, kwargs)
            except Exception as exc:   # told to the waiting handler (which logs it); the queue goes on
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(msg)
            sent.append(time.monotonic())

    async def _send_one(self, channel: Any, kwargs: dict[str, Any]) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await channel.send(**kwargs)
            except discord.HTTPException as exc:
                if exc.status != 429 and exc.status < 500 or attempt == ATTEMPTS:
                    raise
                retry = getattr(exc, "retry_after", None) or _retry_after(exc) or min(30.0, 0.5 * 2 ** attempt)
                log.info("channel %s: Discord said %s; sending again in %.1f s", channel.id, exc.status, retry)
                await asyncio.sleep(retry)
        raise RuntimeError("unreachable")

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()


def _retry_after(exc: discord.HTTPException) -> float | None:
    try:
        return float(exc.response.headers.get("Retry-After"))  # type: ignore[arg-type]
    except (AttributeError, TypeError, ValueError):
        return None
