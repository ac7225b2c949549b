"""Watching records on the marketplace: the watch list (marked records and the wantlist), a polling pass, and
the alerts it calls for, each with the buy score beside it. The chat and the shell (``crate watch``) use the same
calls and the same sentences; the scheduler runs the passes."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.app.cards import ATTRIBUTION, chance_line, percent, verdict_line
from core.discogs.gateway import DiscogsError, NotFound
from core.domain.refs import DiscogsRef, NotDiscogsLink, parse_ref_strict
from core.recommender import Recommender
from core.storage.schema import Watch
from core.watch import Alert, PollReport, kept_slots, poll_user

log = logging.getLogger(__name__)

def parse_quiet_hours(text: str) -> tuple[int, int] | None:
    """ "22-8" → (22, 8); empty → None."""
    t = (text or "").strip()
    if not t:
        return None
    try:
        a, b = (int(x) for x in t.split("-"))
    except ValueError as exc:
        raise ValueError(f"watch.quiet_hours must look like 22-8, not {text!r}") from exc
    if not (0 <= a < 24 and 0 <= b < 24):
        raise ValueError(f"watch.quiet_hours hours run 0..23, not {text!r}")
    return a, b


#: the user setting that holds their quiet hours ("22-8" or "off")
QUIET_SETTING = "watch_quiet_hours"


class WatchRefused(ValueError):
    """What the collector asked cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class WatchRow:
    """One watched record as the list shows it."""

    number: int
    release_id: int
    title: str
    source: str
    max_price: float | None
    currency: str
    lowest_price: float | None
    num_for_sale: int | None
    score: float | None
    checked_at: datetime | None
    gone: bool
    blocked: bool

    def as_json(self) -> dict[str, Any]:
        return {"release_id": self.release_id, "title": self.title, "source": self.source,
                "max_price": self.max_price, "currency": self.currency, "lowest_price": self.lowest_price,
                "num_for_sale": self.num_for_sale, "score": None if self.score is None else round(self.score, 4),
                "checked_at": self.checked_at.isoformat() if self.checked_at else None, "gone": self.gone,
                "blocked": self.blocked}

    def line(self) -> str:
        price = ("not checked yet" if self.checked_at is None else "deleted from Discogs" if self.gone
                 else "barred from sale" if self.blocked
                 else "none for sale" if self.lowest_price is None
                 else f"from {self.lowest_price:,.2f} {self.currency} ({self.num_for_sale} for sale)")
        most = f" · your maximum {self.max_price:,.2f} {self.currency}" if self.max_price is not None else ""
        score = f" · buy score {round(100 * self.score)} %" if self.score is not None else ""
        wanted = " · on your wantlist" if self.source == "wantlist" else ""
        return f"{self.number}. {self.title} — {price}{most}{score}{wanted}"


@dataclass(frozen=True)
class AlertOut:
    """An alert ready to send: the record, its price, the buy score and the reasons, where to buy it."""

    alert: Alert
    title: str
    score: float | None
    reasons: list[str]
    score_id: int | None
    verdict: str | None = None       # the card's headline ("🟡 Maybe — top 8 % for you")
    chance: str | None = None        # the card's chance line ("12 % chance you'd buy it (a typical record: 2 %)")

    @property
    def market_url(self) -> str:
        return f"https://www.discogs.com/sell/release/{self.alert.release_id}"

    def line(self) -> str:
        a = self.alert
        score = f"buy score {percent(self.score)}" if self.score is not None else "no buy score yet"
        return f"{self.title} [release {a.release_id}]: {a.price:,.2f} {a.currency} · {score} · {a.why}"

    def chat_lines(self) -> list[str]:
        """The alert as a chat shows it: what, the price and why, the card's verdict and chance, its reasons."""
        lines = [f"💸 {self.title}", f"{self.alert.why}."]
        if self.verdict and self.chance:
            lines += [self.verdict, self.chance]
        else:
            lines.append("No buy score yet: link or import your collection and I'll score it.")
        lines += [f"• {r}" for r in self.reasons[:3]]
        lines.append(ATTRIBUTION)
        return lines


class Watching:
    """The collector's watch list and the polling passes over it."""

    def __init__(self, rec: Recommender, *, daily_cap: int | None = None,
                 quiet_hours: tuple[int, int] | None = None, keep_share: float | None = None) -> None:
        self.rec, self.store = rec, rec.store
        cfg = rec.cfg.watch
        self.daily_cap = int(cfg.daily_cap if daily_cap is None else daily_cap)
        self.quiet_hours = quiet_hours if quiet_hours is not None else parse_quiet_hours(cfg.quiet_hours)
        self.keep_share = float(cfg.keep_share if keep_share is None else keep_share)

    # -- the list ----------------------------------------------------------------------------------------------
    def _release_id(self, user: str, text: str) -> int:
        try:
            ref = parse_ref_strict(text)
        except (NotDiscogsLink, ValueError) as exc:
            raise WatchRefused(str(exc)) from exc
        if ref.kind == "release":
            return ref.id
        try:
            return self.rec.resolve(ref, user).id
        except DiscogsError as exc:
            raise WatchRefused(exc.user_message) from exc
        except LookupError as exc:
            raise WatchRefused(f"I can't find that on Discogs: {exc}") from exc

    def add(self, user: str, text: str, max_price: float | None = None) -> Watch:
        if max_price is not None and max_price <= 0:
            raise WatchRefused("A maximum price must be more than 0.")
        rid = self._release_id(user, text)
        if self.rec.resolve_local(rid) is None:   # known by name in the list and the alerts, when Discogs answers
            try:
                self.rec.resolve(DiscogsRef("release", rid), user)
            except NotFound as exc:
                raise WatchRefused(exc.user_message) from exc
            except (DiscogsError, LookupError) as exc:   # Discogs down, or offline: watched all the same
                log.info("watching %s unnamed for now: %s", rid, type(exc).__name__)
        return self.store.watch(user, rid, max_price=max_price, currency=self.currency(user))

    def remove(self, user: str, text: str) -> int:
        """Stop watching a record given by its link or id, or by its number in the list; returns its id."""
        t = text.strip().lstrip("#")
        rows = self.store.watches(user)
        if t.isdigit() and 0 < int(t) <= min(len(rows), 99) and len(t) <= 2:
            rid = rows[int(t) - 1].release_id
        else:
            rid = self._release_id(user, text)
        if not self.store.unwatch(user, rid):
            raise WatchRefused(f"You're not watching release {rid}.")
        return rid

    def rows(self, user: str, only: int | None = None) -> list[WatchRow]:
        """The list as shown, numbered; ``only``: just that release's row (one score, not the whole list's)."""
        out = []
        for i, w in enumerate(self.store.watches(user), 1):
            if only is not None and w.release_id != only:
                continue
            title, score = self._title_and_score(user, w.release_id)
            out.append(WatchRow(i, w.release_id, title, w.source, w.max_price, w.currency, w.lowest_price,
                                w.num_for_sale, score, w.checked_at, w.gone, w.blocked))
        return out

    def _title_and_score(self, user: str, release_id: int) -> tuple[str, float | None]:
        release = self.rec.resolve_local(release_id)
        if release is None:
            return f"release {release_id}", None
        title = f"{', '.join(release.artists[:2])} – {release.title}" if release.artists else release.title
        if not self.rec.owned(user):
            return title, None
        try:
            return title, float(self.rec.score(user, release, record=False).probability)
        except Exception as exc:   # a list never fails for one record's score
            log.info("no score for %s: %s", release_id, type(exc).__name__)
            return title, None

    def currency(self, user: str) -> str:
        link = self.store.linked_account(user)
        return str(getattr(link, "currency", None) or "EUR").upper()

    # -- a pass ------------------------------------------------------------------------------------------------
    def set_quiet_hours(self, user: str, text: str) -> tuple[int, int] | None:
        """The collector's own quiet hours ("22-8", UTC; "off": none), over the operator's default."""
        hours = None if text.strip().lower() in ("off", "none", "") else parse_quiet_hours(text)
        settings = dict(self.store.get_settings(user))
        settings[QUIET_SETTING] = "off" if hours is None else f"{hours[0]}-{hours[1]}"
        self.store.set_settings(user, settings)
        return hours

    def quiet_hours_of(self, user: str) -> tuple[int, int] | None:
        own = self.store.get_settings(user).get(QUIET_SETTING)
        if own is None:
            return self.quiet_hours
        try:
            return None if own == "off" else parse_quiet_hours(str(own))
        except ValueError:
            return self.quiet_hours

    def quiet(self, now: datetime, user: str | None = None) -> bool:
        hours = self.quiet_hours_of(user) if user is not None else self.quiet_hours
        if hours is None:
            return False
        start, end = hours
        h = now.hour
        return (start <= h < end) if start <= end else (h >= start or h < end)

    def poll(self, user: str, now: datetime) -> list[AlertOut]:
        """The alerts of :meth:`run_pass`."""
        return self.run_pass(user, now)[0]

    def run_pass(self, user: str, now: datetime) -> tuple[list[AlertOut], PollReport | None]:
        """One pass over the user's watch list now; the alerts to send (no pass in quiet hours; at most
        ``daily_cap`` alerts a day, the rest are left to the digest). Each alert sent is recorded, so the same
        price never alerts again."""
        gw = self.rec.gateway_for(user)
        if gw is None:
            raise WatchRefused("Live Discogs look-ups are off here (discogs.live: false), so I can't check prices.")
        if self.quiet(now, user):   # no checks either: the first pass after the quiet hours sees what changed in them
            return [], None
        scores: dict[int, float] = {}
        report = poll_user(self.store, gw, user, self.currency(user), now, scores,
                           keep=kept_slots(gw, self.keep_share))
        sent_today = len(self.store.alerts_since(user, now - timedelta(days=1)))
        out: list[AlertOut] = []
        for a in report.alerts:
            if sent_today + len(out) >= self.daily_cap:
                break
            out.append(self._dressed(user, a))
            self.store.record_alert(user, a.watch_id, a.price, a.currency, a.reason, now)
        return out, report

    def poll_quietly(self, user: str, now: datetime) -> list[AlertOut]:
        """:meth:`poll` for the scheduler: a user it cannot poll (no live Discogs, Discogs down) gets no alerts
        this time and a log line, never an error."""
        try:
            return self.poll(user, now)
        except (WatchRefused, DiscogsError) as exc:
            log.info("no watch poll for %s: %s", user, exc)
            return []

    def _dressed(self, user: str, a: Alert) -> AlertOut:
        title = f"release {a.release_id}"
        try:
            card = self.rec.score(user, DiscogsRef("release", a.release_id))
        except Exception as exc:   # the alert goes out without a score rather than not at all
            log.info("alert without a score for %s: %s", a.release_id, type(exc).__name__)
            return AlertOut(a, title, None, [], None)
        r = card.release
        title = f"{', '.join(r.artists[:2])} – {r.title}" if r.artists else r.title
        return AlertOut(a, title, float(card.probability), list(card.reasons), card.score_id, verdict_line(card),
                        chance_line(card))
