"""Discover for chat adapters: pages of picks (◀ ▶ turn them; a further page is a fresh set of picks, since what
was shown is never picked again soon), each pick a score card the collector can react to."""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from core.app.cards import ATTRIBUTION, money, percent
from core.picks import Discoverer, Pick, Picks
from core.picks.service import KIND_LABELS
from core.recommender import ScoreCard

EXPIRED = "That list of picks has expired (I keep the latest ones only). Send /discover again for fresh picks."


def pick_card(pick: Pick, model_version: str | None = None, cold_start: bool = False) -> ScoreCard:
    """A pick as the score card every adapter already renders, with the same buttons."""
    reasons = ([pick.match] if pick.match else []) + pick.reasons
    return ScoreCard(pick.release, pick.probability, pick.verdict, KIND_LABELS.get(pick.kind, pick.kind), reasons,
                     cold_start, model_version, pick.score_id)


def pick_line(n: int, pick: Pick) -> str:
    """ "3. 🟢 86 % Can – Tago Mago (1971) · similar: like 7 records you own by Can" """
    why = pick.best_reason
    head = f"{n}. {pick.emoji} {percent(pick.probability)} {pick.release.display}"
    lines = [head, f"   {KIND_LABELS.get(pick.kind, pick.kind)}" + (f" · {why}" if why else "")]
    if pick.match:
        lines.append(f"   {pick.match}")
    r = pick.release
    if r.lowest_price is not None:
        lines.append(f"   🏷️ from {money(r.lowest_price, r.price_currency)}")
    return "\n".join(lines)


def render_picks(picks: Picks, page: int = 0, *, hint: str | None = None) -> str:
    """A page of picks as text; ``hint`` (the platform's words for opening a pick) goes under the picks."""
    words = f" for “{picks.query}”" if picks.query else ""
    lines = [f"✨ Picks for you{words} — page {page + 1}"]
    if not picks.picks:
        lines.append("Nothing new to pick right now." if not picks.notes else "")
    lines += [pick_line(i + 1, p) for i, p in enumerate(picks.picks)]
    lines += [n for n in picks.notes if n]
    if picks.picks and hint:
        lines.append(hint)
    lines.append(ATTRIBUTION)
    return "\n".join(x for x in lines if x is not None)


@dataclass
class PickPage:
    session: str
    page: int
    picks: Picks
    text: str

    @property
    def has_prev(self) -> bool:
        return self.page > 0


@dataclass
class _Session:
    user: str
    query: str | None
    adventurous: float | None
    k: int | None
    pages: list[Picks]
    shown: int = 0


class DiscoverPages:
    """Recent pick lists, in memory (a restart expires them: /discover starts a new one)."""

    def __init__(self, discoverer: Discoverer, keep: int = 500) -> None:
        self.discoverer = discoverer
        self.keep = keep
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, user: str, query: str | None = None, adventurous: float | None = None, k: int | None = None,
              progress: Callable[[str], None] | None = None) -> PickPage:
        picks = self.discoverer.discover(user, k, query, adventurous, progress=progress)
        sid = secrets.token_hex(4)
        with self._lock:
            self._sessions[sid] = _Session(user, query, adventurous, k, [picks])
            while len(self._sessions) > self.keep:
                self._sessions.popitem(last=False)
        return PickPage(sid, 0, picks, render_picks(picks, 0))

    def turn(self, user: str, session: str, page: int,
             progress: Callable[[str], None] | None = None) -> PickPage | None:
        """Page ``page`` of a list: a page already shown as it was, the next one fresh. None: expired, or not
        this collector's list."""
        with self._lock:
            s = self._sessions.get(session)
        if s is None or s.user != user or page < 0 or page > len(s.pages):
            return None
        if page == len(s.pages):
            s.pages.append(self.discoverer.discover(user, s.k, s.query, s.adventurous, progress=progress))
        picks = s.pages[page]
        s.shown = page
        return PickPage(session, page, picks, render_picks(picks, page))

    def shown(self, user: str, session: str) -> PickPage | None:
        """The page of a list shown last (what its numbers refer to); None: expired or someone else's."""
        with self._lock:
            s = self._sessions.get(session)
        if s is None or s.user != user:
            return None
        return PickPage(session, s.shown, s.pages[s.shown], render_picks(s.pages[s.shown], s.shown))
