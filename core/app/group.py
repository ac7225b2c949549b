"""What only a group can ask: who here would buy this record, how well two members' tastes match, and a group
harmony figure for a shared purchase. Platform-free: a server is a ``(platform, server id)`` pair.

Only members who opted in in that server (``/share on``, :class:`core.storage.sharing.Sharing`) are ever named
or scored; the platform's member list is never consulted.
"""
from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import dataclass, field

from core.app.cards import WORDS, percent, standing
from core.discogs.gateway import DiscogsError
from core.domain.refs import find_refs
from core.domain.release import Release
from core.domain.verdict import verdict_emoji
from core.model.reasons import THEY
from core.recommender import Recommender, UnknownRelease

log = logging.getLogger(__name__)

NOT_SHARING = ("You haven't shared your taste in this server yet: /share on lets me name you on rankings here "
               "(and /share off takes it back).")
NO_LINK = "I couldn't find a Discogs link or release id in that: paste the record's Discogs link."
NOBODY = ("Nobody here has shared their taste yet. Link your collection (/link) and say /share on, and I'll rank "
          "who'd buy it.")
#: the other's records a member's model reads for "pass the record" and for the mean score on recent purchases
RECENT, PASS_POOL, PASS_SHOWN = 20, 60, 3


@dataclass
class MemberScore:
    user: str
    name: str
    probability: float
    verdict: str
    reason: str | None
    owns: bool = False
    wants: bool = False
    # where the record stands for the member (see core.app.cards.standing): one scale for everyone — the share
    # of records other collectors bought that suit *them* better — so rows compare; None: no model yet
    percentile: float | None = None
    standing: str = ""
    owns_album: str | None = None       # "another pressing (2003, UK)": owns the album, not this pressing

    @property
    def line(self) -> str:
        if self.owns:
            return f"{self.name}: already owns it"
        if self.owns_album:
            return f"📀 {self.name}: already owns {self.owns_album}"
        emoji = verdict_emoji(self.verdict)
        tail = f" — {self.reason}" if self.reason else ""
        wants = " (on their wantlist)" if self.wants else ""
        return f"{emoji} {self.name}: {WORDS.get(self.verdict, self.verdict).lower()}, {self.standing}{wants}{tail}"

    @property
    def order(self) -> tuple:
        """Best first on the one scale: owners last, then members with a model by their standing, then first
        estimates by their chance."""
        if self.owns or self.owns_album:
            return (2, 0.0)
        if self.percentile is None:
            return (1, -self.probability)
        return (0, -self.percentile)


@dataclass
class GroupAnswer:
    """``/whowants`` and ``/groupbuy``: the record scored for every sharing member, best first."""

    release: Release | None
    rows: list[MemberScore] = field(default_factory=list)
    message: str | None = None          # set when there is nothing to rank (and says why)

    @property
    def scored(self) -> list[MemberScore]:
        return [r for r in self.rows if not r.owns]

    @property
    def harmony(self) -> tuple[float, float] | None:
        """(mean, lowest) of the scores of the members who don't own it; None when nobody was scored."""
        ps = [r.probability for r in self.scored]
        return (statistics.fmean(ps), min(ps)) if ps else None

    def render(self, with_harmony: bool = False) -> str:
        if self.message:
            return self.message
        assert self.release is not None
        lines = [f"🎧 Who here would buy {self.release.display}?"]
        lines += [r.line for r in self.rows]
        if with_harmony:
            lines.append(self.harmony_line())
        return "\n".join(lines)

    def harmony_line(self) -> str:
        h = self.harmony
        if h is None:
            return "Group harmony: nobody left to buy it (everyone sharing here owns it)."
        mean, low = h
        n = len(self.scored)
        advice = ("a safe shared buy" if low >= 0.5 else "a good group pick, though not for everyone" if mean >= 0.5
                  else "better bought by whoever scores it highest")
        return (f"Group harmony over {n} member{'s' if n != 1 else ''}: mean {percent(mean)}, lowest "
                f"{percent(low)} — {advice}.")


@dataclass
class TasteMatch:
    """``/taste``: how two sharing members' tastes meet."""

    a: str
    b: str
    a_name: str
    b_name: str
    shared_artists: list[str]
    shared_styles: list[str]
    a_on_b: float | None          # a's model, mean score on b's latest records
    b_on_a: float | None
    passes: list[tuple[Release, float]]   # b's records a's model likes most (a does not own them)

    @property
    def match(self) -> float | None:
        both = [x for x in (self.a_on_b, self.b_on_a) if x is not None]
        return statistics.fmean(both) if both else None

    def render(self) -> str:
        m = self.match
        lines = [f"🤝 {self.a_name} × {self.b_name}: taste match {percent(m) if m is not None else 'unknown'}"]
        lines.append("Shared artists: " + (", ".join(self.shared_artists) or "none yet"))
        lines.append("Shared styles: " + (", ".join(self.shared_styles) or "none yet"))
        if self.a_on_b is not None:
            lines.append(f"{self.a_name}'s model gives {self.b_name}'s latest records {percent(self.a_on_b)} on "
                         "average")
        if self.b_on_a is not None:
            lines.append(f"{self.b_name}'s model gives {self.a_name}'s latest records {percent(self.b_on_a)} on "
                         "average")
        if self.passes:
            lines.append(f"Pass the record — from {self.b_name}'s shelves, for {self.a_name}:")
            lines += [f"• {r.display} ({percent(p)})" for r, p in self.passes]
        return "\n".join(lines)


class Group:
    """The group use cases over one recommender, for one platform."""

    def __init__(self, recommender: Recommender, platform: str) -> None:
        self.rec, self.platform = recommender, platform

    # -- opt-in ----------------------------------------------------------------------------------------------
    def share(self, server: str | int, user: str, on: bool, display_name: str = "") -> str:
        self.rec.store.set_sharing(self.platform, server, user, on, display_name)
        if on:
            return ("✅ You're sharing your taste in this server: /whowants can name you and /taste can compare "
                    "you. /share off stops it.")
        return "🙈 You're no longer shown in this server (rankings and taste matches leave you out)."

    def sharing(self, server: str | int, user: str) -> bool:
        return self.rec.store.is_sharing(self.platform, server, user)

    def _members(self, server: str | int) -> list[tuple[str, str]]:
        """Sharing members the bot can score (a collection or a model)."""
        store = self.rec.store
        return [(u, n) for u, n in store.sharing_members(self.platform, server)
                if store.active_model(u) is not None or store.collection(u)]

    # -- who wants ---------------------------------------------------------------------------------------------
    def who_wants(self, server: str | int, text: str, asker: str | None = None) -> GroupAnswer:
        """The record in ``text`` scored for every sharing member who linked a collection, best first; owners
        last, said as such."""
        refs = find_refs(text or "")
        if not refs:
            return GroupAnswer(None, message=NO_LINK)
        members = self._members(server)
        if not members:
            return GroupAnswer(None, message=NOBODY)
        try:
            release = self.rec.resolve(refs[0], asker, own=False)   # shown to the server: shared facts only
        except UnknownRelease as exc:
            return GroupAnswer(None, message=str(exc))
        except DiscogsError as exc:
            return GroupAnswer(None, message=exc.user_message)
        rows = []
        for user, name in members:
            owned = {it.release.id: it.list_name for it in self.rec.store.collection(user)}
            lst = owned.get(release.id)
            if lst == "collection":
                rows.append(MemberScore(user, name, 1.0, "owns", None, owns=True))
                continue
            try:
                card = self.rec.score(user, release, record=False, voice=THEY)   # the server reads it
            except Exception:   # one member's broken model never spoils the ranking for the rest
                log.exception("could not score release %s for %s", release.id, user)
                continue
            rows.append(MemberScore(user, name, card.probability, card.verdict,
                                    card.reasons[0] if card.reasons else None, wants=lst == "wantlist",
                                    percentile=card.percentile, standing=standing(card, "them"),
                                    owns_album=card.owned if card.owned and card.owned != "this very pressing"
                                    else None))
        rows.sort(key=lambda r: r.order)
        return GroupAnswer(release, rows)

    # -- taste -------------------------------------------------------------------------------------------------
    def taste(self, server: str | int, a: str, b: str) -> TasteMatch | str:
        """How ``a``'s and ``b``'s tastes meet; a sentence instead when one of them does not share here."""
        names = dict(self.rec.store.sharing_members(self.platform, server))
        if a not in names:
            return NOT_SHARING
        if b not in names:
            return "They haven't shared their taste in this server, so I can't compare you."
        if a == b:
            return "Pick another member: your taste matches your own perfectly."
        ca, cb = self._records(a), self._records(b)
        if not ca or not cb:
            return "I need both collections for that: each of you links one first (/link)."
        shared_artists = _shared(Counter(x for r in ca for x in r.artists), Counter(x for r in cb for x in r.artists))
        shared_styles = _shared(Counter(x for r in ca for x in (r.styles or r.genres)),
                                Counter(x for r in cb for x in (r.styles or r.genres)))
        a_ids = {r.id for r in ca}
        b_ids = {r.id for r in cb}
        a_on_b = self._mean(a, [r for r in cb[-RECENT:] if r.id not in a_ids])
        b_on_a = self._mean(b, [r for r in ca[-RECENT:] if r.id not in b_ids])
        pool = [r for r in cb[-PASS_POOL:] if r.id not in a_ids]
        scored = sorted(((r, p) for r, p in zip(pool, self._scores(a, pool))), key=lambda t: -t[1])
        return TasteMatch(a, b, names[a], names[b], shared_artists, shared_styles, a_on_b, b_on_a,
                          scored[:PASS_SHOWN])

    def _records(self, user: str) -> list[Release]:
        """The user's collection, oldest added first (so the tail is the latest purchases)."""
        items = list(self.rec.store.collection(user, "collection"))
        items.sort(key=lambda it: (it.date_added is not None, it.date_added))
        return [it.release for it in items]

    def _scores(self, user: str, releases: list[Release]) -> list[float]:
        out = []
        for r in releases:
            try:
                out.append(self.rec.score(user, r, record=False).probability)
            except Exception:   # noqa: BLE001 — a record the model can't read counts as no opinion
                log.exception("could not score release %s for %s", r.id, user)
                out.append(float("nan"))
        return out

    def _mean(self, user: str, releases: list[Release]) -> float | None:
        ps = [p for p in self._scores(user, releases) if p == p]
        return statistics.fmean(ps) if ps else None


def _shared(a: Counter[str], b: Counter[str], n: int = 5) -> list[str]:
    """What both carry, most shared first (by the smaller of the two counts)."""
    both = [(min(a[k], b[k]), k) for k in a.keys() & b.keys() if k]
    return [k for _, k in sorted(both, key=lambda t: (-t[0], t[1]))[:n]]


__all__ = ["Group", "GroupAnswer", "MemberScore", "TasteMatch", "NOT_SHARING"]
