"""Feedback and learning: a 👍 / 👎 / bought on a served score, stored once per platform event, then the learning
loop told (the bot wires the scheduler's retrain-after-feedback here)."""
from __future__ import annotations

import logging
from typing import Any, Callable

from core.app.replies import Noted, Notice, Reply
from core.app.words import NO_CARD_YET
from core.recommender import Recommender

log = logging.getLogger(__name__)

KINDS = ("like", "dislike", "bought")


class Feedback:
    def __init__(self, rec: Recommender) -> None:
        self.rec = rec
        #: called with the user after feedback is stored (e.g. schedule a retrain once enough arrived)
        self.on_feedback: Callable[[str], Any] | None = None

    def feedback(self, user: str, kind: str, score_id: int | None, event_id: str | int | None = None, *,
                 reason: str | None = None, source: str = "chat") -> Reply:
        """Store ``kind`` on the score ``score_id`` (None: the last one served to ``user``), once per ``event_id``
        (the platform's update / interaction id, so a redelivered event counts once)."""
        if kind not in KINDS:
            raise ValueError(f"unknown feedback {kind!r}")
        try:
            _, release = self.rec.feedback(user, kind, score_id, reason=reason, source=source, event_id=event_id)
        except LookupError:
            return Notice(NO_CARD_YET)
        if self.on_feedback is not None:
            try:
                self.on_feedback(user)
            except Exception:  # the feedback is stored; scheduling must never spoil the reply
                log.exception("on_feedback hook failed")
        return Noted(kind, release.display if release else "that record", reason, score_id)
