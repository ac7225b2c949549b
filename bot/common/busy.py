"""One long job (an import, a sync) per collector at a time."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Busy:
    def __init__(self) -> None:
        self._running: dict[str, str] = {}

    def running(self, user: str) -> str | None:
        return self._running.get(user)

    @contextmanager
    def job(self, user: str, what: str) -> Iterator[str | None]:
        """``with busy.job(user, "sync") as other:`` — ``other`` is the job already running (then nothing is
        marked), else None and the job is marked until the block ends."""
        other = self._running.get(user)
        if other is not None:
            yield other
            return
        self._running[user] = what
        try:
            yield None
        finally:
            self._running.pop(user, None)
