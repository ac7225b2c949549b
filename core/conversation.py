"""The conversation every chat adapter speaks, independent of any platform.

An adapter turns an incoming message into ``handle(user, text)`` and sends back the returned replies.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from .cards import render_card
from .discogs.gateway import DiscogsError
from .recommender import Recommender, UnknownRelease
from .refs import NotDiscogsLink, find_refs, parse_ref_strict

log = logging.getLogger(__name__)

HELP = ("Paste a Discogs release or master link (or a release id) and I'll tell you how well it fits your "
        "collection. React 👍 / 👎 to a score, or say \"bought\" when you buy it.")

LIKE = {"👍", "+1", "like", "yes", "good", "love it"}
DISLIKE = {"👎", "-1", "dislike", "no", "nope", "not for me"}
BOUGHT = {"bought", "bought it", "i bought it", "purchased", "got it", "🛒"}


@dataclass
class Reply:
    text: str
    score_id: int | None = None   # set when the reply is a score card, so reactions can refer to it


class Conversation:
    def __init__(self, recommender: Recommender) -> None:
        self.rec = recommender

    def handle(self, user: str, text: str, score_id: int | None = None) -> list[Reply]:
        """Answer one message. Never raises: every failure becomes a friendly reply."""
        try:
            return self._handle(user, (text or "").strip(), score_id)
        except Exception:  # the user gets a sentence, the log gets the trace
            log.exception("failed to handle a message")
            return [Reply("Sorry — something went wrong on my side while scoring that. Please try again.")]

    def _handle(self, user: str, text: str, score_id: int | None) -> list[Reply]:
        low = text.lower().strip(" !.")
        if not text or low in {"/start", "/help", "help", "?"}:
            return [Reply(HELP)]
        if low in LIKE or low in DISLIKE or low in BOUGHT:
            kind = "like" if low in LIKE else "dislike" if low in DISLIKE else "bought"
            return [self._feedback(user, kind, score_id)]
        refs = find_refs(text)
        if not refs:
            try:
                parse_ref_strict(text)
            except NotDiscogsLink as exc:
                return [Reply(str(exc))]
            except ValueError:
                pass
            return [Reply("I couldn't find a Discogs link or release id in that. " + HELP)]
        replies = []
        for ref in refs[:3]:
            try:
                card = self.rec.score(user, ref)
                replies.append(Reply(render_card(card), card.score_id))
            except UnknownRelease as exc:
                replies.append(Reply(str(exc)))
            except DiscogsError as exc:   # deleted release, Discogs down or rate-limiting: its own message
                replies.append(Reply(exc.user_message))
        return replies

    def _feedback(self, user: str, kind: str, score_id: int | None) -> Reply:
        try:
            _, release = self.rec.feedback(user, kind, score_id)
        except LookupError:
            return Reply("Paste a Discogs link first — then I'll take your 👍 / 👎 on it.")
        what = release.display if release else "that record"
        words = {"like": "Noted 👍 for", "dislike": "Noted 👎 for", "bought": "Congrats on buying"}[kind]
        return Reply(f"{words} {what}. I'll learn from it at the next retraining.")
