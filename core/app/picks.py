"""Discover: pages of picks of what to buy next, and a pick opened as a card (by its number on the page shown, or
by its score from a button)."""
from __future__ import annotations

from typing import Callable

from core.app.discover import EXPIRED, DiscoverPages
from core.app.replies import CardReply, Notice, PicksReply, Refusal, Reply
from core.app.scoring import Scoring
from core.app.words import GONE, NO_SUCH_PICK
from core.picks import Discoverer
from core.picks.service import NothingToGoOn

Progress = Callable[[str], None]
OTHERS_PICKS = "These picks are someone else's: /discover for your own."


class Discover:
    def __init__(self, scoring: Scoring, discoverer: Discoverer | None = None) -> None:
        self.scoring = scoring
        self._discoverer = discoverer
        self._pages: DiscoverPages | None = None

    @property
    def discoverer(self) -> Discoverer:
        if self._discoverer is None:   # the candidate catalogue loads on the first /discover
            self._discoverer = Discoverer(self.scoring.rec)
        return self._discoverer

    @property
    def pages(self) -> DiscoverPages:
        if self._pages is None:
            self._pages = DiscoverPages(self.discoverer)
        return self._pages

    def discover(self, user: str, words: str | None = None, progress: Progress | None = None) -> PicksReply:
        """A first page of picks (``words``: a style or mood, optional); raises :class:`Refusal`."""
        missing = self.scoring.knows(user)
        if missing is not None:
            raise Refusal(missing)
        try:
            return PicksReply(self.pages.start(user, (words or "").strip() or None, progress=progress))
        except NothingToGoOn as exc:
            raise Refusal(str(exc)) from exc

    def turn(self, user: str, list_id: str, page: int, progress: Progress | None = None) -> PicksReply:
        """Another page of a pick list (the next one is fresh picks); raises :class:`Refusal`."""
        try:
            got = self.pages.turn(user, list_id, page, progress)
        except NothingToGoOn as exc:
            raise Refusal(str(exc)) from exc
        if got is None:
            raise Refusal(EXPIRED)
        return PicksReply(got)

    def open_pick(self, user: str, list_id: str, n: int) -> Reply:
        """Pick ``n`` (1-based) of the page of ``list_id`` shown last, as its card."""
        page = self.pages.shown(user, list_id)
        if page is None:
            return Notice(EXPIRED)
        picks = page.picks.picks
        if not 1 <= n <= len(picks):
            return Notice(NO_SUCH_PICK.format(n=n))
        return self.open_card(user, picks[n - 1].score_id or 0)

    def open_card(self, user: str, score_id: int) -> Reply:
        """A served pick (by its score, as a button carries it) as a card again, for its owner only."""
        if not self.scoring.owns_score(user, score_id):
            return Notice(OTHERS_PICKS)
        card = self.scoring.served_card(user, score_id)
        return CardReply(card) if card is not None else Notice(GONE)

    def adventurous(self, user: str) -> float:
        return self.discoverer.adventurous(user)

    def set_adventurous(self, user: str, value: str) -> None:
        """Set the share of exploration picks from a percentage ("40", "40%"); raises :class:`Refusal`."""
        try:
            pct = float(str(value).strip().rstrip("%"))
        except ValueError as exc:
            raise Refusal("Adventurous is a percentage of exploration picks, like /settings adventurous 40.") from exc
        if not 0 <= pct <= 100:
            raise Refusal("Pick an adventurous share between 0 and 100 %.")
        self.discoverer.set_adventurous(user, pct / 100)
