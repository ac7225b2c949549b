"""The conversation every chat adapter speaks, independent of any platform: free text is parsed here, once,
into a call of a typed entry point (score a release, feedback on a card, open a pick, a pressing's choice).

An adapter turns an incoming message into ``handle(user, text, context)`` and renders the typed replies; buttons
and reactions skip the parsing and call the entry points (:class:`core.app.CrateApp`) directly.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from core.app.barcodes import Barcodes
from core.app.feedback import Feedback
from core.app.picks import Discover
from core.app.replies import CardReply, Choice, Notice, PicksReply, Reply
from core.app.scoring import Scoring
from core.app.watching import Watching, WatchRefused
from core.app.words import BAD_CHECK_DIGIT, HELP, NO_LINK, NO_PICKS_YET, SORRY
from core.barcode import typed_code
from core.discogs.barcodes import digits
from core.domain.refs import NotDiscogsLink, find_refs, parse_ref_strict

log = logging.getLogger(__name__)

LIKE = {"👍", "+1", "like", "yes", "good", "love it"}
DISLIKE = {"👎", "-1", "dislike", "no", "nope", "not for me"}
BOUGHT = {"bought", "bought it", "i bought it", "purchased", "got it", "🛒"}

#: canonical reasons (what the learning loop and digests count) and the phrasings that mean them
REASONS: dict[str, tuple[str, ...]] = {
    "already have it": ("already have it", "already have", "i already have it", "have it already",
                        "already own it", "i already own it", "already got it", "got it already"),
    "too expensive": ("too expensive", "too pricey", "too much", "overpriced", "expensive", "pricey"),
    "not my style": ("not my style", "not my thing", "not my taste", "not my kind of thing", "not my genre"),
}
_REASON_OF = {phrase: canon for canon, phrases in REASONS.items() for phrase in phrases}
MAX_REASON_CHARS = 200
# words that may lead a reason after a plain space ("👎 too expensive", "dislike the pressing"); the others
# ("no", "yes", "like", ...) need a separator ("no: too pricey", "like, great label") or a known reason, so
# that ordinary sentences ("no idea", "like what?") are not taken as feedback
_STRONG = {"👍", "👎", "🛒", "+1", "-1", "dislike", "not for me", "bought", "bought it", "i bought it", "purchased"}
_LEADS = sorted(((w, k) for words, k in ((LIKE, "like"), (DISLIKE, "dislike"), (BOUGHT, "bought"))
                 for w in words), key=lambda wk: (-len(wk[0]), wk[0]))  # longest first: "nope" before "no"
_SEPARATORS = ":,;-–—"
_BECAUSE = ("because ", "cause ", "coz ", "bc ", "as ")


#: score cards one message gets at most (a chat of 100 cards helps nobody, and each may ask Discogs)
MAX_CARDS = 3
MORE_LINKS = ("That message has {total} Discogs links; I scored the first {n}. Send the others a few at a time "
              "(up to {n} per message).")

def _reason(text: str) -> tuple[str | None, bool]:
    """(reason, known): a canonical reason when the text says one, else the cleaned free text."""
    text = " ".join(text.split()).strip(" !.")
    low = text.lower()
    for lead in _BECAUSE:
        if low.startswith(lead):
            text, low = text[len(lead):].strip(), low[len(lead):].strip()
            break
    if not text:
        return None, False
    if low in _REASON_OF:
        return _REASON_OF[low], True
    return text[:MAX_REASON_CHARS], False


def parse_feedback(text: str) -> tuple[str, str | None] | None:
    """``(kind, reason)`` when the message is 👍 / 👎 / bought feedback, else ``None``.

    "👍", "bought it" → no reason; "👎 too expensive", "dislike: not my style" → dislike with a reason (known
    phrasings become the canonical "already have it" / "too expensive" / "not my style", anything else is
    kept as free text); a known reason on its own ("not my style") is a 👎 with that reason.
    """
    raw = " ".join((text or "").split())
    low = raw.lower().strip(" !.")
    if not low:
        return None
    for words, kind in ((LIKE, "like"), (DISLIKE, "dislike"), (BOUGHT, "bought")):
        if low in words:
            return kind, None
    reason, known = _reason(raw)
    if known:
        return "dislike", reason
    for word, kind in _LEADS:
        if raw[:len(word)].lower() != word:
            continue
        rest = raw[len(word):]
        if word[-1].isalnum() and rest[:1].isalnum():
            continue  # "nobody", "likewise": not the word itself
        head = rest[:len(rest) - len(rest.lstrip(" " + _SEPARATORS))]
        reason, known = _reason(rest[len(head):])
        if reason is None:
            continue
        if known or word in _STRONG or any(c in _SEPARATORS for c in head):
            return kind, reason
    return None


@dataclass
class Context:
    """What the collector last saw in this chat, so that short answers mean something: 👍 / 👎 apply to
    ``card`` (a score id), a number opens pick ``n`` of ``picks`` (a pick list) or option ``n`` of ``choice``
    (the release ids of a barcode's pressings). An adapter keeps one per chat and lets :meth:`seen` update it."""

    card: int | None = None
    picks: str | None = None
    page: int = 0
    choice: list[int] = field(default_factory=list)

    def seen(self, replies: list[Reply]) -> None:
        choices: list[int] = []      # the choices of one answer are numbered on from each other
        for r in replies:
            if isinstance(r, CardReply) and r.score_id is not None:
                self.card = r.score_id
            elif isinstance(r, PicksReply):
                self.picks, self.page, self.choice = r.page.session, r.page.page, []
            elif isinstance(r, Choice):
                choices += [c.release_id for c in r.options]
                self.choice, self.picks = list(choices), None


def small_number(text: str) -> int | None:
    """ "3", "#3", "3." → 3: a number from a list on screen (a release id is never this small in a message)."""
    t = text.strip().lstrip("#").rstrip(".")
    return int(t) if t.isdigit() and len(t) <= 2 and int(t) > 0 else None


class Conversation:
    """Free text → the entry point it means, over the application's use cases."""

    def __init__(self, scoring: Scoring, barcodes: Barcodes, feedback: Feedback, discover: Discover,
                 watching: Watching | None = None) -> None:
        self.scoring, self.barcodes, self.feedback, self.discover = scoring, barcodes, feedback, discover
        self.watching = watching

    def handle(self, user: str, text: str, score_id: int | None = None, *, event_id: str | int | None = None,
               source: str = "chat", context: Context | None = None) -> list[Reply]:
        """Answer one message. Never raises: every failure becomes a friendly reply.

        ``score_id``: the card the message answers (a reply to it); else the context's last card. ``event_id``
        (the platform's update/interaction id) and ``source`` (telegram, discord, cli, chat) go with feedback to
        the store, so a redelivered event is recorded once.
        """
        try:
            replies = self._handle(user, (text or "").strip(), score_id, event_id, source, context)
        except Exception:  # the user gets a sentence, the log gets the trace
            log.exception("failed to handle a message")
            return [Notice(SORRY)]
        if context is not None:
            context.seen(replies)
        return replies

    def _handle(self, user: str, text: str, score_id: int | None, event_id: str | int | None, source: str,
                context: Context | None) -> list[Reply]:
        low = text.lower().strip(" !.")
        if not text or low in {"/start", "/help", "help", "?"}:
            return [Notice(HELP)]
        if self.watching is not None and low.split(" ", 1)[0] in ("/watch", "/unwatch"):
            return [watch_command(self.watching, user, text)]
        n = small_number(text) if context is not None else None
        if n is not None and context is not None:
            if context.choice:
                if n > len(context.choice):
                    return [Notice(f"Pick a number from 1 to {len(context.choice)}.")]
                return [self.scoring.score_release(user, context.choice[n - 1])]
            if context.picks:
                return [self.discover.open_pick(user, context.picks, n)]
            return [Notice(NO_PICKS_YET)]
        found = typed_code(text)
        if found is not None:
            return self.barcodes.pressings(user, [found])
        if len(digits(text)) in (12, 13) and not any(c.isalpha() for c in text):
            return [Notice(BAD_CHECK_DIGIT)]
        refs = find_refs(text)
        parsed = None if refs else parse_feedback(text)
        if parsed is not None:
            kind, reason = parsed
            target = score_id if score_id is not None else (context.card if context is not None else None)
            return [self.feedback.feedback(user, kind, target, event_id, reason=reason, source=source)]
        if not refs:
            try:
                parse_ref_strict(text)
            except NotDiscogsLink as exc:
                return [Notice(str(exc))]
            except ValueError:
                pass
            return [Notice(NO_LINK)]
        return self.scoring.score_refs(user, refs)


_MONEY = r"(?:[€$£¥]|eur|usd|gbp|jpy|chf|cad|aud)"
_PRICE = re.compile(rf"^{_MONEY}?\s*(\d+(?:[.,]\d{{1,2}})?)\s*{_MONEY}?$", re.I)


def watch_command(watching: Watching, user: str, text: str) -> Reply:
    """``/watch`` (the list), ``/watch <link> [max price]``, ``/watch quiet 22-8|off``, ``/unwatch <link or
    number>``."""
    command, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    try:
        if command.lower() == "/unwatch":
            if not rest:
                return Notice("Say which: /unwatch followed by the record's link, or its number in /watch.")
            rid = watching.remove(user, rest)
            return Notice(f"Stopped watching release {rid}.")
        if rest.lower().startswith("quiet"):
            arg = rest[5:].strip()
            try:
                hours = watching.set_quiet_hours(user, arg)
            except ValueError:
                return Notice("Say the quiet hours like /watch quiet 22-8 (from 22:00 to 08:00 UTC), or "
                              "/watch quiet off.")
            return Notice("🔕 No price alerts from {:02d}:00 to {:02d}:00 (UTC); what changes meanwhile comes "
                          "after.".format(*hours) if hours else "🔔 Price alerts at any hour.")
        if not rest:
            rows = watching.rows(user)
            if not rows:
                return Notice("You're not watching anything yet. /watch a Discogs link (and a maximum price, e.g. "
                              "/watch https://www.discogs.com/release/249504 25), or tap 👀 on a card; your "
                              "Discogs wantlist is watched once you /link and /sync.")
            return Notice("\n".join(["👀 Watching (lowest price now, for sale):", *(r.line() for r in rows)]))
        words = rest.split()
        max_price = None
        if len(words) > 1:
            m = _PRICE.match(" ".join(words[1:]))
            if m is None:
                return Notice(f"I didn't understand the price {' '.join(words[1:])!r}: give a number, e.g. 25 "
                              "or 19.99.")
            max_price = float(m.group(1).replace(",", "."))
        w = watching.add(user, words[0], max_price)
        (row,) = watching.rows(user, only=w.release_id)
        most = (f" I'll tell you when it's for sale at {w.max_price:,.2f} {w.currency} or less, or when its price "
                f"drops clearly." if w.max_price is not None else
                " I'll tell you when its price drops clearly, or when it's for sale again.")
        return Notice(f"👀 Watching {row.title}.{most}")
    except WatchRefused as exc:
        return Notice(str(exc))
