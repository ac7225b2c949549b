"""What the application answers, as typed values: a score card, pressings to choose from, feedback taken, a page
of picks, the settings, a question to confirm, a plain notice; and :class:`Refusal`, the one way a use case says it
cannot do what was asked.

They carry meaning, not a platform's layout: every adapter has one renderer that turns them into its own widgets
(Telegram text and keyboards, Discord embeds and components, terminal lines). Each also has ``text``, the wording
shared by all platforms (:mod:`core.app.words`), for renderers that only print.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from core.app.cards import render_card
from core.app.discover import PickPage
from core.discogs.gateway import Candidate
from core.recommender import ScoreCard


class Refusal(Exception):
    """A use case that cannot be done as asked: ``message`` says why (and what to do); ``code`` is the exit
    status a shell adapter returns (2: the request, 3: the release or photo, 4: Discogs)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Notice:
    """A plain sentence (an answer, or why something could not be done)."""

    text: str
    score_id: None = None
    card: None = None


@dataclass(frozen=True)
class CardReply:
    """A score card; its ``score_id`` is what feedback on it refers to."""

    card: ScoreCard

    @property
    def score_id(self) -> int | None:
        return self.card.score_id

    @property
    def text(self) -> str:
        return render_card(self.card)


@dataclass(frozen=True)
class Choice:
    """Several pressings carry the barcode ``shown``: the collector picks one (``score_release`` with its id)."""

    shown: str
    options: list[Candidate]
    score_id: None = None
    card: None = None
    first: int = 1          # the number of the first option (choices shown together are numbered on)

    @property
    def prompt(self) -> str:
        return f"📷 Barcode {self.shown}: {len(self.options)} pressings carry it. Which one is yours?"

    def lines(self) -> list[str]:
        return [f"{i}. {c.describe()} — release {c.release_id}" for i, c in enumerate(self.options, self.first)]

    @property
    def text(self) -> str:
        return "\n".join([self.prompt, *self.lines()])


FEEDBACK_WORDS = {"like": "Noted 👍 for", "dislike": "Noted 👎 for", "bought": "Congrats on buying"}
FEEDBACK_SHORT = {"like": "Noted 👍", "dislike": "Noted 👎", "bought": "Congrats on the buy 🛒"}


@dataclass(frozen=True)
class Noted:
    """Feedback stored: ``kind`` (like, dislike, bought) on ``record`` (its display name), with ``reason``."""

    kind: str
    record: str
    reason: str | None = None
    score_id: int | None = None
    card: None = None

    @property
    def short(self) -> str:
        return FEEDBACK_SHORT[self.kind]

    @property
    def text(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"{FEEDBACK_WORDS[self.kind]} {self.record}{why}. I'll learn from it at the next retraining."


@dataclass(frozen=True)
class PicksReply:
    """A page of picks; each pick opens as a card (``open_pick(user, page.session, n)``)."""

    page: PickPage
    score_id: None = None
    card: None = None

    @property
    def text(self) -> str:
        return self.page.text


@dataclass(frozen=True)
class SettingsReply:
    """The collector's settings (``error``: what was wrong with a change just asked for). ``buy`` is the share of
    records other collectors bought that a 🟢 buy must beat (0.02: their top 2 %); ``options`` says, for each
    choice offered (per cent), how many of their ``recent`` cards it would have made 🟢 (None: no personal model
    yet, so nothing to count)."""

    buy: float
    currency: str
    adventurous: float
    error: str | None = None
    options: tuple[tuple[int, int], ...] | None = None
    recent: int = 0
    score_id: None = None
    card: None = None

    @property
    def buy_pct(self) -> int:
        return max(1, round(self.buy * 100))

    @property
    def text(self) -> str:
        head = f"{self.error}\n\n" if self.error else ""
        lines = [f"{head}⚙️ Settings",
                 f"🟢 Buy: your top {self.buy_pct} % — records that suit you better than {100 - self.buy_pct} in "
                 "100 that other collectors bought"]
        if self.options is not None and self.recent:
            lines.append(f"   of your last {self.recent} cards, each choice makes this many 🟢: "
                         + " · ".join(f"top {p} % → {n}" for p, n in self.options))
        elif self.options is None:
            lines.append("   (it applies once your personal model is ready)")
        lines += [f"Currency for prices: {self.currency}",
                  f"Adventurous picks: {self.adventurous:.0%} of /discover is genre exploration"]
        return "\n".join(lines)


@dataclass(frozen=True)
class Confirm:
    """A question the collector confirms or declines (``action`` names what a yes does)."""

    question: str
    action: str
    score_id: None = None
    card: None = None

    @property
    def text(self) -> str:
        return self.question


#: one turn's answer, as every adapter receives it
Reply = Union[Notice, CardReply, Choice, Noted, PicksReply, SettingsReply, Confirm]
