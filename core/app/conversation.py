"""The conversation every chat adapter speaks, independent of any platform.

An adapter turns an incoming message into ``handle(user, text)`` and sends back the returned replies.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, TypedDict

from core.app.cards import render_card
from core.barcode import FoundCode, lookup_codes, typed_code
from core.discogs.barcodes import digits
from core.discogs.gateway import AuthFailed, Candidate, DiscogsError
from core.domain.refs import NotDiscogsLink, find_refs, parse_ref_strict
from core.recommender import Recommender, ScoreCard, UnknownRelease

log = logging.getLogger(__name__)

HELP = ("Paste a Discogs release or master link (or a release id, or the digits under a barcode) and I'll tell "
        "you how well it fits your collection. React 👍 / 👎 to a score, or say \"bought\" when you buy it.")
NEEDS_LOGIN = ("Barcode {shown}: Discogs only searches barcodes for a signed-in account, and you haven't linked one "
               "with a token. Link yours with /token (a personal token: Discogs → Settings → Developers), then send "
               "the barcode again — or paste the record's Discogs link.")
BAD_CHECK_DIGIT = ("That looks like a barcode, but its digits don't add up (the last one is a check digit). Check "
                   "them against the sleeve and type them again, or paste the record's Discogs link.")

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

class _FeedbackExtra(TypedDict, total=False):
    """The optional keywords ``_feedback`` passes on to ``Recommender.feedback``."""
    reason: str
    event_id: str | int
    source: str


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
class Reply:
    text: str
    score_id: int | None = None   # set when the reply is a score card, so reactions can refer to it
    card: ScoreCard | None = None  # the scored card itself, for adapters that render more (cover, buttons, price)
    candidates: list[Candidate] | None = None   # pressings to choose from (adapters may offer them as buttons)
    prompt: str | None = None     # the question alone, for adapters that show ``candidates`` as buttons


def spaced(found: FoundCode) -> str:
    """The code as printed under the bars: EAN-13 "5 000213 101025", UPC-A "0 75720 00325 9", EAN-8 "9638 5074",
    UPC-E "0 126490 4"."""
    p = found.printed
    if found.format == "EAN-13" and len(p) == 13:
        return f"{p[0]} {p[1:7]} {p[7:]}"
    if found.format == "UPC-A" and len(p) == 12:
        return f"{p[0]} {p[1:6]} {p[6:11]} {p[11]}"
    if found.format == "EAN-8" and len(p) == 8:
        return f"{p[:4]} {p[4:]}"
    if found.format == "UPC-E" and len(p) == 8:
        return f"{p[0]} {p[1:7]} {p[7]}"
    return p


class Conversation:
    def __init__(self, recommender: Recommender) -> None:
        self.rec = recommender
        # called with the user after feedback is stored (the bot wires the learning scheduler here)
        self.on_feedback: Callable[[str], Any] | None = None

    def handle(self, user: str, text: str, score_id: int | None = None, *, event_id: str | int | None = None,
               source: str = "chat") -> list[Reply]:
        """Answer one message. Never raises: every failure becomes a friendly reply.

        ``event_id`` (the platform's update/interaction id) and ``source`` (telegram, discord, cli, chat) go with
        feedback to the store, so a redelivered event is recorded once.
        """
        try:
            return self._handle(user, (text or "").strip(), score_id, event_id, source)
        except Exception:  # the user gets a sentence, the log gets the trace
            log.exception("failed to handle a message")
            return [Reply("Sorry — something went wrong on my side while scoring that. Please try again.")]

    def _handle(self, user: str, text: str, score_id: int | None, event_id: str | int | None = None,
                source: str = "chat") -> list[Reply]:
        low = text.lower().strip(" !.")
        if not text or low in {"/start", "/help", "help", "?"}:
            return [Reply(HELP)]
        found = typed_code(text)
        if found is not None:
            return self.pressings(user, [found])
        if len(digits(text)) in (12, 13) and not any(c.isalpha() for c in text):
            return [Reply(BAD_CHECK_DIGIT)]
        refs = find_refs(text)
        parsed = None if refs else parse_feedback(text)
        if parsed is not None:
            kind, reason = parsed
            return [self._feedback(user, kind, score_id, reason=reason, event_id=event_id, source=source)]
        if not refs:
            try:
                parse_ref_strict(text)
            except NotDiscogsLink as exc:
                return [Reply(str(exc))]
            except ValueError:
                pass
            return [Reply("I couldn't find a Discogs link or release id in that. " + HELP)]
        replies = []
        for ref in refs[:MAX_CARDS]:
            try:
                card = self.rec.score(user, ref)
                replies.append(Reply(render_card(card), card.score_id, card))
            except UnknownRelease as exc:
                replies.append(Reply(str(exc)))
            except DiscogsError as exc:   # deleted release, Discogs down or rate-limiting: its own message
                replies.append(Reply(exc.user_message))
        if len(refs) > MAX_CARDS:   # never drop links without a word
            replies.append(Reply(MORE_LINKS.format(n=MAX_CARDS, total=len(refs))))
        return replies

    def pressings(self, user: str, found: list[FoundCode], limit: int = 10) -> list[Reply]:
        """Replies for barcodes read off a photo or typed: the pressing's score card when one pressing carries
        them, the pressings to choose from when several do, and what to do when none does or the look-up
        cannot be made. Codes read from the printed digits say so, so the collector can check them."""
        shown = ", ".join(spaced(f) for f in found)
        check = (f"I couldn't read the bars, so I read the digits printed under them: {shown} — check they match "
                 "the sleeve (if not, type the right ones)." if any(f.from_digits for f in found) else None)
        lead = [Reply(check)] if check else []
        gw = self.rec.gateway_for(user)
        if gw is None:
            return lead + [Reply(f"Barcode {shown}: live Discogs look-ups are off here, so I can't find the pressing. "
                                 "Paste the record's Discogs link instead.")]
        try:
            matches = lookup_codes(found, gw, limit)
        except AuthFailed as exc:
            if not (getattr(gw, "token", None) or getattr(gw, "oauth", None)):   # nobody's token was refused
                return lead + [Reply(NEEDS_LOGIN.format(shown=shown))]
            return lead + [Reply(exc.user_message)]
        except DiscogsError as exc:
            return lead + [Reply(exc.user_message)]
        seen: dict[int, Candidate] = {}
        for m in matches:
            for c in m.candidates:
                seen.setdefault(c.release_id, c)
        cands = list(seen.values())
        if not cands:
            return lead + [Reply(f"I read the barcode {shown}, but no release on Discogs carries it. Paste the "
                                 "record's Discogs link instead.")]
        if len(cands) == 1:
            try:
                card = self.rec.score(user, cands[0].release_id)
            except UnknownRelease as exc:
                return lead + [Reply(str(exc))]
            except DiscogsError as exc:
                return lead + [Reply(exc.user_message)]
            return lead + [Reply(render_card(card), card.score_id, card)]
        listing = "\n".join(f"{i}. {c.describe()} — release {c.release_id}" for i, c in enumerate(cands, 1))
        ask = f"📷 Barcode {shown}: {len(cands)} pressings carry it. Which one is yours?"
        return lead + [Reply(f"{ask} (send its release number)\n{listing}", candidates=cands, prompt=ask)]

    def _feedback(self, user: str, kind: str, score_id: int | None, *, reason: str | None = None,
                  event_id: str | int | None = None, source: str = "chat") -> Reply:
        extra: _FeedbackExtra = {}
        if reason is not None:
            extra["reason"] = reason
        if event_id is not None:
            extra["event_id"] = event_id
        if source != "chat":
            extra["source"] = source
        try:
            _, release = self.rec.feedback(user, kind, score_id, **extra)
        except LookupError:
            return Reply("Paste a Discogs link first — then I'll take your 👍 / 👎 on it.")
        if self.on_feedback is not None:
            try:
                self.on_feedback(user)   # e.g. schedule a retrain once enough feedback arrived
            except Exception:  # the feedback is stored; scheduling must never spoil the reply
                log.exception("on_feedback hook failed")
        what = release.display if release else "that record"
        words = {"like": "Noted 👍 for", "dislike": "Noted 👎 for", "bought": "Congrats on buying"}[kind]
        why = f" ({reason})" if reason else ""
        return Reply(f"{words} {what}{why}. I'll learn from it at the next retraining.")
