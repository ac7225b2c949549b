"""A moving-window rate limiter shared by everything that uses one Discogs token.

Discogs counts requests per token (per IP when anonymous) in a moving 60-second window and reports the count
in ``X-Discogs-Ratelimit*`` headers. The limiter keeps its own record of send times, never lets more than
``limit`` requests into any window, and trusts the server when it reports more use than we know of (another
process with the same token). Clock and sleep are injectable for tests.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, limit: int = 60, window: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.limit = int(limit)
        self.window = float(window)
        self.clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._sent: deque[list[float]] = deque()   # one [time] cell per request in the window
        self._blocked_until = 0.0
        self.waited = 0.0          # total seconds callers spent waiting for a slot
        self.acquired = 0

    def _prune(self, now: float) -> None:
        if any(c[0] <= now - self.window for c in self._sent):
            self._sent = deque(c for c in self._sent if c[0] > now - self.window)

    def _next_free(self, now: float) -> float:
        return max(min(c[0] for c in self._sent) + self.window - now, 0.001)

    def _wait(self, seconds: float) -> None:
        if self._sleep is not None:   # injected sleep (tests): release the lock while "sleeping"
            self._cond.release()
            try:
                self._sleep(seconds)
            finally:
                self._cond.acquire()
        else:
            self._cond.wait(timeout=seconds)

    def acquire(self) -> list[float]:
        """Block until a request may be sent; return its slot (pass it to :meth:`settle` when answered).

        The slot's time is the send time until settled; settling moves it to the answer's time, because the
        server counts the request when it *arrives*, a little after we sent it: expiring our record by the
        send time would free the slot early and let a burst over the server's limit.
        """
        start = self.clock()
        with self._cond:
            while True:
                now = self.clock()
                self._prune(now)
                if now < self._blocked_until:
                    self._wait(self._blocked_until - now)
                    continue
                if len(self._sent) < self.limit:
                    cell = [now]
                    self._sent.append(cell)
                    self.acquired += 1
                    self.waited += now - start
                    return cell
                self._wait(self._next_free(now))

    def has_room(self, keep: int = 0) -> bool:
        """Whether a request could go now without waiting, leaving ``keep`` slots of the window free (for the
        collector's own look-ups: an extra such as a price never takes the last ones)."""
        with self._cond:
            now = self.clock()
            self._prune(now)
            return now >= self._blocked_until and len(self._sent) < self.limit - keep

    def settle(self, cell: list[float]) -> None:
        """The request in ``cell`` was answered now."""
        with self._cond:
            cell[0] = max(cell[0], self.clock())

    def update(self, limit: int | None = None, used: int | None = None, remaining: int | None = None,
               sent_at: float | None = None) -> None:
        """Align with the server's view from the response headers.

        ``sent_at``: when the request that got these headers was sent. The server counted ``used`` when the
        request arrived, so it is compared with what we had sent in the window ending then, not now: by the time
        the answer is in, some of those have left our window (more so the slower the answer), and counting
        them again as someone else's would block for a whole extra window.
        """
        with self._cond:
            now = self.clock()
            since = (now if sent_at is None else min(sent_at, now)) - self.window
            known = sum(1 for c in self._sent if c[0] > since)
            self._prune(now)
            if limit:
                self.limit = int(limit)
            if used is not None and used > known:
                # someone else used this token too: count their requests as sent now (conservative)
                for _ in range(int(used) - known):
                    self._sent.append([now])
            if remaining is not None and remaining <= 0:
                self._blocked_until = max(self._blocked_until, now + self._next_free(now) if self._sent
                                          else now + self.window / max(self.limit, 1))
            self._cond.notify_all()

    def block_for(self, seconds: float) -> None:
        """After a 429: nobody sends for ``seconds``."""
        with self._cond:
            self._blocked_until = max(self._blocked_until, self.clock() + seconds)

    @property
    def in_window(self) -> int:
        with self._cond:
            self._prune(self.clock())
            return len(self._sent)


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(key: str, limit: int, window: float = 60.0) -> RateLimiter:
    """One limiter per token (or per anonymous client), shared across all concurrent work."""
    with _registry_lock:
        lim = _registry.get(key)
        if lim is None or lim.window != window:
            lim = _registry[key] = RateLimiter(limit, window)
        return lim
